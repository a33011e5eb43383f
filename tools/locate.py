"""Where things go: a box for a new object, the soft mask the inpainter paints it in, the background mask.

An `add` step needs a box before anything can be painted. A vision LLM may give one (`parse_box`
checks and cleans it); otherwise `place_object` derives one from geometry: a relation to an anchor
object ("a cup on the table", "a dog left of the cat"), a size prior by object kind, and the boxes of
other detected objects to keep clear of. Boxes are (x0, y0, x1, y1) in pixels, x1 and y1 exclusive.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy import ndimage

from chatedit.tools.errors import InputError
from chatedit.tools.geometry import box_area, box_iou, intersection
from chatedit.tools.masks import area, as_mask, dilate, ellipse_mask
from chatedit.tools.relations import ALIASES, PLACEMENT
from chatedit.tools.sizes import SIZE_PRIORS, SizePrior, object_kind, size_prior

PixelBox = tuple[int, int, int, int]

MIN_BOX_SIDE = 4
"""Smallest width and height (pixels) of a box worth inpainting; smaller boxes are refused."""


RELATIONS = PLACEMENT
"""The relations `place_object` knows (tools/relations.toml)."""

_RELATION_ALIASES = ALIASES

SKY_BAND = 0.4
"""A box in the sky lies wholly within this top fraction of the image."""
GROUND_BAND = 0.7
"""A box on the ground has its bottom edge below this fraction of the image height."""
SUPPORT_METRES = 1.0
"""Assumed size of an anchor of unknown kind that something stands on, in or under (a table)."""


def parse_box(box, width: int, height: int) -> PixelBox:
    """Gives back a clean pixel box from a box given as [x0, y0, x1, y1] in pixels or in 0-1 fractions.

    When all four numbers lie within [0, 1] they are read as fractions of the image size. Reversed
    corners are swapped and the box is clamped to the image. Text such as "[0.1, 0.2, 0.5, 0.9]" (as a
    vision LLM writes it) is accepted too.

    Args:
        box: four numbers, or text holding four numbers.
        width: image width in pixels.
        height: image height in pixels.

    Raises:
        InputError: wrong count of numbers, NaN or infinite values, or a box under `MIN_BOX_SIDE`
            pixels wide or tall once clamped to the image.
    """
    if width < 1 or height < 1:
        raise InputError(f"The image size must be positive to place a box; got {width}x{height}.")
    if isinstance(box, str):
        box = re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", box)
    try:
        values = [float(value) for value in box]
    except (TypeError, ValueError):
        raise InputError(f"A box is four numbers [x0, y0, x1, y1]; got {box!r}.") from None
    if len(values) != 4:
        raise InputError(f"A box is four numbers [x0, y0, x1, y1]; got {len(values)} numbers.")
    if not all(math.isfinite(value) for value in values):
        raise InputError(f"The box {values} holds a value that is not a finite number; give four numbers.")
    if all(0.0 <= value <= 1.0 for value in values):
        values = [values[0] * width, values[1] * height, values[2] * width, values[3] * height]
    x0, y0, x1, y1 = _clamp(values, width, height)
    if x1 - x0 < MIN_BOX_SIDE or y1 - y0 < MIN_BOX_SIDE:
        raise InputError(
            f"The box {values} covers only {x1 - x0}x{y1 - y0} pixels of the {width}x{height} image; "
            f"give a box at least {MIN_BOX_SIDE} pixels wide and tall inside the image."
        )
    return x0, y0, x1, y1


def normalise_relation(relation: str | None) -> str | None:
    """Gives back one of RELATIONS' canonical forms ("to the left of" -> "left of"), or None.

    Canonical forms: on, in, under, above, below, left of, right of, next to, near, in front of, behind,
    in the sky, on the ground. A relation it cannot read is taken as "near": the object still lands
    beside its anchor rather than nowhere.
    """
    if relation is None or not relation.strip():
        return None
    text = " ".join(relation.lower().replace("_", " ").split())
    text = _RELATION_ALIASES.get(text, text)
    if text in RELATIONS:
        return text
    return "near"


def place_object(
    image_size: tuple[int, int],
    name: str,
    relation: str | None,
    anchor: tuple | None,
    obstacles: Sequence[tuple] = (),
    *,
    anchor_name: str | None = None,
) -> PixelBox:
    """Gives back a box for a new object, from its kind, a relation to an anchor box, and boxes to avoid.

    The object's size comes from `SIZE_PRIORS`: relative to the anchor when there is one (a cup on a
    table is a fraction of the table, a person beside a car about half its length), relative to the
    frame otherwise. Then the relation fixes where it goes: "on" stands it on the upper part of the
    anchor, "left of" puts it beside the anchor on the same ground line, "in the sky" in the top band,
    and so on. Among the positions the relation allows, the first that keeps clear of `obstacles` wins,
    shrinking the object a little if nothing else fits. Without an anchor the object goes to the
    largest free region (of the sky or ground band when the relation or the kind says so). The box
    always lies inside the image, and the same inputs always give the same box.

    Args:
        image_size: (width, height) of the image.
        name: what is added ("a red car"); its kind picks the size prior.
        relation: one of RELATIONS (or a common variant such as "to the left of"), or None.
        anchor: the anchor object's box (x0, y0, x1, y1) in pixels, or None.
        obstacles: boxes of other detected objects to keep clear of (a box matching the anchor is ignored).
        anchor_name: what the anchor is ("the table"), so both sizes come from the priors. Without it, an
            anchor the object stands on, in or under is taken as table-sized, and the size of an object
            beside an anchor falls halfway between the anchor's size and the object's size in the frame.
    """
    width, height = (int(v) for v in image_size)
    if width < 1 or height < 1:
        raise InputError(f"The image size must be positive to place an object; got {width}x{height}.")
    prior = size_prior(name)
    relation = normalise_relation(relation)
    anchor_box = _clamp_box(anchor, width, height, "anchor") if anchor is not None else None
    obstacle_boxes = [box for box in (_clamp_box(o, width, height, None) for o in obstacles) if box]

    if anchor_box is None or relation in ("in the sky", "on the ground"):
        if anchor_box is not None:
            obstacle_boxes.append(anchor_box)
        band = {"in the sky": "sky", "on the ground": "ground"}.get(relation or "", prior.place)
        return _place_free(width, height, prior, band, obstacle_boxes)

    relation = relation or "near"
    obstacle_boxes = [box for box in obstacle_boxes if box_iou(box, anchor_box) < 0.7]
    if prior.far:
        w, h = _frame_size(prior, width, height)
    else:
        w, h = _anchored_size(prior, relation, anchor_box, anchor_name, width, height)
    candidates = _anchored_candidates(relation, anchor_box, w, h, width, height)
    return _least_blocked(candidates, obstacle_boxes)


def add_mask(image_size: tuple[int, int], box) -> np.ndarray:
    """Gives back the (height, width) bool mask the inpainter paints a new object in: the ellipse in `box`.

    An ellipse rather than the full box leaves the box's corners to the background, so the new object
    is not forced to fill a rectangle and blends into what surrounds it.
    """
    width, height = (int(v) for v in image_size)
    box = _clamp_box(box, width, height, "object")
    return ellipse_mask((height, width), box)


def background_mask(subject_mask, *, erode_px: int | None = None) -> np.ndarray:
    """Gives back the background: everything but the subject, kept `erode_px` pixels off the subject.

    The background mask is eroded (the subject grown) so the subject's border pixels, where its hair,
    fur or soft edge mixes with the old background, are never repainted and the subject keeps its
    outline. By default the margin is 1% of the subject's linear size, 2 to 12 pixels.

    Raises:
        InputError: when the subject mask is empty or covers the whole image.
    """
    subject = as_mask(subject_mask)
    if not subject.any():
        raise InputError("No subject was found to keep, so there is no background to tell apart; name the subject.")
    if erode_px is None:
        erode_px = int(min(max(round(0.01 * math.sqrt(area(subject))), 2), 12))
    background = ~dilate(subject, erode_px)
    if not background.any():
        raise InputError("The subject fills the whole image, so there is no background left to change.")
    return background


def _round(value: float) -> int:
    return math.floor(value + 0.5)


def _clamp(values: list[float], width: int, height: int) -> PixelBox:
    """Gives back the box with its corners in order, rounded to pixels and clamped to the image (maybe empty)."""
    x0, x1 = sorted((values[0], values[2]))
    y0, y1 = sorted((values[1], values[3]))
    x0, x1 = (min(max(_round(v), 0), width) for v in (x0, x1))
    y0, y1 = (min(max(_round(v), 0), height) for v in (y0, y1))
    return x0, y0, x1, y1


def _clamp_box(box, width: int, height: int, role: str | None) -> PixelBox | None:
    """Gives back a pixel box clamped to the image; an empty one raises for `role`, or is None without one."""
    values = [float(v) for v in box]
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InputError(f"A box is four finite numbers [x0, y0, x1, y1]; got {list(box)}.")
    x0, y0, x1, y1 = _clamp(values, width, height)
    if x1 <= x0 or y1 <= y0:
        if role is None:
            return None
        raise InputError(f"The {role} box {values} has no area inside the {width}x{height} image.")
    return x0, y0, x1, y1


def _shape(prior: SizePrior, largest: float) -> tuple[float, float]:
    """Gives back (w, h) with the prior's aspect and `largest` as its larger side."""
    if prior.aspect >= 1.0:
        return largest, largest / prior.aspect
    return largest * prior.aspect, largest


