"""classic: Stable Diffusion 1.5 inpainting and InstructPix2Pix, the 2022 editors (fp16 on a GPU, 4 GB)."""

from __future__ import annotations

from typing import Optional

from chatedit.agent.families.base import FIRST, Family
from chatedit.agent.plan import INSTRUCTION_CATEGORIES
from chatedit.tools import global_edit, inpaint
from chatedit.tools.inpaint import EditResult


class Classic(Family):
    """Inpaints regions at 512 px and edits whole pictures with InstructPix2Pix at 768 px."""

    name = "classic"
    working_sides = "inpainting at 512 px, instruction edits at 768 px"
    weights_gib = 4.0

    def cannot(self, category: str) -> Optional[str]:
        if category in INSTRUCTION_CATEGORIES:
            return (
                f"This {category} edit needs the modern or max models (run with --models modern or max); "
                "the classic models cannot make it without repainting the object at random."
            )
        return None

    def inpaint(self, image, mask, prompt, *, negative_prompt="", seed=0, retry=FIRST, on_step=None) -> EditResult:
        return inpaint.inpaint(
            self.models.inpainter,
            image,
            mask,
            prompt,
            negative_prompt=negative_prompt,
            steps=self.settings.inpaint_steps,
            guidance=retry.guidance or self.settings.guidance,
            seed=seed,
            on_step=on_step,
        )

    def remove(self, image, mask, target, *, prompt, dilation, seed=0, retry=FIRST, on_step=None) -> EditResult:
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

    def global_edit(self, image, instruction, *, seed=0, retry=FIRST, on_step=None) -> EditResult:
        editor = self.models.global_editor
        return global_edit.global_edit(
            editor,
            image,
            inpaint.fit_prompt(editor, instruction),
            steps=self.settings.global_steps,
            guidance=retry.guidance or self.settings.guidance,
            image_guidance=self.settings.image_guidance,
            max_side=self.settings.global_max_side,
            seed=seed,
            on_step=on_step,
        )
