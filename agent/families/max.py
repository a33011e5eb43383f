"""max: Qwen-Image-Edit-2511 (Apache-2.0), 40 steps with true CFG 4.0; edits only.

Its pipeline reads the reference picture's size first, so it cannot draw without one.
"""

from __future__ import annotations

from dataclasses import replace

from chatedit.agent.families.base import FIRST, Retry
from chatedit.agent.families.region import RegionEditing
from chatedit.tools import region_edit


class Max(RegionEditing):
    """Qwen-Image-Edit: `QwenImageEditPlusPipeline` and `QwenImageEditInpaintPipeline` on its weights."""

    name = "max"
    weights_gib = 58.0
    """20.4 B (transformer) + 8.3 B (Qwen2.5-VL-7B text encoder) parameters in bf16."""

    def retry(self, category: str, tries: int, *, drawn: bool = False) -> Retry:
        """Qwen-Image-Edit follows true classifier-free guidance: a retry raises it (4.0, 5.0, 6.0, ...),
        and shows the editor more of the scene around a region."""
        if tries == 0:
            return FIRST
        true_cfg = region_edit.DEFAULT_TRUE_CFG + 1.0 * tries
        # `_editor_kwargs` maps guidance on SD's scale onto true CFG by the ratio to the setting.
        guidance = self.settings.guidance * true_cfg / region_edit.DEFAULT_TRUE_CFG
        wider = self._wider(category, tries, drawn)
        words = f"true CFG {true_cfg:g} instead of {region_edit.DEFAULT_TRUE_CFG:g}"
        return replace(wider, guidance=guidance, changes=(words, *wider.changes))