def _frame_size(prior: SizePrior, width: int, height: int) -> tuple[float, float]:
    """Gives back (w, h) for an object placed in the frame alone: larger kinds take more of the picture.

    A log scale maps metres to a share of the image's short side: a cup gets a tenth of it, a cat a
    quarter, a person two fifths, a car or a house over a half.
    """
    share = min(max(0.25 + 0.09 * math.log2(prior.metres / 0.5), 0.1), 0.6)
    return _shape(prior, share * min(width, height))


def _anchored_size(
    prior: SizePrior, relation: str, anchor: PixelBox, anchor_name: str | None, width: int, height: int
) -> tuple[float, float]:
    """Gives back (w, h) scaled from the anchor's box by the ratio of typical sizes, and bounded by the relation."""
    aw, ah = anchor[2] - anchor[0], anchor[3] - anchor[1]
    anchor_kind = object_kind(anchor_name)
    if anchor_kind:
        anchor_prior = SIZE_PRIORS[anchor_kind]
        anchor_px = aw if anchor_prior.aspect >= 1.0 else ah
        largest = anchor_px * prior.metres / anchor_prior.metres
    elif relation in ("on", "in", "under"):
        largest = max(aw, ah) * prior.metres / SUPPORT_METRES
    else:
        # A neighbour of unknown kind: halfway (on a log scale) between its size and the frame's prior.
        largest = math.sqrt(max(aw, ah) * max(_frame_size(prior, width, height)))
    largest *= {"in front of": 1.15, "behind": 0.85}.get(relation, 1.0)
    w, h = _shape(prior, largest)
    # What stands on, in or under the anchor must fit its span.
    limits = {"on": (0.8, None), "in": (0.6, 0.6), "under": (0.8, 0.6)}.get(relation)
    if limits:
        scale = min(1.0, limits[0] * aw / w, (limits[1] * ah / h) if limits[1] else 1.0)
        w, h = w * scale, h * scale
    return w, h


