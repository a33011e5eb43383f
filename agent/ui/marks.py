"""What the user marks on the picture for the next instruction: clicks, a box, a brush stroke.

Plain values, no Gradio: the web UI keeps a `Marks` per browser tab and hands it to `Session.send`
as `point=` and `box=`; a brush stroke comes as the image editor's layers and becomes `mask=`.
Coordinates are the picture's pixels; the browser is shown a smaller copy of a large picture
(`display_scale`), so clicks on it are scaled back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal, Optional

import numpy as np
from PIL import Image

DISPLAY_SIDE = 1600
"""Longest side of the copy of the picture the browser is shown: a 48 MP photo stays quick to draw on."""

ClickMode = Literal["point", "box"]


@dataclass(frozen=True)
class Marks:
    """The clicks and the box the next instruction acts on, in the picture's pixels."""

    points: tuple[tuple[int, int], ...] = ()
    """x, y of each click on the object, all on the same one."""
    corner: Optional[tuple[int, int]] = None
    """The first corner of a box whose second corner is not clicked yet."""
    box: Optional[tuple[int, int, int, int]] = None
    """x0, y0, x1, y1 of the box two corner clicks made."""

    @property
    def empty(self) -> bool:
        return not self.points and self.corner is None and self.box is None

    def point(self) -> Optional[list[list[int]]]:
        """Gives back the clicks as `Session.send(point=...)` takes them (None: no click)."""
        return [list(p) for p in self.points] or None

    def boxed(self) -> Optional[list[int]]:
        """Gives back the box as `Session.send(box=...)` takes it (None: no box)."""
        return list(self.box) if self.box is not None else None


def click(marks: Marks, mode: ClickMode, xy: tuple[int, int]) -> Marks:
    """Gives back the marks after a click at `xy`: one more point, or a box corner.

    In box mode the first click sets a corner and the second the opposite corner; a third starts a
    new box. A second corner in line with the first (no area) is not taken: the corner waits.
    """
    if mode == "point":
        return replace(marks, points=(*marks.points, xy))
    if marks.corner is None:
        return replace(marks, corner=xy, box=None)
    (x0, y0), (x1, y1) = marks.corner, xy
    if x0 == x1 or y0 == y1:
        return marks
    return replace(marks, corner=None, box=(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))


def display_scale(size: tuple[int, int]) -> float:
    """Gives back how many picture pixels one pixel of the browser's copy spans (1.0: shown at full size)."""
    return max(1.0, max(size) / DISPLAY_SIDE)


def for_display(picture: Image.Image) -> Image.Image:
    """Gives back the copy of the picture the browser is shown: the picture itself, or a smaller copy."""
    scale = display_scale(picture.size)
    if scale == 1.0:
        return picture
    size = (max(1, round(picture.width / scale)), max(1, round(picture.height / scale)))
    return picture.resize(size, Image.Resampling.LANCZOS)


def picture_xy(index: Any, size: tuple[int, int]) -> tuple[int, int]:
    """Gives back the picture's pixel under a click on the browser's copy (`index`: x, y on that copy)."""
    scale = display_scale(size)
    x, y = (int(float(v) * scale) for v in index[:2])
    return min(max(x, 0), size[0] - 1), min(max(y, 0), size[1] - 1)


def brush_mask(value: Any, size: tuple[int, int]) -> Optional[np.ndarray]:
    """Gives back the region a brush painted, at the picture's `size` (bool, height x width); None: nothing painted.

    Args:
        value: the image editor's value, `{"background", "layers", "composite"}` with RGBA arrays of the
            browser's copy's size (any pixel with some opacity in a layer is painted), or None.
        size: (width, height) of the picture.
    """
    layers = value.get("layers") if isinstance(value, dict) else None
    painted = np.zeros((size[1], size[0]), dtype=bool)
    for layer in layers or []:
        layer = np.asarray(layer)
        if layer.ndim != 3 or layer.shape[2] < 4:
            continue
        alpha = Image.fromarray(layer[..., 3] > 0).resize(size, Image.Resampling.NEAREST)
        painted |= np.asarray(alpha, dtype=bool)
    return painted if painted.any() else None
