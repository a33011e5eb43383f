"""Model families and weights: one place that loads every model by role, once per process, lazily.

Roles: `detector` and `segmenter` (the finder), `inpainter` (the region editor), `global_editor` (the
instruction editor). Families pick the two editors:

- `classic`: SD 1.5 inpainting and InstructPix2Pix (fp16 on a GPU).
- `modern`: FLUX.2 klein 4B, one set of weights in both roles (Flux2KleinPipeline with the picture as
  reference; Flux2KleinInpaintPipeline made from it), bf16.
- `max`: Qwen-Image-Edit-2511 (QwenImageEditPlusPipeline; QwenImageEditInpaintPipeline made from it), bf16.
- `auto` (also spelled `default`): on a CUDA GPU, the best family and quantization that fit the memory
  free on it now (tools/memory.py; figures in BENCHMARKS.md "Weight memory"); `classic` otherwise.

Weights are a second, separate choice:

- `real`: the checkpoints, through `from_pretrained` (Hugging Face cache, `HF_HUB_OFFLINE`).
- `tiny`: tiny random-weight models built from small configs, saved once to a cache folder and loaded
  back through the same `from_pretrained` code (tests and offline smoke runs: pictures are noise).
- `random`: the full-size architectures with random weights, built on the target device (benchmarks
  without downloads: compute does not depend on weight values).

The finder, which plays detector and segmenter in every family, is a third choice:

- `dino-sam`: GroundingDINO-tiny boxes for phrases, then SAM ViT-B masks of boxes and clicks.
- `sam3`: SAM 3 (facebook/sam3, gated under the SAM License): every instance of a phrase with its mask
  in one model, and its tracker for boxes and clicks (tools/sam3_models.py says why the tracker).
- `auto`: `sam3` when its checkpoint is in the local Hugging Face cache (real weights), else `dino-sam`.

`tiny` and `random-full` are still accepted as model choices: they mean `classic` with those weights.
The builders and loaders for each role live in `tools/vision_models.py`, `tools/sam3_models.py`,
`tools/diffusion_models.py` and `tools/editor_models.py`; this module decides family, finder, device,
dtype, caching and error messages.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable

import torch

from chatedit.tools.checkpoints import Checkpoints
from chatedit.tools.errors import InputError, ModelUnavailableError

FAMILIES: tuple[str, ...] = ("classic", "modern", "max")
MODEL_CHOICES: tuple[str, ...] = ("auto", *FAMILIES, "default", "tiny", "random-full")
WEIGHTS: tuple[str, ...] = ("real", "tiny", "random")
ROLES: tuple[str, ...] = ("detector", "segmenter", "inpainter", "global_editor")
FINDERS: tuple[str, ...] = ("dino-sam", "sam3")
FINDER_CHOICES: tuple[str, ...] = ("auto", *FINDERS)

SHORTHANDS = {"default": ("auto", "real"), "tiny": ("classic", "tiny"), "random-full": ("classic", "random")}
"""Model choices that name weights too: `tiny` and `random-full` are the classic family's tiny and random builds."""


OFFLOADS: tuple[str, ...] = ("none", "model", "group")
"""Where the editors' weights wait between uses: on the device (`none`), in CPU memory a whole model at a
time (`model`: diffusers' model CPU offload), or a block at a time (`group`: diffusers' group offloading)."""

EDITOR_AREA = {"real": 1024 * 1024, "random": 1024 * 1024, "tiny": 128 * 128}
"""Working area, in pixels, of the modern and max editors (both are trained at about 1 MP); the tiny
builds work at 128 x 128 so that tests stay fast."""