def _ordered(values: np.ndarray, preferred: float) -> list[float]:
    """Gives back the values nearest `preferred` first."""
    return sorted(dict.fromkeys(float(v) for v in values), key=lambda v: (abs(v - preferred), v))


def _slide(low: float, high: float, preferred: float, steps: int = 9) -> list[float]:
    """Gives back positions across [low, high], nearest `preferred` first."""
    if high <= low:
        return [low]
    return _ordered(np.append(np.linspace(low, high, steps), min(max(preferred, low), high)), preferred)


def _anchored_candidates(
    relation: str, anchor: PixelBox, w: float, h: float, width: int, height: int
) -> list[list[PixelBox]]:
    """Gives back candidate boxes per size step (full size, then smaller), each list in order of preference."""
    min_side = _min_side(width, height)
    steps = []
    for scale in (1.0, 0.8, 0.6):
        sw, sh = _at_least(w * scale, h * scale, min_side, width, height)
        boxes = [
            _inside((x, y, x + bw, y + bh), width, height)
            for x, y, bw, bh in _positions(relation, _Anchor(*anchor), sw, sh, width, height)
        ]
        steps.append(list(dict.fromkeys(boxes)))
    return steps


class _Anchor(NamedTuple):
    """An anchor box with its width, height and centre, and the gaps kept from it."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def w(self) -> float:
        return self.x1 - self.x0

    @property
    def h(self) -> float:
        return self.y1 - self.y0

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2.0

    @property
    def gaps(self) -> tuple[float, float]:
        return max(1.0, 0.05 * self.w), max(1.0, 0.05 * self.h)


def _positions(relation, anchor: _Anchor, w, h, width, height):
    """Yields (x, y, w, h) top-left positions and sizes the relation allows, in order of preference."""
    if relation in ("on", "in", "under"):
        return _resting(relation, anchor, w, h)
    if relation in ("above", "below"):
        return _stacked(relation, anchor, w, h, height)
    if relation in ("in front of", "behind"):
        return _in_depth(relation, anchor, w, h, width, height)
    return _beside(relation, anchor, w, h, width, height)


def _resting(relation, a: _Anchor, w, h):
    """Positions on, in or under the anchor."""
    if relation == "on":
        # A table seen from the front shows its top in the upper part of its box: stand on that.
        bottom = a.y0 + 0.25 * a.h
        if h > bottom:
            bottom = a.y0 + 0.45 * a.h
            w, h = _fit_height(w, h, bottom)
    elif relation == "under":
        bottom = a.y1
    else:
        bottom = a.y0 + 0.55 * a.h + h / 2.0
    for x in _slide(a.x0, a.x1 - w, a.cx - w / 2.0):
        yield x, bottom - h, w, h


def _stacked(relation, a: _Anchor, w, h, height):
    """Positions above or below the anchor."""
    gap_y = a.gaps[1]
    if relation == "above":
        bottom = a.y0 - gap_y
        w, h = _fit_height(w, h, bottom)
        top = bottom - h
    else:
        top = a.y1 + gap_y
        w, h = _fit_height(w, h, height - top)
    for x in _slide(a.x0 - w / 2.0, a.x1 - w / 2.0, a.cx - w / 2.0):
        yield x, top, w, h


def _in_depth(relation, a: _Anchor, w, h, width, height):
    """Positions in front of the anchor, or peeking out from behind one side of it."""
    if relation == "in front of":
        bottom = min(height, a.y1 + 0.1 * a.h)
        centres = [a.cx]
    else:
        # Standing a little further back than the anchor, on the side with more room.
        bottom = a.y1 - 0.3 * a.h
        centres = [a.x1, a.x0] if width - a.x1 >= a.x0 else [a.x0, a.x1]
    for centre in centres:
        for x in _slide(centre - w / 2.0 - a.w / 2.0, centre - w / 2.0 + a.w / 2.0, centre - w / 2.0):
            yield x, bottom - h, w, h


def _beside(relation, a: _Anchor, w, h, width, height):
    """Positions left or right of the anchor (next to and near: the side with more room first)."""
    gap_x = a.gaps[0]
    left_room, right_room = a.x0 - gap_x, width - a.x1 - gap_x
    if relation == "left of":
        sides = ["left"]
    elif relation == "right of":
        sides = ["right"]
    else:
        sides = ["right", "left"] if right_room >= left_room else ["left", "right"]
    for side in sides:
        room = left_room if side == "left" else right_room
        sw, sh = w, h
        if sw > room >= _min_side(width, height):
            sw, sh = room, h * room / w
        bottoms = [a.y1, a.y1 - 0.25 * a.h, (a.y0 + a.y1) / 2.0 + sh / 2.0]
        if side == "left":
            xs = _slide(0.0, a.x0 - gap_x - sw, a.x0 - gap_x - sw)
        else:
            xs = _slide(a.x1 + gap_x, width - sw, a.x1 + gap_x)
        for x in xs:
            for bottom in bottoms:
                yield x, bottom - sh, sw, sh


def _fit_height(w: float, h: float, room: float) -> tuple[float, float]:
    """Gives back (w, h) shrunk, keeping the aspect, so that h fits in `room` (when room allows a box at all)."""
    if h > room >= MIN_BOX_SIDE:
        return w * room / h, room
    return w, h


def _min_side(width: int, height: int) -> float:
    return min(max(8.0, 0.04 * min(width, height)), float(min(width, height)))


def _at_least(w: float, h: float, min_side: float, width: int, height: int) -> tuple[float, float]:
    """Gives back (w, h) grown to `min_side` on its short side and shrunk to fit the image, keeping the aspect."""
    if min(w, h) < min_side:
        grow = min_side / min(w, h)
        w, h = w * grow, h * grow
    shrink = min(1.0, width / w, height / h)
    return max(w * shrink, 1.0), max(h * shrink, 1.0)


def _inside(box: tuple[float, float, float, float], width: int, height: int) -> PixelBox:
    """Gives back the box moved (not resized, unless larger than the image) to lie inside the image."""
    x0, y0, x1, y1 = box
    w, h = min(x1 - x0, width), min(y1 - y0, height)
    x0 = min(max(x0, 0.0), width - w)
    y0 = min(max(y0, 0.0), height - h)
    left, top = _round(x0), _round(y0)
    right, bottom = min(max(_round(x0 + w), left + 1), width), min(max(_round(y0 + h), top + 1), height)
    return left, top, right, bottom


def _least_blocked(steps: list[list[PixelBox]], obstacles: list[PixelBox]) -> PixelBox:
    """Gives back the first candidate clear of obstacles, else the one overlapping them least."""
    best, best_blocked = steps[0][0], math.inf
    for boxes in steps:
        for box in boxes:
            blocked = sum(intersection(box, obstacle) for obstacle in obstacles) / box_area(box)
            if blocked <= 0.02:
                return box
            if blocked < best_blocked:
                best, best_blocked = box, blocked
    return best


def _place_free(width: int, height: int, prior: SizePrior, band: str | None, obstacles: list[PixelBox]) -> PixelBox:
    """Gives back a box in the largest free region (of the sky or ground band when `band` says so).

    The search runs on a grid of at most 256 cells a side: a summed-area table tells which positions
    keep the box clear of obstacles, and among those the one whose centre lies deepest inside free
    space (distance transform) wins; ties go to the one nearest the middle of the image.
    """
    cell = max(1, math.ceil(max(width, height) / 256))
    rows, cols = math.ceil(height / cell), math.ceil(width / cell)
    occupied = np.zeros((rows, cols), dtype=bool)
    for x0, y0, x1, y1 in obstacles:
        occupied[y0 // cell : math.ceil(y1 / cell), x0 // cell : math.ceil(x1 / cell)] = True
    # Distance to the nearest obstacle or image edge, in pixels.
    padded = np.pad(~occupied, 1, constant_values=False)
    depth = ndimage.distance_transform_edt(padded)[1:-1, 1:-1] * cell
    table = np.pad(occupied.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))

    w, h = _frame_size(prior, width, height)
    min_side = _min_side(width, height)
    if band == "sky":
        w, h = _fit_height(w, h, SKY_BAND * height)
    best: tuple[Any, PixelBox] | None = None
    for scale in (1.0, 0.8, 0.6, 0.45):
        sw, sh = _at_least(w * scale, h * scale, min_side, width, height)
        bw, bh = min(math.ceil(sw / cell), cols), min(math.ceil(sh / cell), rows)
        blocked = table[bh:, bw:] - table[:-bh, bw:] - table[bh:, :-bw] + table[:-bh, :-bw]
        top = np.arange(blocked.shape[0])[:, None] * cell
        left = np.arange(blocked.shape[1])[None, :] * cell
        allowed = np.ones(blocked.shape, dtype=bool)
        if band == "sky":
            allowed &= top + sh <= SKY_BAND * height
        elif band == "ground":
            allowed &= top + sh >= GROUND_BAND * height
        if not allowed.any():
            allowed[:] = True
        centre_rows = np.minimum((top + sh / 2.0) // cell, rows - 1).astype(int)
        centre_cols = np.minimum((left + sw / 2.0) // cell, cols - 1).astype(int)
        score = depth[centre_rows, centre_cols] - 1e-3 * np.abs(left + sw / 2.0 - width / 2.0)
        score = score - 1e6 * blocked - 1e9 * ~allowed
        index = np.unravel_index(int(np.argmax(score)), score.shape)
        box = _inside(
            (left[0, index[1]], top[index[0], 0], left[0, index[1]] + sw, top[index[0], 0] + sh), width, height
        )
        if blocked[index] == 0:
            return box
        if best is None or blocked[index] < best[0]:
            best = (blocked[index], box)
    assert best is not None  # every size was tried: each gave back a free box or kept the least blocked one
    return best[1]
