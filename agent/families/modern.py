"""modern: FLUX.2 klein 4B (Apache-2.0), 4 distilled steps; the only family that also draws from text."""

from __future__ import annotations

from dataclasses import replace

from chatedit.agent.families.base import FIRST, Retry
from chatedit.agent.families.region import RegionEditing
from chatedit.tools import region_edit
from chatedit.tools.inpaint import EditResult


class Modern(RegionEditing):
    """FLUX.2 klein: `Flux2KleinPipeline` with the picture as reference, and its inpainting pipeline."""

    name = "modern"
    can_generate = True
    weights_gib = 16.0
    """3.88 B (transformer) + 4.02 B (Qwen3-4B text encoder) parameters in bf16."""

    def retry(self, category: str, tries: int, *, drawn: bool = False) -> Retry:
        """Distilled klein ignores text guidance: a retry runs 2 more denoising steps each time, and
        shows the editor more of the scene around a region."""
        if tries == 0:
            return FIRST
        first = region_edit.editor_steps(self.models.global_editor, self.settings.editor_steps)
        steps = first + 2 * tries
        wider = self._wider(category, tries, drawn)
        return replace(wider, steps=steps, changes=(f"{steps} denoising steps instead of {first}", *wider.changes))

    def generate(self, prompt: str, size, *, seed=0, on_step=None) -> EditResult:
        return region_edit.generate(
            self.models.global_editor,
            prompt,
            size,
            seed=seed,
            on_step=on_step,
            steps=self.settings.editor_steps,
            area=self.models.editor_area,
        )
