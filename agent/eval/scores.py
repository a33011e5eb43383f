"""Scores that need no judge: how much of a region changed, and how the whole picture moved.

A region's scores compare two pictures on the pixels of a mask: the share of pixels that changed at
all, PSNR (infinite where nothing changed), SSIM (scikit-image's map, averaged over the region) and
LPIPS (the `lpips` package's spatial map, averaged over the region) when its weights are on this
machine. Only the region's changes count: a window on its border sees the pixels beyond it as they
were. The shift is the translation found by phase correlation (scikit-image) on the pixels that
should have been kept, in pixels of the earlier picture: a positive dx moved the content right, dy down.
A picture that came back at another size is compared resized to the earlier one's, and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
from PIL import Image

LPIPS_BACKBONE = "alexnet-owt-7be5be79.pth"
"""The torchvision AlexNet weights LPIPS (net="alex") stands on, looked for in the torch hub cache."""

PSNR_PEAK = 255.0

MIN_SHIFT_SHARE = 0.05
"""The least share of the picture the kept region must be for the shift to be measured on it alone."""


def as_array(image: Image.Image, size: Optional[tuple[int, int]] = None) -> np.ndarray:
    """Gives back the picture as an RGB uint8 array, resized to `size` (width, height) when given and different."""
    image = image.convert("RGB")
    if size is not None and image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


def changed_share(before: np.ndarray, after: np.ndarray, region: np.ndarray) -> Optional[float]:
    """Gives back the share of the region's pixels where any channel differs (None: an empty region)."""
    if not region.any():
        return None
    differs = np.any(before != after, axis=-1)
    return float(differs[region].mean())


def psnr(before: np.ndarray, after: np.ndarray, region: np.ndarray) -> Optional[float]:
    """Gives back the PSNR in dB over the region's pixels (inf: identical; None: an empty region)."""
    if not region.any():
        return None
    error = before[region].astype(np.float64) - after[region].astype(np.float64)
    mse = float(np.mean(error**2))
    return math.inf if mse == 0 else 10.0 * math.log10(PSNR_PEAK**2 / mse)


def only_in(region: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Gives back `after` inside the region and `before` elsewhere: a window's score then sees only the region's changes."""
    return np.where(region[..., None], after, before)


def ssim(before: np.ndarray, after: np.ndarray, region: np.ndarray) -> Optional[float]:
    """Gives back SSIM averaged over the region (scikit-image's map, 7-pixel windows or the largest that fit)."""
    from skimage.metrics import structural_similarity

    if not region.any():
        return None
    side = min(before.shape[:2])
    if side < 3:
        return None
    window = min(7, side if side % 2 else side - 1)
    _, image = structural_similarity(
        before, only_in(region, before, after), channel_axis=2, data_range=PSNR_PEAK, full=True, win_size=window
    )
    return float(image.mean(axis=-1)[region].mean())


def shift(before: Image.Image, after: Image.Image, region: Optional[np.ndarray] = None) -> dict[str, Any]:
    """Gives back how `after` sits on `before`: its size, and the translation phase correlation finds.

    With a region (the pixels that should have been kept), only they are correlated (masked
    normalised cross-correlation, whole pixels), so that what an edit painted inside its mask does not
    pass for a move; an empty or tiny region falls back to the whole picture (to a tenth of a pixel).
    """
    from skimage.registration import phase_cross_correlation

    reference = as_array(before).mean(axis=-1)
    moving = as_array(after, before.size).mean(axis=-1)
    if region is not None and region.sum() >= MIN_SHIFT_SHARE * region.size:
        found = phase_cross_correlation(reference, moving, reference_mask=region, moving_mask=region)[0]
    else:
        found = phase_cross_correlation(reference, moving, upsample_factor=10, normalization=None)[0]
    dy, dx = (-float(v) for v in found)
    return {
        "size": list(after.size),
        "same_size": after.size == before.size,
        "dx": round(dx, 2) + 0.0,
        "dy": round(dy, 2) + 0.0,
        "pixels": round(math.hypot(dx, dy), 2),
    }


@dataclass
class Perceptual:
    """LPIPS when its weights are here; `note` says why not otherwise."""

    net: Any = None
    note: Optional[str] = None

    @classmethod
    def load(cls) -> "Perceptual":
        """Gives back LPIPS (AlexNet) ready to run, or without it and a note saying what is missing."""
        try:
            import lpips
            import torch
        except ImportError:
            return cls(note="LPIPS skipped: the lpips package is not installed (pip install 'chatedit[eval]').")
        backbone = Path(torch.hub.get_dir()) / "checkpoints" / LPIPS_BACKBONE
        if not backbone.is_file():
            return cls(note=f"LPIPS skipped: its AlexNet weights ({LPIPS_BACKBONE}) are not in {backbone.parent}.")
        return cls(net=lpips.LPIPS(net="alex", spatial=True, verbose=False).eval())

    def __call__(self, before: np.ndarray, after: np.ndarray, region: np.ndarray) -> Optional[float]:
        """Gives back LPIPS averaged over the region (None: no LPIPS here, or an empty region)."""
        if self.net is None or not region.any():
            return None
        import torch

        def tensor(pixels: np.ndarray):
            return torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 127.5 - 1.0

        with torch.no_grad():
            spatial = self.net(tensor(before), tensor(only_in(region, before, after)))[0, 0].numpy()
        return float(spatial[region].mean())


def region_scores(
    before: np.ndarray, after: np.ndarray, region: np.ndarray, perceptual: Optional[Perceptual] = None
) -> dict[str, Any]:
    """Gives back the scores of `after` against `before` on the region's pixels (bool mask of their size)."""
    return {
        "pixels": int(region.sum()),
        "changed": changed_share(before, after, region),
        "psnr": psnr(before, after, region),
        "ssim": ssim(before, after, region),
        "lpips": perceptual(before, after, region) if perceptual is not None else None,
    }
