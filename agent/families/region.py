"""What the 2026 editors share: one set of weights in both roles, working at about 1 MP on crops.

Object edits run the instruction editor on a crop around the object and paste back the grown mask;
removals, additions and backgrounds inpaint a crop; whole-picture edits run at about 1 MP and are
carried onto the photo's own pixels (tools/region_edit.py, tools/full_resolution.py).
"""

from __future__ import annotations

from chatedit.agent.families.base import Family
from chatedit.tools import region_edit
from chatedit.tools.inpaint import EditResult


class RegionEditing(Family):
    """A family whose one editor both inpaints and follows instructions, on crops at about 1 MP."""

    edits_objects_by_instruction = True
    working_sides = "about 1 MP, sides in multiples of 16, on a crop around the region"

    def _editor_kwargs(self, guidance) -> dict:
        """Gives back the editors' settings; the graph's guidance is on SD's scale (7.5)."""
        scale = (guidance or self.settings.guidance) / self.settings.guidance
        return {
            "steps": self.settings.editor_steps,
            "area": self.models.editor_area,
            "guidance": region_edit.DEFAULT_TRUE_CFG * scale,
        }

    def inpaint(self, image, mask, prompt, *, negative_prompt="", seed=0, guidance=None, on_step=None) -> EditResult:
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

    def remove(self, image, mask, target, *, prompt, dilation, seed=0, on_step=None) -> EditResult:
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

    def global_edit(self, image, instruction, *, seed=0, guidance=None, on_step=None) -> EditResult:
        return region_edit.edit_whole(
            self.models.global_editor, image, instruction, seed=seed, on_step=on_step, **self._editor_kwargs(guidance)
        )

    def edit_object(self, image, mask, instruction, *, seed=0, guidance=None, on_step=None) -> EditResult:
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
        self, image, instruction, region, *, candidates, seed=0, guidance=None, on_step=None
    ) -> EditResult:
        return region_edit.edit_changed_region(
            self.models.global_editor,
            image,
            instruction,
            candidates=candidates,
            region=region,
            seed=seed,
            on_step=on_step,
            **self._editor_kwargs(guidance),
        )
