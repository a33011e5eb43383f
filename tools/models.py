"""Model profiles: one place that loads every model by role, once per process, lazily.

Roles: `detector` (GroundingDINO), `segmenter` (SAM), `inpainter` (SD inpainting), `global_editor`
(InstructPix2Pix). Profiles:

- `default`: the real checkpoints, through `from_pretrained` (Hugging Face cache, `HF_HUB_OFFLINE`).
- `tiny`: tiny random-weight models built from small configs, saved once to a cache folder and loaded
  back through the same `from_pretrained` code (tests and offline smoke runs: pictures are noise).
- `random-full`: the full-size architectures with random weights, built on the target device
  (benchmarks without downloads: compute does not depend on weight values).

The builders and loaders for each role live in `tools/vision_models.py` and
`tools/diffusion_models.py`; this module decides device, dtype, caching and error messages.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, Literal

import torch
from pydantic_settings import BaseSettings, SettingsConfigDict

from chatedit.tools.errors import InputError, ModelUnavailableError

Profile = Literal["default", "tiny", "random-full"]
PROFILES: tuple[str, ...] = ("default", "tiny", "random-full")
ROLES: tuple[str, ...] = ("detector", "segmenter", "inpainter", "global_editor")


class Checkpoints(BaseSettings):
    """Checkpoint ids per role; set CHATEDIT_DETECTOR, CHATEDIT_SEGMENTER, ... to swap one."""

    model_config = SettingsConfigDict(env_prefix="CHATEDIT_", extra="ignore")

    detector: str = "IDEA-Research/grounding-dino-tiny"
    segmenter: str = "facebook/sam-vit-base"
    inpainter: str = "stable-diffusion-v1-5/stable-diffusion-inpainting"
    global_editor: str = "timbrooks/instruct-pix2pix"


def default_cache_dir() -> Path:
    """Gives back the folder where the tiny profile's models are saved (CHATEDIT_CACHE_DIR to move it)."""
    root = os.environ.get("CHATEDIT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "chatedit"
    )
    return Path(root)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Gives back the torch device for `auto` (cuda when present), `cpu` or `cuda[:n]`."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto.")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise InputError(f"Unknown device {device!r}; use auto, cpu or cuda.")
    return torch.device(device)


def unavailable(checkpoint: str, role: str) -> ModelUnavailableError:
    """Gives back the one clear error for a checkpoint that is neither cached nor downloadable."""
    return ModelUnavailableError(
        f"The {role} checkpoint {checkpoint!r} is not in the Hugging Face cache and could not be "
        "downloaded. Either download it (run `chatedit models download` on a machine with network "
        "access, or unset HF_HUB_OFFLINE), or run with `--models tiny` for a smoke run with tiny "
        "random models."
    )


class ModelSet:
    """The models of one profile on one device, each loaded on first use and kept resident.

    Args:
        profile: `default`, `tiny` or `random-full`.
        device: `auto`, `cpu` or `cuda`.
        checkpoints: checkpoint ids per role (default: from the environment).
        cache_dir: where the tiny profile saves its models.
    """

    def __init__(
        self,
        profile: Profile = "default",
        device: str | torch.device = "auto",
        checkpoints: Checkpoints | None = None,
        cache_dir: str | os.PathLike | None = None,
    ):
        if profile not in PROFILES:
            raise InputError(f"Unknown model profile {profile!r}; use one of {', '.join(PROFILES)}.")
        self.profile = profile
        self.device = resolve_device(device)
        # fp16 on GPU halves memory and doubles speed; CPU kernels want fp32.
        self.dtype = torch.float16 if self.device.type == "cuda" else torch.float32
        self.checkpoints = checkpoints or Checkpoints()
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self._models: dict[str, Any] = {}

    def _get(self, role: str, loader: Callable[..., Any]) -> Any:
        model = self._models.get(role)
        if model is not None:
            return model
        with LOAD_LOCK:
            if role not in self._models:
                self._models[role] = loader(
                    profile=self.profile,
                    checkpoint=getattr(self.checkpoints, role),
                    device=self.device,
                    dtype=self.dtype,
                    cache_dir=self.cache_dir,
                )
            return self._models[role]

    @property
    def detector(self):
        """The GroundingDINO bundle (model and processor)."""
        from chatedit.tools.vision_models import load_detector

        return self._get("detector", load_detector)

    @property
    def segmenter(self):
        """The SAM bundle (model and processor)."""
        from chatedit.tools.vision_models import load_segmenter

        return self._get("segmenter", load_segmenter)

    @property
    def inpainter(self):
        """The diffusers inpainting pipeline."""
        from chatedit.tools.diffusion_models import load_inpainter

        return self._get("inpainter", load_inpainter)

    @property
    def global_editor(self):
        """The diffusers InstructPix2Pix pipeline."""
        from chatedit.tools.diffusion_models import load_global_editor

        return self._get("global_editor", load_global_editor)

    def loaded(self) -> list[str]:
        """Gives back the roles loaded so far."""
        return [role for role in ROLES if role in self._models]


LOAD_LOCK = threading.RLock()
"""Serialises every model load in the process: while transformers builds a model it swaps torch's
weight-init functions process-wide, so two loads at once (even of different roles) corrupt each other."""

_SETS: dict[tuple, ModelSet] = {}
_SETS_LOCK = threading.Lock()


def get_models(
    profile: Profile = "default",
    device: str | torch.device = "auto",
    checkpoints: Checkpoints | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> ModelSet:
    """Gives back the process-wide ModelSet for this profile, device and checkpoints."""
    checkpoints = checkpoints or Checkpoints()
    key = (profile, str(resolve_device(device)), tuple(checkpoints.model_dump().items()), str(cache_dir))
    with _SETS_LOCK:
        if key not in _SETS:
            _SETS[key] = ModelSet(profile, device, checkpoints, cache_dir)
        return _SETS[key]
