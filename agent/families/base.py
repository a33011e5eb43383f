"""The `Family` protocol and what every family shares: which editor each kind of step goes to.

A step is edited by one of the toolbox's editing methods (`inpaint`, `remove`, `global_edit`,
`zone_edit`, `edit_object`, `edit_changed`), and each of those by the family. The choice of method
for a step is here, once; a family says only what differs (`edits_objects_by_instruction`, `cannot`).
The toolbox stays the seam in between, so a test or a deployment can swap one capability.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Optional

import numpy as np
from PIL import Image

from chatedit.agent.config import EditSettings
from chatedit.agent.plan import INSTRUCTION_CATEGORIES
from chatedit.tools import masks as M
from chatedit.tools.diffusion_utils import StepCallback as ProgressCallback
from chatedit.tools.errors import InputError
from chatedit.tools.inpaint import EditResult
from chatedit.tools.models import ModelSet

if TYPE_CHECKING:
    from chatedit.agent.toolbox import Toolbox

StepCallback = Optional[ProgressCallback]


class Family:
    """One model family: its models, how it edits each kind of step, and what it cannot do.

    Subclasses give the editing methods; `edit_step` picks among them by the step's kind.
    """

    name: ClassVar[str]
    edits_objects_by_instruction: ClassVar[bool] = False
    """Object edits (local, replace) run the instruction editor on a crop around the object, which
    keeps its structure; otherwise they repaint it by inpainting."""
    can_generate: ClassVar[bool] = False
    """Whether the family draws pictures from text alone."""
    working_sides: ClassVar[str]
    """The editors' working sizes, in words (for reports and `models list`)."""
    weights_gib: ClassVar[float]
    """Weights the editors hold in GPU memory at the family's dtype, from parameter counts (BENCHMARKS.md)."""

    def __init__(self, models: ModelSet, settings: EditSettings):
        self.models = models
        self.settings = settings

    # ---- what the family can do ----------------------------------------------------------------

    def cannot(self, category: str) -> Optional[str]:
        """Gives back why this family cannot make a step of `category` (a sentence for the answer), or None."""
        return None

    # ---- the editors ----------------------------------------------------------------------------

    def inpaint(self, image, mask, prompt, *, negative_prompt="", seed=0, guidance=None, on_step=None) -> EditResult:
        raise NotImplementedError

    def remove(self, image, mask, target, *, prompt, dilation, seed=0, on_step=None) -> EditResult:
        raise NotImplementedError

    def global_edit(self, image, instruction, *, seed=0, guidance=None, on_step=None) -> EditResult:
        raise NotImplementedError

    def edit_object(self, image, mask, instruction, *, seed=0, guidance=None, on_step=None) -> EditResult:
        raise InputError(self.cannot("local") or f"The {self.name} models edit objects by inpainting.")

    def edit_changed(
        self, image, instruction, region, *, candidates, seed=0, guidance=None, on_step=None
    ) -> EditResult:
        raise InputError(self.cannot("move") or f"The {self.name} models cannot keep only what an edit changed.")

    def generate(self, prompt: str, size, *, seed=0, on_step=None) -> EditResult:
        raise InputError(
            f"The {self.name} models only edit pictures; drawing one from text alone "
            "needs the modern models (run with --models modern)."
        )

    # ---- one step -------------------------------------------------------------------------------

    def edit_step(
        self,
        toolbox: Toolbox,
        step: dict,
        image: Image.Image,
        region: Optional[np.ndarray],
        *,
        prompt: str,
        tries: int,
        seed: int,
        drawn: bool,
        on_step: StepCallback,
    ) -> tuple[str, EditResult]:
        """Gives back the timing stage and the result of one attempt at `step`, through the toolbox's editors.

        Args:
            toolbox: whose editing methods make the edit (a test may have swapped one).
            step: the plan step (dict).
            image: the picture the step acts on.
            region: where it acts (bool mask), or None for the whole picture.
            prompt: what to paint (the step's, or the judge's new one).
            tries: attempts made before this one; each retry guides the text more strongly.
            seed: this attempt's seed.
            drawn: the region is a mask the user drew (the caller keeps the edit inside it).
            on_step: called after each denoising step.
        """
        category = step["category"]
        zone = category == "local" and self.settings.local_mode == "zone"
        instructed = category in INSTRUCTION_CATEGORIES
        # The instruction editor reads the user's words for the step; the inpainter paints the prompt.
        instruction = step.get("instruction") or prompt
        # Stronger text guidance on each retry: the usual failure is an edit too weak to see.
        guidance = 7.5 + 2.0 * tries
        if drawn and (category == "global" or zone or instructed):
            # A drawn mask bounds the instruction editor: the caller keeps its canvas inside that mask alone.
            text = prompt if category == "global" else instruction
            result = toolbox.global_edit(image, text, seed=seed, guidance=guidance, on_step=on_step)
            return "global_edit", EditResult(image=result.image, mask=None, info={"mode": "user mask"})
        if category == "global":
            return "global_edit", toolbox.global_edit(image, prompt, seed=seed, guidance=guidance, on_step=on_step)
        if category == "remove":
            # A detected object grows over its edges and shadow, more on each retry; a drawn mask is exact.
            dilation = 0 if drawn else int(M.dilation_for(region) * (1 + 0.5 * tries))
            return "inpaint", toolbox.remove(
                image, region, step.get("target") or "", prompt=prompt, dilation=dilation, seed=seed, on_step=on_step
            )
        if zone:
            return "global_edit", toolbox.zone_edit(image, instruction, region, seed=seed, on_step=on_step)
        if instructed:
            # Text and pose change the object where it is; a move or a count also changes places beside it.
            near = region if category in ("text", "pose") and region is not None and not region.all() else None
            return "global_edit", toolbox.edit_changed(
                image, instruction, near, seed=seed, guidance=guidance, on_step=on_step
            )
        if category in ("local", "replace") and self.edits_objects_by_instruction:
            # The instruction editor sees the object on its crop and keeps its structure; inpainting starts from noise.
            return "global_edit", toolbox.edit_object(
                image, region, instruction, seed=seed, guidance=guidance, on_step=on_step
            )
        negative = step.get("target") if category == "replace" else ""
        return "inpaint", toolbox.inpaint(
            image, region, prompt, negative_prompt=negative or "", seed=seed, on_step=on_step
        )
