"""How much GPU memory each family needs in each quantization, and what `auto` picks for a GPU.

The figures come from tools/memory.toml, which `scripts/weight_memory.py` writes and BENCHMARKS.md
("Weight memory") shows: the bytes each role's weights hold, measured on the full-size random
architectures (or computed from a measured block where the machine's memory does not allow the
build), and the activations of one edit at the working size, computed from the architecture.

`auto` takes the best family, then the least quantization, whose weights and activations fit the
memory the device has free now, and says in one line what it chose and why.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import torch

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

MEMORY_FILE = Path(__file__).with_name("memory.toml")
DEFAULT_FINDER = "dino-sam"
FINDERS_KEY = "finders"
"""The weight table's entry that holds the finders, beside the families."""

PREFERENCE: tuple[tuple[str, str], ...] = (
    ("max", "none"),
    ("max", "fp8"),
    ("max", "int8"),
    ("max", "nf4"),
    ("modern", "none"),
    ("modern", "fp8"),
    ("modern", "int8"),
    ("modern", "nf4"),
    ("classic", "none"),
)
"""What `auto` tries, best first: the family decides quality most, quantization less (fp8 keeps more than int8)."""


@dataclass(frozen=True)
class Choice:
    """What `auto` chose: the family and quantization, and the line that says why."""

    family: str
    quantize: str
    line: str


def weight_table(path: Path = MEMORY_FILE) -> dict[str, Any]:
    """Gives back tools/memory.toml: `{family or "finders": {role: {"module", mode: {"bytes", "parameters", "source"}}}}`.

    A role listed under `none` alone is never quantized (the VAEs and the finders); `source` says whether
    a row was `measured` on a full-size build or `computed` (the role's `how` says from what).
    """
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def role_bytes(role: dict[str, Any], mode: str) -> int:
    """Gives back the bytes one role's weights hold under `mode`; a role never quantized holds its `none` bytes."""
    return role.get(mode, role["none"])["bytes"]


def family_bytes(table: dict[str, Any], family: str, mode: str, finder: str = DEFAULT_FINDER) -> int:
    """Gives back the bytes every module of `family` holds under `mode`: editors, text encoders, VAEs and `finder`."""
    roles = [*table[family].values(), table[FINDERS_KEY][finder]]
    return sum(role_bytes(role, mode) for role in roles)


@dataclass(frozen=True)
class Working:
    """What sets the activations of one edit: the denoiser's token stream and the VAE's largest feature map."""

    tokens: int
    """Tokens the denoiser attends over: image latents, the reference picture's, and the prompt's."""
    hidden: int
    """The denoiser's width."""
    side: int
    """The working picture's side, in pixels (about 1 MP for modern and max, 768 px for classic)."""
    vae_channels: int
    """Channels of the VAE decoder's last, full-resolution feature maps."""


WORKING = {
    # FLUX.2 klein: 64x64 patches of a 1 MP picture, as many of the reference, 512 prompt tokens; width 3072.
    "modern": Working(tokens=64 * 64 * 2 + 512, hidden=3072, side=1024, vae_channels=128),
    # Qwen-Image-Edit: the same patches (2x2 of a /8 latent) and reference, a prompt of about 300 tokens.
    "max": Working(tokens=64 * 64 * 2 + 300, hidden=3072, side=1024, vae_channels=128),
    # SD 1.5 / InstructPix2Pix at 768 px: the UNet's first level, 96x96 positions of width 320.
    "classic": Working(tokens=96 * 96, hidden=320, side=768, vae_channels=128),
}
LIVE_STREAM_TENSORS = 12
"""Token-stream tensors alive at once in one block (input, norm, q, k, v, attention out, a 3x-wide MLP, residual)."""
LIVE_VAE_MAPS = 4
"""Full-resolution feature maps alive at once in the VAE decoder's last block (input, norm, conv, residual)."""
CUDA_CONTEXT = 2**29
"""The CUDA context and the allocator's reserve a process holds besides tensors: about 0.5 GiB."""


def activation_bytes(family: str, working: Optional[Working] = None) -> int:
    """Gives back the activations of one edit at the working size, computed from the architecture (2-byte dtype).

    The denoiser's live token-stream tensors plus the VAE decoder's live full-resolution maps (the
    peak of a decode), and the CUDA context. Inference keeps no activations across blocks, so depth
    does not count; SDPA never builds the attention matrix.
    """
    w = working or WORKING[family]
    stream = w.tokens * w.hidden * 2 * LIVE_STREAM_TENSORS
    decode = w.side * w.side * w.vae_channels * 2 * LIVE_VAE_MAPS
    return stream + decode + CUDA_CONTEXT


