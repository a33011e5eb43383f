"""Carrying a whole-picture edit made at the editor's working size onto the full-size photo.

The editors work at about 1 MP; a 48 MP photo sent through them and scaled back up loses its fine
detail. When the edit kept the picture's structure (tone, colour, light, season: a local change of
colour), the change is carried onto the original with guided upsampling, the fast guided filter of
He and Sun (2015):

- At the working size, in windows of a few pixels, each channel of the edit is fitted as a linear
  function of the same channel of the original scaled down: edit ~ a * original + b.
- `a` and `b` vary slowly, so they are scaled up to the photo's size cheaply and without loss, and the
  answer is a * original + b at full size: the change comes from the edit, every fine detail from the
  original, and detail is never moved across an edge (the fit follows the original's own edges, which
  a plain "edit's low frequencies over the original's high ones" smears as halos).

How well the linear model explains the edit (R^2 over the picture) says whether the structure was
kept. A style edit ("pencil sketch", "oil painting") replaces texture with strokes that no local
linear map of the photo can make; then the edit itself, scaled up, is the answer, and the photo's old
texture is not forced back onto it.

Memory is bounded by the working size and one channel of the photo at a time.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.ndimage import uniform_filter

GUIDE_RADIUS = 4
"""Half-width of the fitting window, in working-size pixels: small enough to follow objects' edges."""

GUIDE_EPS = 1e-3
"""Pulls `a` towards 1 in flat windows (on intensities in [0, 1]), where the fit has too little to go on."""

STRUCTURE_R2 = 0.9
"""An edit whose R^2 under the local linear model reaches this kept the picture's structure."""


def carry_to_full_size(original: Image.Image, edited: Image.Image) -> tuple[Image.Image, dict]:
    """Gives back the edit at the original's size, and what was done (`{"full_resolution": ..., "structure_r2": ...}`).

    Args:
        original: the full-size picture that was edited.
        edited: the editor's answer, at its working size (any size smaller than the original).
    """
    original = original.convert("RGB")
    edited = edited.convert("RGB")
    if edited.size == original.size:
        return edited, {"full_resolution": "native", "structure_r2": 1.0}
    guide = np.asarray(original.resize(edited.size, Image.Resampling.BOX), np.float32) / 255.0
    target = np.asarray(edited, np.float32) / 255.0
    coefficients = [_fit(guide[..., c], target[..., c]) for c in range(3)]
    r2 = _explained(guide, target, coefficients)
    if r2 < STRUCTURE_R2:
        return edited.resize(original.size, Image.Resampling.LANCZOS), {
            "full_resolution": "upscaled",
            "structure_r2": r2,
        }
    channels = [_apply(original.getchannel(c), a, b) for c, (a, b) in enumerate(coefficients)]
    return Image.merge("RGB", channels), {"full_resolution": "guided", "structure_r2": r2}


def _fit(guide: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gives back the guided filter's window-averaged (a, b) with target ~ a * guide + b (He et al., ridge to a = 1)."""
    size = 2 * GUIDE_RADIUS + 1
    mean_g = uniform_filter(guide, size, mode="reflect")
    mean_t = uniform_filter(target, size, mode="reflect")
    cov = uniform_filter(guide * target, size, mode="reflect") - mean_g * mean_t
    var = uniform_filter(guide * guide, size, mode="reflect") - mean_g * mean_g
    # Ridge towards gain 1, not 0: a flat window keeps the photo's detail (grain, fine texture) as it is.
    a = (cov + GUIDE_EPS) / (var + GUIDE_EPS)
    b = mean_t - a * mean_g
    return uniform_filter(a, size, mode="reflect"), uniform_filter(b, size, mode="reflect")


def _explained(guide: np.ndarray, target: np.ndarray, coefficients) -> float:
    """Gives back R^2 of the local linear model: 1 - residual energy / the edit's energy about its local mean."""
    residual = total = 0.0
    size = 2 * GUIDE_RADIUS + 1
    for c, (a, b) in enumerate(coefficients):
        residual += float(np.square(target[..., c] - (a * guide[..., c] + b)).sum())
        total += float(np.square(target[..., c] - uniform_filter(target[..., c], size, mode="reflect")).sum())
    return 1.0 - residual / max(total, 1e-8)


def _apply(channel: Image.Image, a: np.ndarray, b: np.ndarray) -> Image.Image:
    """Gives back a * channel + b at the channel's size, with a and b scaled up smoothly."""
    size = channel.size
    gain = np.asarray(Image.fromarray(a).resize(size, Image.Resampling.BILINEAR))
    offset = np.asarray(Image.fromarray(b).resize(size, Image.Resampling.BILINEAR))
    result = gain * (np.asarray(channel, np.float32) / 255.0)
    result += offset
    return Image.fromarray(np.clip(np.rint(result * 255.0), 0, 255).astype(np.uint8))
