"""ZONE blending: keep only the region an instruction editor meant to change, and paste it back.

An instruction editor such as InstructPix2Pix repaints the whole picture even for "make the car red":
the car turns red, and the rest drifts a little (colours, textures, faces). ZONE (Li et al., "ZONE:
Zero-Shot Instruction-Guided Local Editing", CVPR 2024, arXiv 2312.16794) keeps the edit as a layer:

1. the rough edited region is where the canvas differs from the original at low frequencies
   (`low_pass_difference`, `edited_region`);
2. among segments of the canvas (SAM), the one with the highest Region-IoU against that region is the
   edited object (`tools.masks.region_iou_pick`), which gives the layer a clean object outline;
3. an FFT low-pass, a binarisation and a morphological close smooth the layer's edge (`smooth_edge`);
4. only that layer is composited onto the original (`composite`): every other pixel stays the input's.

Compared with inpainting a `local` edit, this path keeps the object's structure (the editor sees the
whole object and changes its colour or material in place), but it is weaker for changes of shape.

Images are PIL RGB images or uint8 numpy arrays (H, W, 3) of the same size.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from chatedit.tools.errors import InputError
from chatedit.tools.masks import as_mask, dilate, erode, feather, feather_inside, fill_holes, iou, region_iou_pick

ZONE_CUTOFF = 200.0
"""ZONE's ideal low-pass cut-off D0, in frequency bins of a 512-pixel image (scaled to other sizes)."""
ZONE_SIZE = 512
MIN_DIFFERENCE = 0.08
"""Lowest threshold on the low-passed colour difference (0-1 scale): below it a change is noise."""
MIN_REGION_IOU = 0.5
"""A segment replaces the rough region only when it matches it at least this well."""


