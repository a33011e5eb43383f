"""The checkpoint id of every model role, per family: settings, so a model is swapped without code changes.

Kept apart from tools/models.py, which imports torch, so that settings can be read without it.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class Checkpoints(BaseSettings):
    """Checkpoint ids per role; set CHATEDIT_DETECTOR, CHATEDIT_SEGMENTER, ... to swap one."""

    model_config = SettingsConfigDict(env_prefix="CHATEDIT_", extra="ignore")

    detector: str = "IDEA-Research/grounding-dino-tiny"
    segmenter: str = "facebook/sam-vit-base"
    inpainter: str = "stable-diffusion-v1-5/stable-diffusion-inpainting"
    global_editor: str = "timbrooks/instruct-pix2pix"
    modern_editor: str = "black-forest-labs/FLUX.2-klein-4B"
    """Both editing roles of the `modern` family (CHATEDIT_MODERN_EDITOR)."""
    max_editor: str = "Qwen/Qwen-Image-Edit-2511"
    """Both editing roles of the `max` family (CHATEDIT_MAX_EDITOR)."""
    sam3: str = "facebook/sam3"
    """Both finding roles, detector and segmenter, of the `sam3` finder (CHATEDIT_SAM3); gated under the SAM License."""

    def for_role(self, family: str, role: str, finder: str = "dino-sam") -> str:
        """Gives back the checkpoint id that plays `role` in `family` with `finder` (`dino-sam` or `sam3`)."""
        if family != "classic" and role in ("inpainter", "global_editor"):
            return getattr(self, f"{family}_editor")
        if finder == "sam3" and role in ("detector", "segmenter"):
            return self.sam3
        return getattr(self, role)
