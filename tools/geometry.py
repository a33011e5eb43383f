"""Box geometry shared by detection, choosing, placing and checking: areas, overlaps, IoU, suppression.

A box is (x0, y0, x1, y1) in pixels, x0 <= x1 and y0 <= y1; a box with no width or height has no area.
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence, TypeVar

Item = TypeVar("Item")
Box = Sequence[float]


def box_area(box: Box) -> float:
    """Gives back the area of a box (0 for an empty one)."""
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def intersection(a: Box, b: Box) -> float:
    """Gives back the area two boxes share."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def box_iou(a: Box, b: Box) -> float:
    """Gives back the intersection over union of two boxes (0 when both are empty)."""
    shared = intersection(a, b)
    union = box_area(a) + box_area(b) - shared
    return shared / union if union > 0 else 0.0


def _detection_iou(a, b) -> float:
    return box_iou(a.box, b.box)


def non_max_suppression(
    items: Iterable[Item], threshold: float, overlap: Callable[[Item, Item], float] = _detection_iou
) -> list[Item]:
    """Gives back the items, in their order, without those overlapping an earlier kept one by more than `threshold`.

    Greedy non-maximum suppression: give the items best first. `overlap` measures two items; by
    default it is the IoU of their `box` attributes (detections).
    """
    kept: list[Item] = []
    for item in items:
        if all(overlap(item, other) <= threshold for other in kept):
            kept.append(item)
    return kept
