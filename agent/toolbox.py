"""The agent's hands in one object: the tools of `tools/` bound to one ModelSet and its settings.

Graph nodes call these methods instead of the tools directly, so a test (or a deployment) can swap a
single capability, e.g. a scripted detector, without touching the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from PIL import Image

from chatedit.agent.config import EditSettings
from chatedit.agent.plan import INSTRUCTION_CATEGORIES
from chatedit.tools import blend, detect, global_edit, inpaint, region_edit, segment
from chatedit.tools.detect import Detection
from chatedit.tools.errors import InputError
from chatedit.tools.inpaint import EditResult
from chatedit.tools.models import ModelSet

StepCallback = Optional[Callable[[int, int], None]]


@dataclass
class Toolbox:
    """Tools bound to loaded models. Every method takes and returns plain values."""

    models: ModelSet
    settings: EditSettings = field(default_factory=EditSettings)

    def detect(self, image: Image.Image, phrases: list[str]) -> dict[str, list[Detection]]:
        """Gives back detections per phrase (empty list: not found)."""
        return detect.detect(
            self.models.detector,
            image,
            phrases,
            box_threshold=self.settings.box_threshold,
            text_threshold=self.settings.text_threshold,
        )

    def segment_box(self, image: Image.Image, box) -> np.ndarray:
        """Gives back the SAM mask (bool, image size) of the object in `box`."""
        return segment.segment(self.models.segmenter, image, boxes=[list(box)])[0]

    def candidates(self, image: Image.Image) -> list[np.ndarray]:
        """Gives back SAM segments of the whole image, for ZONE's Region-IoU."""
        return segment.segment_candidates(self.models.segmenter, image)

    @property
    def edits_by_instruction(self) -> bool:
        """Whether the family edits objects with its instruction editor (modern, max): see `edit_object`."""
        return self.models.family != "classic"

    def _editor_kwargs(self, guidance) -> dict:
        """Gives back the modern and max editors' settings; the graph's guidance is on SD's scale (7.5)."""
        scale = (guidance or self.settings.guidance) / self.settings.guidance
        return {
            "steps": self.settings.editor_steps,
            "area": self.models.editor_area,
            "guidance": region_edit.DEFAULT_TRUE_CFG * scale,
        }

    def inpaint(
        self, image, mask, prompt, *, negative_prompt="", seed=0, guidance=None, on_step: StepCallback = None
    ) -> EditResult:
        """Gives back the image with `mask` repainted from `prompt`, and the paste mask used."""
        if self.edits_by_instruction:
            return region_edit.inpaint_region(
                self.models.inpainter,
                image,
                mask,
                prompt,
                negative_prompt=negative_prompt,
                seed=seed,
                on_step=on_step,
                **self._editor_kwargs(guidance),
            )
        return inpaint.inpaint(
            self.models.inpainter,
            image,
            mask,
            prompt,
            negative_prompt=negative_prompt,
            steps=self.settings.inpaint_steps,
            guidance=guidance or self.settings.guidance,
            seed=seed,
            on_step=on_step,
        )

    def remove(self, image, mask, target, *, prompt, dilation, seed=0, on_step: StepCallback = None) -> EditResult:
        """Gives back the image with the object under `mask` replaced by what is behind it."""
        if self.edits_by_instruction:
            return region_edit.remove_region(
                self.models.inpainter,
                image,
                mask,
                target,
                prompt=prompt,
                dilation=dilation,
                seed=seed,
                on_step=on_step,
                **self._editor_kwargs(None),
            )
        return inpaint.remove(
            self.models.inpainter,
            image,
            mask,
            target,
            prompt=prompt,
            dilation=dilation,
            steps=self.settings.inpaint_steps,
            guidance=self.settings.guidance,
            seed=seed,
            on_step=on_step,
        )

    def global_edit(self, image, instruction, *, seed=0, guidance=None, on_step: StepCallback = None) -> EditResult:
        """Gives back the whole image edited by the instruction editor, at the input's size and detail."""
        if self.edits_by_instruction:
            return region_edit.edit_whole(
                self.models.global_editor,
                image,
                instruction,
                seed=seed,
                on_step=on_step,
                **self._editor_kwargs(guidance),
            )
        editor = self.models.global_editor
        return global_edit.global_edit(
            editor,
            image,
            inpaint.fit_prompt(editor, instruction),
            steps=self.settings.global_steps,
            guidance=guidance or self.settings.guidance,
            image_guidance=self.settings.image_guidance,
            max_side=self.settings.global_max_side,
            seed=seed,
            on_step=on_step,
        )

    def zone_edit(
        self, image, instruction, region, *, seed=0, guidance=None, on_step: StepCallback = None
    ) -> EditResult:
        """Gives back an instruction edit kept only where it changed the located region (ZONE)."""
        canvas = self.global_edit(image, instruction, seed=seed, guidance=guidance, on_step=on_step).image
        layer = blend.zone_layer(image, canvas, self.candidates(canvas))
        edited, alpha = blend.composite(image, canvas, blend.keep_near(layer, region))
        return EditResult(image=edited, mask=alpha, info={"mode": "zone"})

    def edit_object(
        self, image, mask, instruction, *, seed=0, guidance=None, on_step: StepCallback = None
    ) -> EditResult:
        """Gives back the object under `mask` changed by the instruction editor on its crop (modern, max: local, replace)."""
        return region_edit.edit_region(
            self.models.global_editor,
            image,
            mask,
            instruction,
            seed=seed,
            on_step=on_step,
            **self._editor_kwargs(guidance),
        )

    def edit_changed(
        self, image, instruction, region=None, *, seed=0, guidance=None, on_step: StepCallback = None
    ) -> EditResult:
        """Gives back an instruction edit kept only where it changed the picture (text, move, count, pose), near `region`."""
        return region_edit.edit_changed_region(
            self.models.global_editor,
            image,
            instruction,
            candidates=self.candidates,
            region=region,
            seed=seed,
            on_step=on_step,
            **self._editor_kwargs(guidance),
        )

    @property
    def can_generate(self) -> bool:
        """Whether the family draws pictures from text alone: modern (FLUX.2 klein) does; classic and max only edit.

        Qwen-Image-Edit's pipeline reads its reference picture's size first, so it cannot run without one.
        """
        return self.models.family == "modern"

    def generate(
        self, prompt: str, size: Optional[tuple[int, int]] = None, *, seed=0, on_step: StepCallback = None
    ) -> EditResult:
        """Gives back a picture drawn from `prompt` at `size` (width, height; None: the model's own), modern only."""
        if not self.can_generate:
            raise InputError(
                f"The {self.models.family} models only edit pictures; drawing one from text alone "
                "needs the modern models (run with --models modern)."
            )
        return region_edit.generate(
            self.models.global_editor,
            prompt,
            size,
            seed=seed,
            on_step=on_step,
            steps=self.settings.editor_steps,
            area=self.models.editor_area,
        )

    def cannot(self, category: str) -> Optional[str]:
        """Gives back why this family cannot make a step of `category` (a sentence for the answer), or None."""
        if category in INSTRUCTION_CATEGORIES and not self.edits_by_instruction:
            return (
                f"This {category} edit needs the modern or max models (run with --models modern or max); "
                "the classic models cannot make it without repainting the object at random."
            )
        return None
