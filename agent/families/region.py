"""What the 2026 editors share: one set of weights in both roles, working at about 1 MP on crops.

Object edits run the instruction editor on a crop around the object and paste back the grown mask;
removals, additions and backgrounds inpaint a crop; whole-picture edits run at about 1 MP and are
carried onto the photo's own pixels (tools/region_edit.py, tools/full_resolution.py).
"""

from __future__ import annotations

from chatedit.agent.families.base import FIRST, Family, Retry, removal_retry
from chatedit.agent.plan import INSTRUCTION_CATEGORIES
from chatedit.tools import region_edit
from chatedit.tools.inpaint import EditResult


class RegionEditing(Family):
    """A family whose one editor both inpaints and follows instructions, on crops at about 1 MP."""

    edits_objects_by_instruction = True
    working_sides = "about 1 MP, sides in multiples of 16, on a crop around the region"

    def _editor_kwargs(self, retry: Retry) -> dict:
        """Gives back the editors' settings for an attempt; its guidance is on SD's scale (7.5)."""
        scale = (retry.guidance or self.settings.guidance) / self.settings.guidance
        return {
            "steps": retry.steps or self.settings.editor_steps,
            "area": self.models.editor_area,
            "guidance": region_edit.DEFAULT_TRUE_CFG * scale,
        }

    def _wider(self, category: str, tries: int, drawn: bool) -> Retry:
        """Gives back a retry that shows the editor more of the scene around a region (1.5x, 2x, ...)."""
        if category == "remove":
            grown = removal_retry(tries, drawn)
            return Retry(grow=grown.grow, context=1 + 0.5 * tries, changes=(*grown.changes, _context_words(tries)))
        if category in INSTRUCTION_CATEGORIES or category == "global":
            return FIRST
        return Retry(context=1 + 0.5 * tries, changes=(_context_words(tries),))

    def inpaint(self, image, mask, prompt, *, negative_prompt="", seed=0, retry=FIRST, on_step=None) -> EditResult:
        return region_edit.inpaint_region(
            self.models.inpainter,
            image,
            mask,
            prompt,
            negative_prompt=negative_prompt,
            seed=seed,
            on_step=on_step,
            context=region_edit.INPAINT_CONTEXT * retry.context,
            **self._editor_kwargs(retry),
        )

    def remove(self, image, mask, target, *, prompt, dilation, seed=0, retry=FIRST, on_step=None) -> EditResult:
        return region_edit.remove_region(
            self.models.inpainter,
            image,
            mask,
            target,
            prompt=prompt,
            dilation=dilation,
            seed=seed,
            on_step=on_step,
            context=region_edit.INPAINT_CONTEXT * retry.context,
            **self._editor_kwargs(retry),
        )

    def global_edit(self, image, instruction, *, seed=0, retry=FIRST, on_step=None) -> EditResult:
        return region_edit.edit_whole(
            self.models.global_editor, image, instruction, seed=seed, on_step=on_step, **self._editor_kwargs(retry)
        )

    def edit_object(self, image, mask, instruction, *, seed=0, retry=FIRST, on_step=None) -> EditResult:
        return region_edit.edit_region(
            self.models.global_editor,
            image,
            mask,
            instruction,
            seed=seed,
            on_step=on_step,
            context=region_edit.OBJECT_CONTEXT * retry.context,
            **self._editor_kwargs(retry),
        )

    def edit_changed(self, image, instruction, region, *, candidates, seed=0, retry=FIRST, on_step=None) -> EditResult:
        return region_edit.edit_changed_region(
            self.models.global_editor,
            image,
            instruction,
            candidates=candidates,
            region=region,
            seed=seed,
            on_step=on_step,
            **self._editor_kwargs(retry),
        )


def _context_words(tries: int) -> str:
    return f"{1 + 0.5 * tries:g}x the scene around the region on the crop"
