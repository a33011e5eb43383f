"""What the web UI draws over the picture: where the last edit acted, the user's marks, and the
candidates of a "which one?" question, each numbered as the question numbers them.

Drawn on the browser's copy of the picture (`marks.for_display`), never on the picture itself: the
session's versions stay as they were made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from chatedit.agent.ui.marks import Marks, display_scale, for_display

MASK_TINT = (255, 0, 170)
"""Where the last edit was allowed to change pixels: tinted and outlined in this colour."""
MASK_OPACITY = 0.4
MARK_COLOUR = (0, 220, 120)
"""The user's clicks and box."""
CANDIDATE_COLOUR = (255, 200, 0)
"""The boxes of a question's candidates."""
THUMBNAIL_SIDE = 192
NO_MARKS = Marks()


def overlay(
    picture: Image.Image,
    marks: Marks = NO_MARKS,
    masks: Sequence[np.ndarray] = (),
    candidates: Sequence[dict] = (),
) -> Image.Image:
    """Gives back the browser's copy of the picture with the masks, candidates and marks drawn over it.

    Args:
        picture: the current picture, at its own size.
        marks: the user's clicks and box, in the picture's pixels.
        masks: regions (bool, the picture's size) the last edit changed, tinted and outlined.
        candidates: a question's candidates (`Session.candidates()`), drawn as boxes numbered from 1.
    """
    shown = for_display(picture).convert("RGB")
    scale = display_scale(picture.size)
    if masks:
        shown = _tinted(shown, np.logical_or.reduce([np.asarray(m, dtype=bool) for m in masks]))
    draw = ImageDraw.Draw(shown)
    line = max(2, round(max(shown.size) / 300))
    font = ImageFont.load_default(size=max(12, round(max(shown.size) / 30)))
    for number, candidate in enumerate(candidates, 1):
        x0, y0, x1, y1 = (v / scale for v in candidate["box"])
        draw.rectangle((x0, y0, x1, y1), outline=CANDIDATE_COLOUR, width=line)
        label = f" {number} "
        left, top, right, bottom = draw.textbbox((x0, y0), label, font=font)
        draw.rectangle((left, top, right + line, bottom + line), fill=CANDIDATE_COLOUR)
        draw.text((x0, y0), label, fill=(0, 0, 0), font=font)
    _draw_marks(draw, marks, scale, line)
    return shown


def _tinted(shown: Image.Image, mask: np.ndarray) -> Image.Image:
    """Gives back the image with the mask (at the picture's size) tinted and its edge outlined."""
    region = Image.fromarray(mask).convert("L").resize(shown.size, Image.Resampling.NEAREST)
    tint = Image.new("RGB", shown.size, MASK_TINT)
    inside = region.point(lambda v: round(v * MASK_OPACITY))
    shown = Image.composite(tint, shown, inside)
    edge = np.asarray(region) > np.asarray(region.filter(ImageFilter.MinFilter(3)))
    shown.paste(tint, mask=Image.fromarray(edge))
    return shown


def _draw_marks(draw: ImageDraw.ImageDraw, marks: Marks, scale: float, line: int) -> None:
    radius = 3 * line
    for x, y in marks.points:
        cx, cy = x / scale, y / scale
        draw.ellipse(
            (cx - radius, cy - radius, cx + radius, cy + radius), fill=MARK_COLOUR, outline="white", width=line
        )
    if marks.corner is not None:
        cx, cy = marks.corner[0] / scale, marks.corner[1] / scale
        draw.line((cx - 2 * radius, cy, cx + 2 * radius, cy), fill=MARK_COLOUR, width=line)
        draw.line((cx, cy - 2 * radius, cx, cy + 2 * radius), fill=MARK_COLOUR, width=line)
    if marks.box is not None:
        draw.rectangle(tuple(v / scale for v in marks.box), outline=MARK_COLOUR, width=line)


def thumbnail(picture: Image.Image, side: int = THUMBNAIL_SIDE) -> Image.Image:
    """Gives back a small copy of the picture for the history strip."""
    small = picture.copy()
    small.thumbnail((side, side), Image.Resampling.LANCZOS)
    return small


def candidate_at(candidates: Sequence[dict], xy: tuple[int, int]) -> Optional[int]:
    """Gives back the number (from 1) of the smallest candidate box holding the pixel `xy`, or None."""
    x, y = xy
    inside = [
        (abs((b[2] - b[0]) * (b[3] - b[1])), number)
        for number, b in ((n, c["box"]) for n, c in enumerate(candidates, 1))
        if b[0] <= x <= b[2] and b[1] <= y <= b[3]
    ]
    return min(inside)[1] if inside else None
