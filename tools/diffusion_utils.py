"""What the diffusion editing tools share: working sizes, seeds, step callbacks, retrying after GPU OOM."""

from __future__ import annotations

import gc
import random
from typing import Any, Callable, TypeVar

import torch

from chatedit.tools.errors import OutOfMemoryError

StepCallback = Callable[[int, int], None]
"""on_step(step_index, total_steps): called after each denoising step; step_index counts from 0."""

OOM_RETRY_SCALE = 0.75
"""After running out of GPU memory, the edit is tried once more at this fraction of the working size."""

T = TypeVar("T")


def native_resolution(pipe) -> int:
    """Gives back the side, in pixels, the pipeline's UNet was trained at: 512 for SD 1.5, 1024 for SDXL."""
    return pipe.unet.config.sample_size * pipe.vae_scale_factor


def size_multiple(pipe) -> int:
    """Gives back the number the working width and height must be multiples of (8 for Stable Diffusion)."""
    return max(8, pipe.vae_scale_factor)


def working_size(width: int, height: int, longest: int, multiple: int = 8) -> tuple[int, int]:
    """Gives back (width, height) with the aspect ratio of `width` x `height`, the longer side near `longest`.

    Both sides are rounded to multiples of `multiple` (and are at least `multiple`), so the aspect
    ratio is kept to within half a multiple on each side.
    """
    scale = longest / max(width, height)

    def snap(side: int) -> int:
        return max(multiple, round(side * scale / multiple) * multiple)

    return snap(width), snap(height)


def pick_seed(seed: int | None) -> int:
    """Gives back `seed`, or a fresh random one when it is None (recorded, so any result can be reproduced)."""
    return random.randrange(2**32) if seed is None else int(seed)


def denoiser(pipe) -> Any:
    """Gives back the pipeline's denoising network: the UNet of Stable Diffusion, the transformer of the 2026 editors.

    A diffusers model (`ModelMixin`, a torch module with diffusers' own attributes such as `attn_processors`).
    """
    return getattr(pipe, "unet", None) or pipe.transformer


def generator(pipe, seed: int) -> torch.Generator:
    """Gives back a torch generator on the device of the pipeline's denoiser, seeded with `seed`."""
    # `pipe.device` walks every module of every component on each call; one parameter says the same.
    return torch.Generator(device=next(denoiser(pipe).parameters()).device).manual_seed(seed)


def step_callback(on_step: StepCallback | None):
    """Gives back a diffusers `callback_on_step_end` that reports each step to `on_step`, or None."""
    if on_step is None:
        return None

    def callback(pipe, step_index: int, timestep, callback_kwargs: dict) -> dict:
        # num_timesteps is the number of steps actually run (fewer than asked when strength < 1).
        on_step(step_index, pipe.num_timesteps)
        return callback_kwargs

    return callback


def retry_smaller_on_oom(run: Callable[[float], T], info: dict) -> T:
    """Gives back `run(1.0)`, or `run(OOM_RETRY_SCALE)` when the first try runs out of device memory.

    `run` takes the fraction of the full working size to work at. A retry is recorded in
    `info["oom_retry"]` (`"smaller size"`, else False); a second out-of-memory error becomes an
    OutOfMemoryError, which the session completes with the settings that would fit.
    """
    info["oom_retry"] = False
    try:
        return run(1.0)
    except Exception as exc:
        if not out_of_memory(exc):
            raise
        # Leave the except block first: the traceback holds the failed step's tensors.
    free_device_memory()
    info["oom_retry"] = "smaller size"
    try:
        return run(OOM_RETRY_SCALE)
    except Exception as exc:
        if not out_of_memory(exc):
            raise
        raise OutOfMemoryError("The GPU ran out of memory even at a reduced size.") from exc


def out_of_memory(exc: BaseException) -> bool:
    """Gives back whether `exc` says the device ran out of memory (CUDA's error, or MPS's RuntimeError)."""
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower() and "mps" in str(exc).lower()
    )


def free_device_memory() -> None:
    """Gives the caching allocators' free blocks back after an out-of-memory error."""
    gc.collect()
    torch.cuda.empty_cache()  # a no-op where CUDA never started
    if torch.backends.mps.is_available():
        torch.mps.empty_cache()