def _as_rgb(image) -> np.ndarray:
    """Gives back the image as a uint8 (H, W, 3) array."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] not in (3, 4):
        raise InputError(f"An image must be RGB (height, width, 3); got an array of shape {array.shape}.")
    array = array[..., :3]
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.max(initial=0.0) <= 1.0:
            array = array * 255.0
        array = np.clip(np.rint(array), 0, 255).astype(np.uint8)
    return array


def _pair(original, canvas) -> tuple[np.ndarray, np.ndarray]:
    before, after = _as_rgb(original), _as_rgb(canvas)
    if before.shape != after.shape:
        raise InputError(
            f"The edited canvas is {after.shape[1]}x{after.shape[0]} but the original is "
            f"{before.shape[1]}x{before.shape[0]}; resize the canvas to the original's size first."
        )
    return before, after


def _low_pass(array: np.ndarray, cutoff: float | None) -> np.ndarray:
    """Gives back `array` (H, W) or (H, W, C) through an ideal low-pass filter on its first two axes.

    The cut-off is ZONE's D0 bins at 512 pixels, i.e. a normalised frequency of D0 / 512 cycles per
    pixel, which keeps the same smoothing at every image size.
    """
    cutoff = ZONE_CUTOFF if cutoff is None else float(cutoff)
    if cutoff <= 0:
        raise InputError(f"The low-pass cut-off must be positive; got {cutoff}.")
    height, width = array.shape[:2]
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    keep = np.hypot(fy, fx) <= cutoff / ZONE_SIZE
    if array.ndim == 3:
        keep = keep[..., None]
    spectrum = np.fft.rfft2(array, axes=(0, 1))
    return np.fft.irfft2(spectrum * keep, s=(height, width), axes=(0, 1))


def low_pass_difference(original, canvas, *, cutoff: float | None = None) -> np.ndarray:
    """Gives back the low-frequency magnitude of canvas - original, float32 (H, W), about 0 to 1.

    Each colour channel's signed difference is low-passed before taking the magnitude, so pixel noise
    and resampling jitter (which change sign from pixel to pixel) cancel while a real recolouring
    (which shifts a whole area one way) stays.

    Args:
        original: the image before editing.
        canvas: the editor's output, same size.
        cutoff: ZONE's D0 at 512 pixels (default 200), scaled to the image size.
    """
    before, after = _pair(original, canvas)
    difference = (after.astype(np.float32) - before.astype(np.float32)) / 255.0
    smooth = _low_pass(difference, cutoff)
    return (np.sqrt((smooth**2).sum(axis=-1) / 3.0)).astype(np.float32)


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Gives back the Otsu threshold of `values`: the cut maximising the between-class variance."""
    values = np.asarray(values, dtype=np.float64).ravel()
    low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
    if high <= low:
        return high
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2.0
    weight_low = np.cumsum(counts)
    weight_high = weight_low[-1] - weight_low
    sum_low = np.cumsum(counts * centres)
    mean_low = sum_low / np.maximum(weight_low, 1)
    mean_high = (sum_low[-1] - sum_low) / np.maximum(weight_high, 1)
    between = (weight_low * weight_high * (mean_low - mean_high) ** 2)[:-1]
    # Empty bins between two populations all score the same: cut in the middle of that gap.
    best = np.flatnonzero(np.isclose(between, between.max(), rtol=1e-12, atol=0.0))
    return float(edges[(best[0] + best[-1]) // 2 + 1])


def _clean_radius(shape: tuple[int, int]) -> int:
    """Gives back the morphology radius for an image: 4 pixels at 512, scaled with the image."""
    return max(1, round(max(shape) / 128))


def edited_region(original, canvas, *, threshold: float | None = None, cutoff: float | None = None) -> np.ndarray:
    """Gives back the rough region (bool, H x W) where the canvas changed the original.

    By default the cut is a hysteresis on the low-passed difference: pixels over Otsu's threshold seed
    the region, which then takes in every connected pixel over half that threshold. A strong recolouring
    often has a range of strengths (Otsu alone can split the edit itself in two); the weaker half
    counts only where it touches a strong change, so scattered noise stays out. Both cuts are at least
    MIN_DIFFERENCE, so an unchanged image gives an empty region. The region is then opened to drop
    specks and its holes are filled.

    Args:
        original: the image before editing.
        canvas: the editor's output, same size.
        threshold: a single fixed cut on `low_pass_difference` (0-1 scale) instead of the hysteresis.
        cutoff: ZONE's D0 at 512 pixels (default 200).
    """
    difference = low_pass_difference(original, canvas, cutoff=cutoff)
    if threshold is None:
        high = max(otsu_threshold(difference), MIN_DIFFERENCE)
        low = max(high / 2.0, MIN_DIFFERENCE)
        labels, _ = ndimage.label(difference > low, structure=np.ones((3, 3), dtype=bool))
        seeded = np.unique(labels[difference > high])
        region = np.isin(labels, seeded[seeded > 0])
    else:
        region = difference > threshold
    radius = _clean_radius(region.shape)
    region = dilate(erode(region, radius), radius)
    return fill_holes(region)


def smooth_edge(mask, *, cutoff: float | None = None) -> np.ndarray:
    """Gives back the mask with a smooth edge: FFT low-pass, binarise at 1/2, morphological close, fill holes.

    ZONE's edge smoother: the low-pass removes the jagged, pixel-scale part of the outline (staircases
    from upsampled segments, stray pixels), the close bridges thin cracks, and filling closes holes, so
    the pasted layer has no ragged seam.
    """
    mask = as_mask(mask)
    if not mask.any():
        return mask.copy()
    smooth = _low_pass(mask.astype(np.float32), cutoff) > 0.5
    radius = _clean_radius(mask.shape)
    # Padding keeps the close from gluing a mask to the image edge it only comes near.
    padded = np.pad(smooth, radius + 1)
    closed = erode(dilate(padded, radius), radius)[radius + 1 : -(radius + 1), radius + 1 : -(radius + 1)]
    return fill_holes(closed)


def zone_layer(original, canvas, candidates: list[np.ndarray] | None = None) -> np.ndarray:
    """Gives back the edited layer (bool, H x W): the region of the canvas to paste onto the original.

    The rough edited region is replaced by the canvas segment that matches it best (Region-IoU) when
    that match is good (at least MIN_REGION_IOU), since a segment follows the object's true outline;
    otherwise the rough region is kept. The layer's edge is then smoothed.

    Args:
        original: the image before editing.
        canvas: the instruction editor's output, same size.
        candidates: segments of the canvas (SAM masks, H x W), or None to use the rough region alone.
    """
    region = edited_region(original, canvas)
    if not region.any():
        return region
    layer = region
    if candidates:
        index = region_iou_pick(candidates, region)
        if index >= 0 and iou(candidates[index], region) >= MIN_REGION_IOU:
            layer = as_mask(candidates[index])
    return smooth_edge(layer)


def keep_near(layer: np.ndarray, region) -> np.ndarray:
    """Gives back the part of `layer` near `region` (within 5% of the picture's longer side), or `region` when none is.

    ZONE's layer can also catch spill away from the object a step names; the edit must stay on that object.
    """
    region = as_mask(region)
    near = layer & dilate(region, max(4, int(0.05 * max(region.shape))))
    return near if near.any() else region


def alpha_composite(base: Image.Image, edit: Image.Image, alpha: np.ndarray) -> Image.Image:
    """Gives back `edit` blended over `base` by `alpha` (floats in [0, 1], the images' size).

    Where alpha is 0 the result is `base` bit for bit, where it is 1 it is `edit`; only the seam in
    between needs arithmetic. This is the one place chatedit mixes two pictures.
    """
    return Image.fromarray(_blended(np.array(base.convert("RGB")), np.asarray(edit.convert("RGB")), alpha))


def _blended(result: np.ndarray, source: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Gives back `result` (uint8 RGB, written in place) with `source` blended over it by `alpha`."""
    weight = np.asarray(alpha, np.float32)
    if weight.shape != result.shape[:2] or source.shape != result.shape:
        raise InputError(
            f"Cannot blend a {source.shape[1]}x{source.shape[0]} edit by a {weight.shape[1]}x{weight.shape[0]} mask "
            f"onto a {result.shape[1]}x{result.shape[0]} picture; all three must be the same size."
        )
    np.copyto(result, source, where=(weight >= 1.0)[..., None])
    seam = (weight > 0) & (weight < 1.0)
    a = weight[seam][:, None]
    result[seam] = np.clip(np.rint(a * source[seam] + (1.0 - a) * result[seam]), 0, 255).astype(np.uint8)
    return result


def composite(original, canvas, mask, *, feather_px: int = 3, inward: bool = False) -> tuple[Image.Image, np.ndarray]:
    """Gives back the canvas pasted onto the original inside the mask, and the float paste mask used.

    The mask is feathered outward, so its own pixels come wholly from the canvas, the seam blends
    over `feather_px` pixels outside it, and wherever the paste mask is 0 the result is bit-identical
    to the original. With `inward`, the mask is a boundary that holds (a mask the user drew): the seam
    blends over `feather_px` pixels inside it and every pixel outside it is the original's.

    Args:
        original: the image before editing (PIL or uint8 array).
        canvas: the edited image, same size.
        mask: the layer to take from the canvas (bool, H x W).
        feather_px: width of the blend in pixels.
        inward: feather inside the mask instead of outside it.
    """
    before, after = _pair(original, canvas)
    mask = as_mask(mask)
    if mask.shape != before.shape[:2]:
        raise InputError(
            f"The mask is {mask.shape[1]}x{mask.shape[0]} but the image is {before.shape[1]}x{before.shape[0]}; "
            "give a mask of the image's size."
        )
    alpha = (feather_inside if inward else feather)(mask, feather_px)
    # The arrays are blended directly: a 48 MP picture is not copied through PIL twice more.
    return Image.fromarray(_blended(before.copy(), after, alpha)), alpha
