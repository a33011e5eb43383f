"""`chatedit models list|download`: the checkpoints in the Hugging Face cache, and fetching them ahead of time."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from chatedit.agent.cli import support
from chatedit.agent.cli.common import Finder, Models
from chatedit.agent.cli.support import exit_codes, say, stderr
from chatedit.tools.errors import ModelUnavailableError


def register(app: typer.Typer) -> None:
    models_app = typer.Typer(
        help="See which model checkpoints are cached, and download them ahead of time.", no_args_is_help=True
    )
    models_app.command("list", cls=support.Command)(models_list)
    models_app.command("download", cls=support.Command)(models_download)
    app.add_typer(models_app, name="models")


DIFFUSERS_ROLES = ("inpainter", "global_editor")


def _files_to_fetch(files: list[str], role: str, fp16: bool) -> list[str]:
    """Gives back the files of a checkpoint repo that chatedit loads: configs, tokenizers, safetensors weights.

    Skipped: .bin / .h5 / .ckpt copies of the same weights, diffusers' root single-file checkpoints,
    the never-loaded safety checker, and the precision the loader will not pick.
    """
    wanted = [f for f in files if f.endswith((".json", ".txt", ".jinja", ".safetensors"))]
    if role not in DIFFUSERS_ROLES:
        return wanted
    wanted = [
        f
        for f in wanted
        if (f == "model_index.json" or "/" in f)
        and not f.startswith(("safety_checker/", "feature_extractor/"))
        and "non_ema" not in f
    ]
    has_fp16 = any(f.endswith(".fp16.safetensors") for f in wanted)
    # The loader takes *.fp16.safetensors on the GPU when the repo has them, the full files otherwise.
    half = fp16 and has_fp16
    return [f for f in wanted if not f.endswith(".safetensors") or f.endswith(".fp16.safetensors") == half]


def _family(models: Models) -> str:
    """Gives back the family whose checkpoints `models list|download` handle: auto resolves as a run would here."""
    from chatedit.tools.models import resolve_device, resolve_family

    return resolve_family(models.value, None, resolve_device("auto"))[0]


def _finder(finder: Finder) -> str:
    """Gives back the finder whose checkpoints `models list|download` handle: auto resolves as a run would here."""
    from chatedit.tools.checkpoints import Checkpoints
    from chatedit.tools.models import resolve_finder

    return resolve_finder(finder.value, "real", Checkpoints())


def _no_download_needed(models: Models) -> bool:
    if models not in (Models.tiny, Models.random_full):
        return False
    say(f"--models {models.value} builds its models in code: nothing to download.")
    return True


def models_list(
    models: Annotated[
        Models, typer.Option("--models", help="Model family to check (auto: the one a run here picks).")
    ] = Models.auto,
    finder: Annotated[
        Finder, typer.Option("--finder", help="Finder to check (auto: the one a run here picks).")
    ] = Finder.auto,
) -> None:
    """Show which checkpoints of the model family are in the Hugging Face cache, and their size.

    SAM 3 is listed too when the finder is not sam3: `--finder sam3` runs it, once its gated checkpoint
    is downloaded.
    """
    with exit_codes():
        if _no_download_needed(models):
            return
        from huggingface_hub import scan_cache_dir
        from huggingface_hub.errors import CacheNotFound

        from chatedit.tools.checkpoints import Checkpoints
        from chatedit.tools.models import family_checkpoints

        try:
            cached = {repo.repo_id: repo for repo in scan_cache_dir().repos}
        except CacheNotFound:
            cached = {}
        chosen = _finder(finder)
        wanted = family_checkpoints(_family(models), finder=chosen)
        optional = {} if chosen == "sam3" else {Checkpoints().sam3: ["--finder sam3"]}
        table = Table("role", "checkpoint", "cached", "size", box=None)
        for checkpoint, roles in {**wanted, **optional}.items():
            repo = cached.get(checkpoint)
            table.add_row(
                ", ".join(roles),
                checkpoint,
                "[green]yes[/]" if repo else "[red]no[/]",
                repo.size_on_disk_str if repo else "-",
            )
        Console(highlight=False).print(table)
        if any(checkpoint not in cached for checkpoint in wanted):
            say(f"Fetch the missing ones with: chatedit models download --models {models.value} --finder {chosen}")
        Console(highlight=False).print(_memory_table(None if models == Models.auto else _family(models)))


def _memory_table(family: Optional[str]) -> Table:
    """Gives back each family's GPU memory per quantization, and the smallest GPU on which `auto` picks it."""
    from chatedit.tools import memory
    from chatedit.tools.models import FAMILIES

    table = Table(
        "family", "quantize", "weights", "with a 1 MP edit", "auto picks it from", box=None, title="GPU memory"
    )
    for name in [family] if family else FAMILIES:
        for quantize, size in memory.table()["totals"][name].items():
            smallest = memory.smallest_gpu(name, quantize)
            table.add_row(
                name,
                quantize,
                f"{size / 2**30:.1f} GiB",
                f"{memory.needed_bytes(name, quantize) / 2**30:.1f} GiB",
                f"{smallest} GiB free" if smallest else "only when asked for",
            )
    return table


def _check_hub_reachable() -> None:
    """Raises ModelUnavailableError at once when downloads are switched off or the hub does not answer."""
    from chatedit.tools.models import hub_offline, hub_unreachable

    why = hub_unreachable()
    if why is not None:
        fix = (
            "Unset it on a machine with network access and run `chatedit models download` again."
            if hub_offline()
            else "Check the network and any proxy (HTTPS_PROXY), or copy a Hugging Face cache that holds the "
            "checkpoints onto this machine."
        )
        raise ModelUnavailableError(f"Nothing can be downloaded: {why}. {fix}")


def models_download(
    models: Annotated[
        Models, typer.Option("--models", help="Model family to download (auto: the one a run here picks).")
    ] = Models.auto,
    fp16: Annotated[
        Optional[bool],
        typer.Option(
            "--fp16/--fp32",
            help="Diffusion weights in half precision (GPU) or full [default: fp16 when CUDA is present].",
        ),
    ] = None,
    finder: Annotated[
        Finder,
        typer.Option(
            "--finder",
            help="Finder to download (auto: the one a run here picks; sam3 needs access to the gated facebook/sam3).",
        ),
    ] = Finder.auto,
) -> None:
    """Download the model family's checkpoints into the Hugging Face cache (once, on a machine with network).

    Afterwards chatedit runs offline: set HF_HUB_OFFLINE=1.
    """
    with exit_codes():
        if _no_download_needed(models):
            return
        from huggingface_hub import HfApi, snapshot_download

        from chatedit.tools.models import access_denied, family_checkpoints, gated

        if fp16 is None:
            import torch

            fp16 = torch.cuda.is_available()
        _check_hub_reachable()
        for repo, roles in family_checkpoints(_family(models), finder=_finder(finder)).items():
            role = roles[0]
            stderr.print(f"Downloading {role}: {repo} ...")
            try:
                files = _files_to_fetch(HfApi().list_repo_files(repo), role, fp16)
                folder = snapshot_download(repo, allow_patterns=files)
            except Exception as exc:
                if access_denied(exc):
                    raise gated(repo, role) from None
                raise ModelUnavailableError(
                    f"Could not download {repo}: {type(exc).__name__}: {str(exc)[:200]}. Check the network "
                    "(and HF_TOKEN for gated checkpoints)."
                ) from None
            say(f"{role}: {repo} -> {folder}")
