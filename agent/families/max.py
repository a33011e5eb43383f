"""max: Qwen-Image-Edit-2511 (Apache-2.0), 40 steps with true CFG 4.0; edits only.

Its pipeline reads the reference picture's size first, so it cannot draw without one.
"""

from __future__ import annotations

from chatedit.agent.families.region import RegionEditing


class Max(RegionEditing):
    """Qwen-Image-Edit: `QwenImageEditPlusPipeline` and `QwenImageEditInpaintPipeline` on its weights."""

    name = "max"
    weights_gib = 58.0
    """20.4 B (transformer) + 8.3 B (Qwen2.5-VL-7B text encoder) parameters in bf16."""
