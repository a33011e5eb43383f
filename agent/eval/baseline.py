"""The whole-image baseline: the family's instruction editor on the whole picture, turn after turn.

What a user of the bare model gets: each turn's instruction goes to the instruction editor with the
previous turn's output, and its picture is kept whole, with no mask, no paste and no check.
"""

from __future__ import annotations

from typing import Iterator

from PIL import Image

from chatedit.agent.toolbox import Toolbox

BASELINES = ("whole-image",)
"""What `--baseline` takes."""


def whole_image(toolbox: Toolbox, picture: Image.Image, turns: list[str], seed: int) -> Iterator[Image.Image]:
    """Gives back each turn's picture, edited whole by the family's instruction editor from the one before."""
    current = picture
    for number, instruction in enumerate(turns):
        current = toolbox.global_edit(current, instruction, seed=seed + number).image
        yield current
