"""How much GPU memory each family needs in each quantization, and what `auto` picks for a GPU.

The figures come from tools/memory.toml, which `scripts/weight_memory.py` writes and BENCHMARKS.md
("Weight memory") shows: the bytes each role's weights hold, measured on the full-size random
architectures (or computed from a measured block where the machine's memory does not allow the
build), and the activations of one edit at the working size, computed from the architecture.

`auto` takes the best family, then the least quantization, whose weights and activations fit the
memory the device has free now, and says in one line what it chose and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

import tomllib
import torch

TABLE = Path(__file__).with_name("memory.toml")

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


@lru_cache(maxsize=1)
def table() -> dict:
    """Gives back tools/memory.toml: per family, the weight bytes per role and mode, and the activations."""
    with open(TABLE, "rb") as handle:
        return tomllib.load(handle)


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
    when asked for by name. Checked for a GPU with fp8 kernels (compute capability 9.0).
    """
    figures = figures or table()
    cuda = torch.device("cuda")
    for size in range(1, largest + 1):
        picked = choose(size * 2**30, cuda, capability=(9, 0), figures=figures)
        if (picked.family, picked.quantize) == (family, quantize) and "less than" not in picked.line:
            return size
    return None


def _mode(quantize: str) -> str:
    return "not quantized" if quantize == "none" else quantize
