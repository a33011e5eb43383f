"""Masks: boolean numpy arrays of shape (height, width), and the operations edits need on them.

Growing and shrinking use an exact Euclidean disk: a disk is a stack of horizontal segments, so each
horizontal run of mask pixels grows into one segment per row of the disk, painted at once with a
difference array. For the compact masks of objects that costs a few passes over the image whatever the
radius; scattered masks with many short runs, and the feather (which needs distances, not just a
yes or no), go through a Euclidean distance transform. Everything runs only on the mask's bounding box
grown by the reach of the operation, where every pixel that can change lies. The image border never
erodes a mask: a mask that touches the edge of the picture keeps touching it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

from chatedit.tools.errors import InputError

Box = Sequence[float]


def as_mask(mask) -> np.ndarray:
    """Gives back `mask` as a 2-D bool array (nonzero is inside), or raises InputError."""
    array = np.asarray(mask)
    if array.ndim != 2:
        raise InputError(f"A mask must be a 2-D array (height, width); got shape {array.shape}.")
    return array.astype(bool, copy=False)


def _same_shape(*masks: np.ndarray) -> None:
    shapes = {mask.shape for mask in masks}
    if len(shapes) > 1:
        raise InputError(f"The masks have different sizes {sorted(shapes)}; give masks of one image.")


def _distance_outside(mask: np.ndarray) -> np.ndarray:
    """Gives back each pixel's distance to the nearest mask pixel (0 on the mask); needs a non-empty mask."""
    return ndimage.distance_transform_edt(~mask)


def _window(mask: np.ndarray, reach: int) -> tuple[slice, slice]:
    """Gives back the rows and columns of the mask's bounding box grown by `reach`, inside the image.

    Every mask pixel lies in the window, so a distance to the mask measured inside it is the distance
    in the whole image for every pixel within `reach` of the box; pixels outside are farther than that.
    """
    x0, y0, x1, y1 = box_of(mask)
    height, width = mask.shape
    return slice(max(y0 - reach, 0), min(y1 + reach, height)), slice(max(x0 - reach, 0), min(x1 + reach, width))


def _within(seeds: np.ndarray, radius: int) -> np.ndarray:
    """Gives back the pixels at most `radius` (Euclidean) from a seed pixel: the seeds grown by a disk.

    Row offset dy of the disk is a segment of half-width floor(sqrt(radius² - dy²)), so a run of seeds
    [start, end) in row y covers [start - half, end + half) in row y + dy. Runs times disk rows
    segments are painted with one difference array; when that would outnumber the pixels (scattered
    seeds), a distance transform is cheaper.
    """
    height, width = seeds.shape
    edges = np.diff(seeds.view(np.int8), axis=1, prepend=0, append=0)
    run_rows, run_starts = np.nonzero(edges == 1)
    run_ends = np.nonzero(edges == -1)[1]  # row-major order pairs each end with its start
    offsets = np.arange(-radius, radius + 1)
    if run_rows.size * offsets.size > seeds.size:
        return ndimage.distance_transform_edt(~seeds) <= radius
    half = np.floor(np.sqrt(radius * radius - offsets * offsets)).astype(np.intp)
    rows = run_rows[:, None] + offsets
    inside = (rows >= 0) & (rows < height)
    starts = np.maximum(run_starts[:, None] - half, 0)[inside]
    ends = np.minimum(run_ends[:, None] + half, width)[inside]
    cells = rows[inside] * (width + 1)
    paint = np.bincount(cells + starts, minlength=height * (width + 1))
    paint -= np.bincount(cells + ends, minlength=height * (width + 1))
    return np.cumsum(paint.reshape(height, width + 1), axis=1)[:, :width] > 0


def _unchanged_by(mask: np.ndarray, radius: int, operation: str) -> bool:
    """Gives back whether growing or shrinking `mask` by `radius` leaves it as it is; a negative radius raises."""
    if radius < 0:
        raise InputError(f"The {operation} radius must be 0 or more pixels; got {radius}.")
    return bool(radius == 0 or not mask.any() or mask.all())


def dilate(mask, radius: int) -> np.ndarray:
    """Gives back the mask grown by a disk of `radius` pixels (radius 0: a copy)."""
    mask = as_mask(mask)
    if _unchanged_by(mask, radius, "dilation"):
        return mask.copy()
    window = _window(mask, radius)
    grown = np.zeros_like(mask)
    grown[window] = _within(mask[window], radius)
    return grown