def resolve_family(models: str, weights: str | None, device: torch.device) -> tuple[str, str]:
    """Gives back (family, weights) for a model choice (`auto`, a family, a shorthand, or `family:weights`) and weights.

    The `family:weights` spelling (`modern:tiny`) carries both choices through one setting, such as
    CHATEDIT_MODELS or an Editor's `models` argument.
    """
    if ":" in models:
        models, spelled = models.split(":", 1)
        if weights not in (None, spelled):
            raise InputError(
                f"The model choice names {spelled} weights but {weights} weights were asked for; pick one."
            )
        weights = spelled
    if models not in MODEL_CHOICES:
        raise InputError(f"Unknown model choice {models!r}; use one of {', '.join(MODEL_CHOICES)}.")
    if weights is not None and weights not in WEIGHTS:
        raise InputError(f"Unknown weights {weights!r}; use one of {', '.join(WEIGHTS)}.")
    family, implied = SHORTHANDS.get(models, (models, None))
    if implied and implied != "real":
        if weights not in (None, implied):
            raise InputError(
                f"--models {models} already means {implied} weights; use --models classic --weights {weights} instead."
            )
        weights = implied
    if family == "auto":
        family = auto_choice(device).family if device.type == "cuda" else "classic"
    return family, weights or "real"


def auto_choice(device: torch.device, family: str | None = None):
    """Gives back what `auto` picks on a CUDA device by the memory free on it now (tools/memory.py)."""
    from chatedit.tools import memory

    return memory.choose(memory.free_bytes(device), device, family=family)


def resolve_quantize(quantize: str, family: str, weights: str, device: torch.device) -> tuple[str, str | None]:
    """Gives back the quantization that runs and, for `auto` on a GPU, the line that says why.

    `auto` quantizes only real or random full-size weights on a CUDA GPU, as little as fits its free
    memory; tiny weights, the CPU and MPS run unquantized.

    Raises:
        InputError: an unknown mode, or one the device cannot run (says what would).
    """
    from chatedit.tools.quantize import check_quantize

    if quantize != "auto":
        check_quantize(quantize, device)
        return quantize, None
    if device.type != "cuda" or weights == "tiny":
        return "none", None
    choice = auto_choice(device, family)
    return choice.quantize, choice.line


def resolve_finder(finder: str, weights: str, checkpoints: Checkpoints) -> str:
    """Gives back the finder that runs for a finder choice: `auto` is `sam3` when its real checkpoint is cached.

    Built weights (tiny, random) never come from the cache, so with them `auto` is `dino-sam`.
    """
    if finder not in FINDER_CHOICES:
        raise InputError(f"Unknown finder {finder!r}; use one of {', '.join(FINDER_CHOICES)}.")
    if finder != "auto":
        return finder
    return "sam3" if weights == "real" and cached(checkpoints.sam3) else "dino-sam"


def cached(checkpoint: str) -> bool:
    """Gives back whether a snapshot of `checkpoint` is in the local Hugging Face cache (asks no server)."""
    from huggingface_hub import snapshot_download

    try:
        snapshot_download(checkpoint, local_files_only=True)
    except Exception:  # not cached, or a cache that cannot be read: either way it cannot be loaded offline
        return False
    return True


def family_checkpoints(
    family: str, checkpoints: Checkpoints | None = None, finder: str = "dino-sam"
) -> dict[str, list[str]]:
    """Gives back each checkpoint id of `family` (auto: every family's) and `finder`, with its roles, in role order."""
    checkpoints = checkpoints or Checkpoints()
    families = FAMILIES if family == "auto" else (family,)
    found: dict[str, list[str]] = {}
    for name in families:
        for role in ROLES:
            roles = found.setdefault(checkpoints.for_role(name, role, finder), [])
            if role not in roles:
                roles.append(role)
    return found


