"""A box or clicks in place of a drawn mask, checked against the picture before any model runs.

Where a drawn mask is taken (`chatedit edit`, `Session.send`, the Images API, MCP), a box and/or
points may mark the region instead: the finder's segmenter outlines the object they mark, and that
mask then acts exactly as a drawn one. Coordinates are the picture's pixels, x to the right and y
down from the top-left corner. A box is four numbers x0, y0, x1, y1; points are numbers in pairs
x, y, all on the one object (several clicks sharpen one outline). Each may be given as numbers
(`[10, 20, 50, 60]`, `[[12, 30], [40, 33]]`) or as text (`"10,20,50,60"`, `"12,30;40,33"`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from chatedit.tools.errors import InputError

MASK_AND_SELECTION = (
    "Give either a drawn mask or a box/point, not both: the mask already marks the region. Leave out the "
    "box and point to edit inside the mask, or leave out the mask to have the object in the box (or under "
    "the point) outlined."
)
"""The refusal of a request that marks its region twice."""

_SEPARATORS = re.compile(r"[\s,;()\[\]]+")


@dataclass(frozen=True)
class Selection:
    """A box and/or points on one object, in the picture's pixels."""

    box: Optional[tuple[float, float, float, float]] = None
    """x0, y0, x1, y1: the top-left and bottom-right corners."""
    points: tuple[tuple[float, float], ...] = ()
    """x, y of each click, all on the object."""


def read_selection(box: Any, point: Any, size: tuple[int, int]) -> Optional[Selection]:
    """Gives back the checked box and points of a request, or None when it gives neither.

    Args:
        box: x0, y0, x1, y1 as numbers or text, or None.
        point: x, y as numbers or text; more pairs for more clicks on the same object; or None.
        size: (width, height) of the picture they are drawn on.

    Raises:
        InputError: a box that is not four numbers, reversed, empty or reaching outside the picture; a
            point that is not a pair of numbers or lies outside the picture.
    """
    if box is None and point is None:
        return None
    return Selection(
        box=None if box is None else _check_box(_numbers(box, "box"), size),
        points=() if point is None else _check_points(_numbers(point, "point"), size),
    )


def _numbers(value: Any, what: str) -> list[float]:
    """Gives back the numbers of a box or point given as text, or as numbers nested in lists."""
    example = "x0,y0,x1,y1" if what == "box" else "x,y"
    refusal = InputError(f"The {what} must be numbers {example} in the picture's pixels; got {value!r}.")
    if isinstance(value, str):
        parts = [part for part in _SEPARATORS.split(value) if part]
    else:
        try:
            # Nested lists of numbers ([[x, y], [x, y]]) flatten; anything else is refused below.
            parts = np.asarray(value, dtype=object).reshape(-1).tolist()
        except ValueError:
            raise refusal from None
        if any(isinstance(part, (str, bytes, bool)) for part in parts):
            raise refusal
    try:
        numbers = [float(part) for part in parts]
    except (TypeError, ValueError):
        raise refusal from None
    if not all(math.isfinite(number) for number in numbers):
        raise InputError(f"The {what} {value!r} holds a value that is not a finite number; give {example}.")
    return numbers


def _check_box(numbers: list[float], size: tuple[int, int]) -> tuple[float, float, float, float]:
    width, height = size
    if len(numbers) != 4:
        raise InputError(
            f"A box is four numbers x0,y0,x1,y1 (its top-left and bottom-right corners); got {len(numbers)} numbers."
        )
    x0, y0, x1, y1 = numbers
    if not (x1 - x0 >= 1 and y1 - y0 >= 1):
        raise InputError(
            f"The box {_shown(numbers)} is empty or reversed: give its top-left corner first, then its "
            "bottom-right one, at least one pixel apart (x0 < x1, y0 < y1)."
        )
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        raise InputError(
            f"The box {_shown(numbers)} reaches outside the {width}x{height} picture; keep x within 0..{width} "
            f"and y within 0..{height}."
        )
    return (x0, y0, x1, y1)


def _check_points(numbers: list[float], size: tuple[int, int]) -> tuple[tuple[float, float], ...]:
    width, height = size
    if not numbers or len(numbers) % 2:
        raise InputError(
            f"A point is two numbers x,y (several points: pairs, e.g. 12,30;40,33); got {len(numbers)} numbers."
        )
    points = tuple((numbers[i], numbers[i + 1]) for i in range(0, len(numbers), 2))
    for x, y in points:
        if not (0 <= x < width and 0 <= y < height):
            raise InputError(
                f"The point {_shown([x, y])} lies outside the {width}x{height} picture; keep x within "
                f"0..{width - 1} and y within 0..{height - 1}."
            )
    return points


def _shown(numbers: list[float]) -> str:
    return "[" + ", ".join(f"{number:g}" for number in numbers) + "]"