def erode(mask, radius: int) -> np.ndarray:
    """Gives back the mask shrunk by a disk of `radius` pixels (radius 0: a copy)."""
    mask = as_mask(mask)
    if _unchanged_by(mask, radius, "erosion"):
        return mask.copy()
    # A one-pixel ring around the box holds the outside pixels nearest to every mask pixel (where the
    # image border cuts the ring off, the border does not erode, as in the whole picture).
    window = _window(mask, 1)
    inside = mask[window]
    shrunk = np.zeros_like(mask)
    shrunk[window] = inside & ~_within(~inside, radius)
    return shrunk


def feather(mask, radius: int) -> np.ndarray:
    """Gives back a float32 alpha: 1 on the mask, easing to exactly 0 at `radius` pixels outside it.

    The feather only grows outward, so every pixel of the mask is fully replaced when pasting and every
    pixel `radius` or more away from it is left exactly as it was. The ease is a smoothstep of the
    distance to the mask, so the seam has no visible step at either end.
    """
    mask = as_mask(mask)
    if radius < 0:
        raise InputError(f"The feather radius must be 0 or more pixels; got {radius}.")
    if radius == 0 or not mask.any() or mask.all():
        return mask.astype(np.float32)
    window = _window(mask, radius)
    t = np.clip(1.0 - _distance_outside(mask[window]) / radius, 0.0, 1.0)
    alpha = np.zeros(mask.shape, np.float32)
    alpha[window] = t * t * (3.0 - 2.0 * t)
    alpha[mask] = 1.0
    return alpha


def feather_inside(mask, radius: int) -> np.ndarray:
    """Gives back a float32 alpha: 0 outside the mask, easing up to 1 at `radius` pixels inside its edge.

    The inward twin of `feather`, for a boundary that must hold, such as a mask the user drew: every
    pixel outside the mask gets exactly 0, so a paste by this alpha leaves it bit for bit as it was,
    and the seam is blended on the mask's side. As with `erode`, the image border is no edge.
    """
    mask = as_mask(mask)
    if radius < 0:
        raise InputError(f"The feather radius must be 0 or more pixels; got {radius}.")
    if radius == 0 or not mask.any() or mask.all():
        return mask.astype(np.float32)
    window = _window(mask, 1)
    # A mask pixel on the edge is 1 from the nearest outside pixel; `radius` deep it is fully inside.
    t = np.clip(ndimage.distance_transform_edt(mask[window]) / radius, 0.0, 1.0)
    alpha = np.zeros(mask.shape, np.float32)
    alpha[window] = t * t * (3.0 - 2.0 * t)
    return alpha


def union(*masks) -> np.ndarray:
    """Gives back the pixels inside any of the masks."""
    if not masks:
        raise InputError("union needs at least one mask.")
    arrays = [as_mask(mask) for mask in masks]
    _same_shape(*arrays)
    return np.logical_or.reduce(arrays)


def box_of(mask) -> tuple[int, int, int, int]:
    """Gives back the bounding box of a mask that must not be empty (`bbox`), or raises InputError."""
    box = bbox(mask)
    if box is None:
        raise InputError("The mask is empty, so there is nothing to edit; give a mask that covers the region.")
    return box


def bbox(mask) -> tuple[int, int, int, int] | None:
    """Gives back the mask's bounding box (x0, y0, x1, y1), x1 and y1 exclusive, or None when empty."""
    mask = as_mask(mask)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def area(mask) -> int:
    """Gives back the number of pixels inside the mask."""
    return int(np.count_nonzero(as_mask(mask)))


def iou(a, b) -> float:
    """Gives back intersection over union of two masks (0.0 when both are empty)."""
    a, b = as_mask(a), as_mask(b)
    _same_shape(a, b)
    joint = np.count_nonzero(a | b)
    if joint == 0:
        return 0.0
    return float(np.count_nonzero(a & b) / joint)


def fill_holes(mask) -> np.ndarray:
    """Gives back the mask with every enclosed hole filled (gaps open to the image edge stay)."""
    return ndimage.binary_fill_holes(as_mask(mask))