def default_cache_dir() -> Path:
    """Gives back the folder where the tiny weights' models are saved (CHATEDIT_CACHE_DIR to move it)."""
    root = os.environ.get("CHATEDIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "chatedit"
    )
    return Path(root)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Gives back the torch device for `auto` (cuda when present, else Apple's mps, else cpu), `cpu`, `mps` or `cuda[:n]`."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if torch.backends.mps.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto.")
    if device == "mps" and not torch.backends.mps.is_available():
        raise InputError("--device mps was asked for but Apple's MPS is not available here; use --device cpu or auto.")
    if device not in ("cpu", "mps") and not device.startswith("cuda"):
        raise InputError(f"Unknown device {device!r}; use auto, cpu, cuda or mps.")
    return torch.device(device)


def hub_offline() -> bool:
    """Gives back whether HF_HUB_OFFLINE forbids downloads (set to anything but empty, 0, false or no)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("", "0", "false", "no", "off")


def hub_unreachable(timeout: float = 10.0) -> str | None:
    """Gives back why no checkpoint can be downloaded now (HF_HUB_OFFLINE, or the hub does not answer), or None.

    One request with no retries: the hub client's own retries take half a minute to say the same.
    """
    if hub_offline():
        return "HF_HUB_OFFLINE is set"
    from huggingface_hub import constants, get_session

    try:
        get_session().head(constants.ENDPOINT, timeout=timeout)
    except Exception as exc:
        return f"{constants.ENDPOINT} does not answer ({type(exc).__name__}: {str(exc)[:120]})"
    return None


def unavailable(checkpoint: str, role: str) -> ModelUnavailableError:
    """Gives back the one clear error for a checkpoint that is neither cached nor downloadable."""
    if hub_offline():
        fetch = "unset HF_HUB_OFFLINE and run `chatedit models download` on a machine with network access"
    else:
        fetch = "run `chatedit models download` on a machine with network access, or copy its Hugging Face cache here"
    return ModelUnavailableError(
        f"The {role} checkpoint {checkpoint!r} is not in the Hugging Face cache and could not be "
        f"downloaded. Either {fetch}, or run with `--models tiny` for a smoke run with tiny "
        "random models."
    )


GATED_TERMS = {"facebook/sam3": "the SAM License"}
"""What the page of a gated checkpoint asks to accept, named in its error; others are "its license terms"."""


def gated(checkpoint: str, role: str) -> ModelUnavailableError:
    """Gives back the one clear error for a checkpoint this machine's Hugging Face login may not download."""
    terms = GATED_TERMS.get(checkpoint, "its license terms")
    return ModelUnavailableError(
        f"The {role} checkpoint {checkpoint!r} is gated, and this machine's Hugging Face login has no access "
        f"to it. Accept {terms} on https://huggingface.co/{checkpoint} while signed in to huggingface.co, then "
        "log in here with `hf auth login` (or set HF_TOKEN to an access token of that account) and run again."
    )


def access_denied(exc: BaseException) -> bool:
    """Gives back whether a hub error, or an error it caused, says the login may not read the repository.

    That is a gated repository (GatedRepoError) or an answer 401 or 403; transformers wraps the hub's
    error in an OSError, so the chain of causes is searched.
    """
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, GatedRepoError):
            return True
        # A repository that does not exist answers 401 too; that one is not a question of access.
        if isinstance(seen, HfHubHTTPError) and not isinstance(seen, RepositoryNotFoundError):
            if seen.response is not None and seen.response.status_code in (401, 403):
                return True
        seen = seen.__cause__ or seen.__context__
    return False


SAM3_FALLBACK = (
    "Or find objects without SAM 3: --finder dino-sam (CHATEDIT_FINDER=dino-sam) uses GroundingDINO and SAM."
)
"""Said after any reason SAM 3 cannot be loaded: the finder that needs no access."""


