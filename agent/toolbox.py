"""The agent's hands in one object: the tools of `tools/` bound to one ModelSet and its settings.

Graph nodes call these methods instead of the tools directly, so a test (or a deployment) can swap a
single capability, e.g. a scripted detector, without touching the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from PIL import Image

from chatedit.agent.config import EditSettings
from chatedit.agent.families import Family, family_of
from chatedit.agent.families.base import FIRST, Retry, StepCallback
from chatedit.tools import blend
from chatedit.tools import masks as M
from chatedit.tools.detect import Detection
from chatedit.tools.errors import InputError
from chatedit.tools.finders import Finder, finder_of
from chatedit.tools.inpaint import EditResult
from chatedit.tools.models import ModelSet
from chatedit.tools.selection import Selection


@dataclass
class Toolbox:
    """Tools bound to loaded models. Every method takes and returns plain values."""

    models: ModelSet
    settings: EditSettings = field(default_factory=EditSettings)

    def detect(self, image: Image.Image, phrases: list[str]) -> dict[str, list[Detection]]:
        """Gives back detections per phrase (empty list: not found); SAM 3's carry their masks."""
        return self.finder.detect(
            image, phrases, box_threshold=self.settings.box_threshold, text_threshold=self.settings.text_threshold
        )

    def segment_box(self, image: Image.Image, box) -> np.ndarray:
        """Gives back the finder's mask (bool, image size) of the object in `box`."""
        return self.finder.segment(image, box=tuple(box))

    def segment_selection(self, image: Image.Image, selection: Selection) -> np.ndarray:
        """Gives back the mask (bool, image size) of the object a user's box and/or clicks mark.

        A box the segmenter outlines nothing in is itself the region; clicks that outline nothing are refused.

        Raises:
            InputError: the points mark no object.
        """
        mask = self.finder.segment(image, box=selection.box, points=selection.points)
        if mask.any():
            return mask
        if selection.box is not None:
            return M.box_mask((image.height, image.width), selection.box)
        raise InputError(
            "Nothing was outlined at the point(s) given; click on the object itself, or give a box around it "
            "or a drawn mask."
        )

    def candidates(self, image: Image.Image) -> list[np.ndarray]:
        """Gives back the finder's segments of the whole image, for ZONE's Region-IoU."""
        return self.finder.candidates(image)

    family: Family = field(init=False)
    """How these models edit each kind of step (agent/families)."""

    finder: Finder = field(init=False)
    """What finds named objects and outlines boxes and clicks on these models (tools/finders.py)."""

    def __post_init__(self) -> None:
        self.family = family_of(self.models, self.settings)
        self.finder = finder_of(self.models)

    @property
    def edits_by_instruction(self) -> bool:
        """Whether the family edits objects with its instruction editor (modern, max): see `edit_object`."""
        return self.family.edits_objects_by_instruction

    def edit_step(
        self, step: dict, image: Image.Image, region: Optional[np.ndarray], **kwargs
    ) -> tuple[str, EditResult]:
        """Gives back the timing stage and result of one attempt at `step` (see `Family.edit_step`)."""
        return self.family.edit_step(self, step, image, region, **kwargs)

    def inpaint(
        self, image, mask, prompt, *, negative_prompt="", seed=0, retry: Retry = FIRST, on_step: StepCallback = None
    ) -> EditResult:
        """Gives back the image with `mask` repainted from `prompt`, and the paste mask used."""
        return self.family.inpaint(
            image, mask, prompt, negative_prompt=negative_prompt, seed=seed, retry=retry, on_step=on_step
        )

    def remove(
        self, image, mask, target, *, prompt, dilation, seed=0, retry: Retry = FIRST, on_step: StepCallback = None
    ) -> EditResult:
        """Gives back the image with the object under `mask` replaced by what is behind it."""
        return self.family.remove(
            image, mask, target, prompt=prompt, dilation=dilation, seed=seed, retry=retry, on_step=on_step
        )

    def global_edit(
        self, image, instruction, *, seed=0, retry: Retry = FIRST, on_step: StepCallback = None
    ) -> EditResult:
        """Gives back the whole image edited by the instruction editor, at the input's size and detail."""
        return self.family.global_edit(image, instruction, seed=seed, retry=retry, on_step=on_step)

    def zone_edit(
        self, image, instruction, region, *, seed=0, retry: Retry = FIRST, on_step: StepCallback = None
    ) -> EditResult:
        """Gives back an instruction edit kept only where it changed the located region (ZONE)."""
        canvas = self.global_edit(image, instruction, seed=seed, retry=retry, on_step=on_step).image
        layer = blend.zone_layer(image, canvas, self.candidates(canvas))
        edited, alpha = blend.composite(image, canvas, blend.keep_near(layer, region))
        return EditResult(image=edited, mask=alpha, info={"mode": "zone"})

    def edit_object(
        self, image, mask, instruction, *, seed=0, retry: Retry = FIRST, on_step: StepCallback = None
    ) -> EditResult:
        """Gives back the object under `mask` changed by the instruction editor on its crop (modern, max: local, replace)."""
        return self.family.edit_object(image, mask, instruction, seed=seed, retry=retry, on_step=on_step)

    def edit_changed(
        self, image, instruction, region=None, *, seed=0, retry: Retry = FIRST, on_step: StepCallback = None
    ) -> EditResult:
        """Gives back an instruction edit kept only where it changed the picture (text, move, count, pose), near `region`."""
        return self.family.edit_changed(
            image, instruction, region, candidates=self.candidates, seed=seed, retry=retry, on_step=on_step
        )

    @property
    def can_generate(self) -> bool:
        """Whether the family draws pictures from text alone (modern does; classic and max only edit)."""
        return self.family.can_generate

    def generate(
        self, prompt: str, size: Optional[tuple[int, int]] = None, *, seed=0, on_step: StepCallback = None
    ) -> EditResult:
        """Gives back a picture drawn from `prompt` at `size` (width, height; None: the model's own)."""
        return self.family.generate(prompt, size, seed=seed, on_step=on_step)

    def cannot(self, category: str) -> Optional[str]:
        """Gives back why this family cannot make a step of `category` (a sentence for the answer), or None."""
        return self.family.cannot(category)