def _pixel_span(start: float, end: float, size: int) -> tuple[int, int]:
    """Gives back the pixels whose centres lie in [start, end), clamped to [0, size]."""
    low, high = sorted((float(start), float(end)))
    first = min(max(math.ceil(low - 0.5), 0), size)
    last = min(max(math.ceil(high - 0.5), 0), size)
    return first, last


def _check_shape_and_box(shape: tuple[int, int], box: Box) -> tuple[int, int, list[float]]:
    if len(shape) != 2 or min(shape) < 1:
        raise InputError(f"A mask shape is (height, width) with both at least 1; got {shape}.")
    values = [float(v) for v in box]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InputError(f"A box is four finite numbers [x0, y0, x1, y1]; got {list(box)}.")
    return int(shape[0]), int(shape[1]), values


def box_mask(shape: tuple[int, int], box: Box) -> np.ndarray:
    """Gives back a (height, width) mask of the pixels inside `box` (x0, y0, x1, y1; clamped to the image).

    A pixel is inside when its centre is, so integer boxes cover exactly x0..x1-1 and y0..y1-1.
    """
    height, width, (x0, y0, x1, y1) = _check_shape_and_box(shape, box)
    mask = np.zeros((height, width), dtype=bool)
    left, right = _pixel_span(x0, x1, width)
    top, bottom = _pixel_span(y0, y1, height)
    mask[top:bottom, left:right] = True
    return mask


def ellipse_mask(shape: tuple[int, int], box: Box) -> np.ndarray:
    """Gives back a (height, width) mask of the ellipse inscribed in `box` (pixel centres inside it)."""
    height, width, (x0, y0, x1, y1) = _check_shape_and_box(shape, box)
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    mask = np.zeros((height, width), dtype=bool)
    rx, ry = (x1 - x0) / 2.0, (y1 - y0) / 2.0
    if rx <= 0 or ry <= 0:
        return mask
    left, right = _pixel_span(x0, x1, width)
    top, bottom = _pixel_span(y0, y1, height)
    xs = (np.arange(left, right) + 0.5 - (x0 + rx)) / rx
    ys = (np.arange(top, bottom) + 0.5 - (y0 + ry)) / ry
    mask[top:bottom, left:right] = ys[:, None] ** 2 + xs[None, :] ** 2 <= 1.0
    return mask


def dilation_for(mask, *, fraction: float = 0.04, minimum: int = 4, maximum: int = 64) -> int:
    """Gives back the dilation radius for removing the object under `mask`: `fraction` of sqrt(area), clamped.

    A segmenter's mask hugs the object, but the object also lives in the pixels around it: a soft edge,
    a halo, a shadow. Left outside the inpainting mask they keep the object's outline, and the inpainter
    re-creates the object from them. Growing the mask in proportion to the object's linear size
    (sqrt of its area) covers those pixels for a mug as for a car, while the clamp keeps small objects
    from a too-thin ring and large ones from swallowing the scene.
    """
    radius = round(fraction * math.sqrt(area(mask)))
    return int(min(max(radius, minimum), maximum))


def region_iou_pick(candidates: list[np.ndarray], region: np.ndarray) -> int:
    """Gives back the index of the candidate S maximising area(S∩M)/area(S∪M) for region M, or -1.

    ZONE's Region-IoU: among segments of the edited image, the one that best matches the rough edited
    region is the edited object. -1 when no candidate overlaps the region at all; ties go to the
    earlier candidate.
    """
    region = as_mask(region)
    best, best_score = -1, 0.0
    for index, candidate in enumerate(candidates):
        candidate = as_mask(candidate)
        _same_shape(candidate, region)
        score = iou(candidate, region)
        if score > best_score:
            best, best_score = index, score
    return best


def to_image(mask) -> Image.Image:
    """Gives back the mask as a PIL "L" image: 0/255 for a bool mask, round(alpha * 255) for a float one."""
    array = np.asarray(mask)
    if array.ndim != 2:
        raise InputError(f"A mask must be a 2-D array (height, width); got shape {array.shape}.")
    if np.issubdtype(array.dtype, np.floating):
        values = np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        values = np.where(array.astype(bool), 255, 0).astype(np.uint8)
    return Image.fromarray(values)