class ModelSet:
    """The models of one family and weights on one device, each loaded on first use and kept resident.

    Args:
        models: the model choice: `auto` (`default`), `classic`, `modern`, `max`, or the shorthands
            `tiny` and `random-full` (classic with those weights).
        device: `auto`, `cpu` or `cuda`.
        checkpoints: checkpoint ids per role (default: from the environment).
        cache_dir: where the tiny weights are saved.
        weights: `real`, `tiny` or `random`; None: what `models` implies, else `real`.
        finder: `auto`, `dino-sam` or `sam3`: what plays detector and segmenter.
        quantize: `auto`, `none`, `int8`, `fp8` or `nf4`: the editors' diffusion model and text encoder.
        offload: `none`, `model` or `group`: where the editors' weights wait between uses.
    """

    def __init__(
        self,
        models: str = "default",
        device: str | torch.device = "auto",
        checkpoints: Checkpoints | None = None,
        cache_dir: str | os.PathLike | None = None,
        weights: str | None = None,
        finder: str = "auto",
        quantize: str = "auto",
        offload: str = "none",
    ):
        self.device = resolve_device(device)
        self.family, self.weights = resolve_family(models, weights, self.device)
        self.quantize, self.choice = resolve_quantize(quantize, self.family, self.weights, self.device)
        """The quantization that runs, and `choice`: the line saying why when `auto` picked it by free memory."""
        if offload not in OFFLOADS:
            raise InputError(f"Unknown offload {offload!r}; use one of {', '.join(OFFLOADS)}.")
        self.offload = offload
        # fp16 on GPU halves memory and doubles speed (the modern and max loaders make it bf16);
        # CPU kernels want fp32.
        self.dtype = torch.float16 if self.device.type in ("cuda", "mps") else torch.float32
        self.checkpoints = checkpoints or Checkpoints()
        self.finder = resolve_finder(finder, self.weights, self.checkpoints)
        """What plays detector and segmenter: `dino-sam` or `sam3` (`auto` resolved)."""
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self._models: dict[str, Any] = {}

    def _editor(self, loader: Callable[..., Any]) -> Callable[..., Any]:
        """Gives back an editor loader that also gets the quantization and the offloading."""
        return lambda **kwargs: loader(**kwargs, quantize=self.quantize, offload=self.offload)

    def _get(self, role: str, loader: Callable[..., Any]) -> Any:
        model = self._models.get(role)
        if model is not None:
            return model
        with LOAD_LOCK:
            if role not in self._models:
                try:
                    self._models[role] = loader(
                        weights=self.weights,
                        checkpoint=self.checkpoints.for_role(self.family, role, self.finder),
                        device=self.device,
                        dtype=self.dtype,
                        cache_dir=self.cache_dir,
                    )
                except ModelUnavailableError as exc:
                    # SAM 3's bundle loads in the detector role; the segmenter role hands on the same one.
                    if self.finder == "sam3" and role == "detector":
                        raise ModelUnavailableError(f"{exc} {SAM3_FALLBACK}") from exc
                    raise
            return self._models[role]

    @property
    def detector(self):
        """The finder's detector: the GroundingDINO bundle (dino-sam), or the SAM 3 bundle (sam3)."""
        from chatedit.tools.sam3_models import load_sam3
        from chatedit.tools.vision_models import load_detector

        return self._get("detector", {"dino-sam": load_detector, "sam3": load_sam3}[self.finder])

    @property
    def segmenter(self):
        """The finder's segmenter of boxes and clicks: the SAM bundle (dino-sam), or the detector's SAM 3 bundle (sam3)."""
        from chatedit.tools.vision_models import load_segmenter

        if self.finder == "sam3":
            # One SAM 3 bundle holds both the concept model and its tracker: they share the vision backbone.
            return self._get("segmenter", lambda **_: self.detector)
        return self._get("segmenter", load_segmenter)

    @property
    def inpainter(self):
        """The region editor: SD inpainting (classic), or the family's inpainting pipeline on the editor's weights."""
        from chatedit.tools.diffusion_models import load_inpainter
        from chatedit.tools.editor_models import region_editor

        if self.family == "classic":
            return self._get("inpainter", self._editor(load_inpainter))
        return self._get("inpainter", lambda **_: region_editor(self.global_editor))

    @property
    def global_editor(self):
        """The instruction editor: InstructPix2Pix, FLUX.2 klein or Qwen-Image-Edit, by family."""
        from chatedit.tools.diffusion_models import load_global_editor
        from chatedit.tools.editor_models import load_max_editor, load_modern_editor

        loader = {"classic": load_global_editor, "modern": load_modern_editor, "max": load_max_editor}[self.family]
        return self._get("global_editor", self._editor(loader))

    @property
    def editor_area(self) -> int:
        """Gives back the working area, in pixels, of the modern and max editors for these weights."""
        return EDITOR_AREA[self.weights]

    def roles(self) -> dict[str, str]:
        """Gives back the checkpoint id of every role of the family and finder."""
        return {role: self.checkpoints.for_role(self.family, role, self.finder) for role in ROLES}

    def report(self) -> dict[str, Any]:
        """Gives back what runs: family, weights, finder, quantize, offload, device and each role's checkpoint (JSON-ready)."""
        return {
            "family": self.family,
            "weights": self.weights,
            "finder": self.finder,
            "quantize": self.quantize,
            "offload": self.offload,
            "device": self.device.type,
            "roles": self.roles(),
        }

    def memory_advice(self) -> str:
        """Gives back what would fit the device's free memory, for an out-of-memory message."""
        if self.device.type != "cuda":
            return "Close other programs using the GPU, or run on the CPU with --device cpu."
        from chatedit.tools import memory

        free = memory.free_bytes(self.device)
        same = memory.choose(free, self.device, family=self.family)
        best = memory.choose(free, self.device)
        fits = [f"--models {c.family} --quantize {c.quantize} ({c.line})" for c in dict.fromkeys([same, best])]
        offload = "" if self.offload == "group" else f" or --offload {'group' if self.offload == 'model' else 'model'}"
        return f"Settings that fit: {'; '.join(fits)}{offload}; or close other programs using the GPU."

    def loaded(self) -> list[str]:
        """Gives back the roles loaded so far."""
        return [role for role in ROLES if role in self._models]

    def missing(self) -> list[str]:
        """Gives back the family's checkpoints that are not in the local Hugging Face cache (none for built weights)."""
        if self.weights != "real":
            return []
        return [checkpoint for checkpoint in dict.fromkeys(self.roles().values()) if not cached(checkpoint)]

    def availability(self) -> tuple[list[str], str | None]:
        """Gives back the checkpoints missing from the cache, and why the models cannot be loaded (None: they can).

        Missing checkpoints that can be downloaded are no problem: the first edit fetches them.
        """
        missing = self.missing()
        why = hub_unreachable() if missing else None
        if why is None:
            return missing, None
        problem = (
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in the Hugging Face cache and "
            f"cannot be downloaded: {why}. Run `chatedit models download` where the network allows, or "
            "serve with --models tiny for a smoke run."
        )
        return missing, problem


