"""What every `chatedit` command shares: the stderr console, plain stdout lines, exit codes, saving pictures."""

from __future__ import annotations

import contextlib
import io
import sys
import traceback
from pathlib import Path
from typing import Iterator

import typer
from rich.console import Console
from rich.markup import escape

from chatedit.tools.errors import ChatEditError, InputError, ModelUnavailableError

stderr = Console(stderr=True, highlight=False, soft_wrap=True)

OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}

verbose = False
"""Show tracebacks of internal errors (`--verbose`, CHATEDIT_DEBUG=1)."""


def say(text: str) -> None:
    """Writes one line of results to stdout (plain text: no markup, no wrapping)."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


def print_error(exc: Exception) -> None:
    """Says on stderr what went wrong: chatedit's own errors in their sentence, others as internal errors.

    An internal error gets a short message, and its traceback with `--verbose`.
    """
    if isinstance(exc, ChatEditError):
        stderr.print(f"[red]Error:[/] {escape(str(exc))}")
        return
    if verbose:
        stderr.print(escape("".join(traceback.format_exception(exc))))
    stderr.print(
        f"[red]Internal error:[/] {escape(type(exc).__name__)}: {escape(str(exc)[:300])}"
        + ("" if verbose else " (run with --verbose or CHATEDIT_DEBUG=1 for the traceback)")
    )


@contextlib.contextmanager
def exit_codes() -> Iterator[None]:
    """Turns errors into exit codes (`exit_code`), each said in one sentence."""
    try:
        yield
    except KeyboardInterrupt:
        stderr.print("Interrupted.")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    # chatedit's own errors are one sentence; those that are not bad input (an unreachable database)
    # exit 1 as anything unforeseen does.
    except Exception as exc:
        print_error(exc)
        raise typer.Exit(exit_code(exc)) from None


EXIT_BAD_INPUT = 2
EXIT_MODELS_UNAVAILABLE = 3


def exit_code(exc: Exception) -> int:
    """Gives back the exit code of an error: 2 bad input, 3 models that cannot be loaded, 1 anything else."""
    if isinstance(exc, InputError):
        return EXIT_BAD_INPUT
    if isinstance(exc, ModelUnavailableError):
        return EXIT_MODELS_UNAVAILABLE
    return 1


class Command(typer.core.TyperCommand):
    """A command whose on/off flags show no `<bool>` value in its help: a flag takes none."""

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False):
                param.metavar = ""
        return params


def check_output(path: Path) -> None:
    """Raises InputError unless `path` names a file chatedit can write a picture to."""
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise InputError(f"Cannot write {path.name!r}: name the output file .png, .jpg or .webp.")
    if path.is_dir():
        raise InputError(f"{path} is a folder; give the output a file name such as {path / 'out.png'}.")


def save_image(image, path: Path) -> Path:
    """Writes the image atomically in the format its extension names (PNG, JPEG or WebP); gives back the path."""
    from chatedit.tools.images import atomic_write, save_png

    check_output(path)
    fmt = OUTPUT_FORMATS[path.suffix.lower()]
    if fmt == "PNG":
        return save_png(image, path)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, quality=95)
    return atomic_write(path, buffer.getvalue())


def write_masks(report: dict, store, folder: Path) -> dict:
    """Gives back the turn report with its mask ids replaced by PNG copies written into `folder`.

    Each step's region, kept mask and every attempt's mask: step1_region.png, step1_mask.png,
    step1_attempt2_mask.png, ... The report of a turn names masks by store id; this is the one place
    they become files.
    """
    from chatedit.tools.images import atomic_write

    folder.mkdir(parents=True, exist_ok=True)

    def written(mask_id, name: str):
        if not mask_id:
            return None
        target = folder / name
        atomic_write(target, store.png(mask_id))
        return str(target)

    steps = []
    for i, step in enumerate(report.get("steps") or [], 1):
        attempts = [
            {**attempt, "mask": written(attempt.get("mask"), f"step{i}_attempt{k}_mask.png")}
            for k, attempt in enumerate(step.get("attempts") or [], 1)
        ]
        steps.append(
            {
                **step,
                "mask": written(step.get("mask"), f"step{i}_mask.png"),
                "region": written(step.get("region"), f"step{i}_region.png"),
                "attempts": attempts,
            }
        )
    return {**report, "steps": steps}
