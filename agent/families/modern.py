"""modern: FLUX.2 klein 4B (Apache-2.0), 4 distilled steps; the only family that also draws from text."""

from __future__ import annotations

from chatedit.agent.families.region import RegionEditing
from chatedit.tools import region_edit
from chatedit.tools.inpaint import EditResult


class Modern(RegionEditing):
    """FLUX.2 klein: `Flux2KleinPipeline` with the picture as reference, and its inpainting pipeline."""

    name = "modern"
    can_generate = True
    weights_gib = 16.0
    """3.88 B (transformer) + 4.02 B (Qwen3-4B text encoder) parameters in bf16."""

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