LOAD_LOCK = threading.RLock()
"""Serialises every model load in the process: while transformers builds a model it swaps torch's
weight-init functions process-wide, so two loads at once (even of different roles) corrupt each other."""

_SETS: dict[tuple, ModelSet] = {}
_SETS_LOCK = threading.Lock()


def get_models(
    models: str = "default",
    device: str | torch.device = "auto",
    checkpoints: Checkpoints | None = None,
    cache_dir: str | os.PathLike | None = None,
    weights: str | None = None,
    finder: str = "auto",
    quantize: str = "auto",
    offload: str = "none",
) -> ModelSet:
    """Gives back the process-wide ModelSet for this model choice, weights, device, checkpoints, finder,
    quantization and offloading."""
    checkpoints = checkpoints or Checkpoints()
    resolved = resolve_device(device)
    family, weights = resolve_family(models, weights, resolved)
    finder = resolve_finder(finder, weights, checkpoints)
    quantize, _ = resolve_quantize(quantize, family, weights, resolved)
    key = (
        family,
        weights,
        finder,
        quantize,
        offload,
        str(resolved),
        tuple(checkpoints.model_dump().items()),
        str(cache_dir),
    )
    with _SETS_LOCK:
        if key not in _SETS:
            _SETS[key] = ModelSet(
                family,
                resolved,
                checkpoints,
                cache_dir,
                weights=weights,
                finder=finder,
                quantize=quantize,
                offload=offload,
            )
        return _SETS[key]