@lru_cache(maxsize=1)
def table() -> dict:
    """Gives back, per family, the weight bytes per quantization (finder included) and the activations of an edit.

    The weights come from tools/memory.toml (`weight_table`), the activations from `activation_bytes`.
    """
    weights = weight_table()
    families = [name for name in weights if name != FINDERS_KEY]
    modes = ("none", "int8", "fp8", "nf4")
    totals = {family: {mode: family_bytes(weights, family, mode) for mode in modes} for family in families}
    return {"totals": totals, "activations": {family: activation_bytes(family) for family in families}}


def weight_bytes(family: str, quantize: str, figures: Optional[dict] = None) -> int:
    """Gives back the bytes the family's weights hold on the device under `quantize`, its finder (dino-sam) included."""
    figures = figures or table()
    return int(figures["totals"][family][quantize])


def needed_bytes(family: str, quantize: str, figures: Optional[dict] = None) -> int:
    """Gives back the memory one edit needs: the weights, plus the activations at the working size."""
    figures = figures or table()
    return weight_bytes(family, quantize, figures) + int(figures["activations"][family])


def supported(quantize: str, device: torch.device, capability: Optional[tuple[int, int]] = None) -> bool:
    """Gives back whether `quantize` runs on `device` (fp8 needs compute capability 8.9; nf4 needs CUDA)."""
    if quantize == "nf4":
        return device.type == "cuda"
    if quantize == "fp8":
        if device.type == "mps":
            return False
        if device.type == "cuda":
            return (capability or torch.cuda.get_device_capability(device)) >= (8, 9)
    return True


def choose(
    free: int,
    device: torch.device,
    *,
    family: Optional[str] = None,
    capability: Optional[tuple[int, int]] = None,
    figures: Optional[dict] = None,
) -> Choice:
    """Gives back the best family (or, given `family`, the least quantization) that fits `free` bytes.

    Args:
        free: bytes free on the device now.
        device: the device (its kind decides which quantizations run).
        family: a family already chosen: only its quantization is picked.
        capability: the CUDA compute capability (None: the device's own).
        figures: the memory table (None: tools/memory.toml).
    """
    figures = figures or table()
    options = [(f, q) for f, q in PREFERENCE if family in (None, f) and supported(q, device, capability)]
    gib = free / 2**30
    for name, quantize in options:
        if needed_bytes(name, quantize, figures) <= free:
            need = needed_bytes(name, quantize, figures) / 2**30
            return Choice(name, quantize, f"{name}, {_mode(quantize)}: {gib:.1f} GiB free, {need:.1f} GiB needed")
    # Nothing fits: the smallest option, said as such (offloading or a smaller working size may still do).
    name, quantize = min(options, key=lambda option: needed_bytes(option[0], option[1], figures))
    need = needed_bytes(name, quantize, figures) / 2**30
    return Choice(name, quantize, f"{name}, {_mode(quantize)}: {gib:.1f} GiB free, less than the {need:.1f} GiB needed")


def free_bytes(device: torch.device) -> int:
    """Gives back the bytes free on a CUDA device now (what other programs hold is not free)."""
    free, _ = torch.cuda.mem_get_info(device)
    return int(free)


def smallest_gpu(family: str, quantize: str, figures: Optional[dict] = None, largest: int = 200) -> Optional[int]:
    """Gives back the smallest GPU, in whole GiB free, on which `auto` picks `family` with `quantize`.

    None when no GPU up to `largest` GiB gets it from `auto` (a preferred option fits first): it runs
    when asked for by name. int8 is checked on a GPU without fp8 kernels (compute capability 8.6, where
    `auto` takes it), the rest on one with them (9.0).
    """
    figures = figures or table()
    cuda = torch.device("cuda")
    capability = (8, 6) if quantize == "int8" else (9, 0)
    for size in range(1, largest + 1):
        picked = choose(size * 2**30, cuda, capability=capability, figures=figures)
        if (picked.family, picked.quantize) == (family, quantize) and "less than" not in picked.line:
            return size
    return None


def _mode(quantize: str) -> str:
    return "not quantized" if quantize == "none" else quantize
