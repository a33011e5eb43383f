"""The `Family` protocol and what every family shares: which editor each kind of step goes to.

A step is edited by one of the toolbox's editing methods (`inpaint`, `remove`, `global_edit`,
`zone_edit`, `edit_object`, `edit_changed`), and each of those by the family. The choice of method
for a step is here, once; a family says only what differs (`edits_objects_by_instruction`, `cannot`).
The toolbox stays the seam in between, so a test or a deployment can swap one capability.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Retry:
    """What one attempt at a step changes from the first, in levers the family's model obeys.

    Each family says which (`Family.retry`): a stronger text guidance for models that follow it, more
    denoising steps or a wider crop for a step-distilled one. `changes` says it in words for the report.
    """

    guidance: Optional[float] = None
    """Text guidance on Stable Diffusion's scale (7.5); None: the family's setting."""
    steps: Optional[int] = None
    """Denoising steps; None: the family's setting."""
    context: float = 1.0
    """The scene around a region on its crop, as a multiple of what the editor takes at first."""
    grow: float = 1.0
    """How far a detected object's mask grows for a removal, as a multiple of the usual."""
    changes: tuple[str, ...] = ()


FIRST = Retry()
"""The first attempt: every lever at the family's setting."""


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

    def inpaint(self, image, mask, prompt, *, negative_prompt="", seed=0, retry=FIRST, on_step=None) -> EditResult:
        raise NotImplementedError

    def remove(self, image, mask, target, *, prompt, dilation, seed=0, retry=FIRST, on_step=None) -> EditResult:
        raise NotImplementedError

    def global_edit(self, image, instruction, *, seed=0, retry=FIRST, on_step=None) -> EditResult:
        raise NotImplementedError

    def edit_object(self, image, mask, instruction, *, seed=0, retry=FIRST, on_step=None) -> EditResult:
        raise InputError(self.cannot("local") or f"The {self.name} models edit objects by inpainting.")

    def edit_changed(self, image, instruction, region, *, candidates, seed=0, retry=FIRST, on_step=None) -> EditResult:
        raise InputError(self.cannot("move") or f"The {self.name} models cannot keep only what an edit changed.")

    def generate(self, prompt: str, size, *, seed=0, on_step=None) -> EditResult:
        raise InputError(
            f"The {self.name} models only edit pictures; drawing one from text alone "
            "needs the modern models (run with --models modern)."
        )

    # ---- retries --------------------------------------------------------------------------------

    def retry(self, category: str, tries: int, *, drawn: bool = False) -> Retry:
        """Gives back what attempt `tries + 1` at a step of `category` changes, in levers this family's model obeys.

        Classic's editors follow text guidance, so each retry guides more strongly; a detected object to
        remove grows over its edges and shadow, more on each retry (a drawn mask is exact).
        """
        if tries == 0:
            return FIRST
        if category == "remove":
            return removal_retry(tries, drawn)
        guidance = self.settings.guidance + 2.0 * tries
        return Retry(guidance=guidance, changes=(f"text guidance {guidance:g} instead of {self.settings.guidance:g}",))

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

        The result's `info["changed"]` lists what this attempt changed from the first (`retry`).

        Args:
            toolbox: whose editing methods make the edit (a test may have swapped one).
            step: the plan step (dict).
            image: the picture the step acts on.
            region: where it acts (bool mask), or None for the whole picture.
            prompt: what to paint (the step's, or the judge's new one).
            tries: attempts made before this one; each retry pulls the family's levers (`retry`).
            seed: this attempt's seed.
            drawn: the region is a mask the user drew (the caller keeps the edit inside it).
            on_step: called after each denoising step.
        """
        retry = self.retry(step["category"], tries, drawn=drawn)
        stage, result = self._attempt(
            toolbox, step, image, region, prompt, drawn, seed=seed, retry=retry, on_step=on_step
        )
        result.info["changed"] = ["a new seed", *retry.changes] if tries else []
        return stage, result

    def _attempt(self, toolbox: Toolbox, step, image, region, prompt, drawn, **kw) -> tuple[str, EditResult]:
        """Gives back the stage and result of `edit_step`: which of the toolbox's editors the step goes to."""
        category = step["category"]
        zone = category == "local" and self.settings.local_mode == "zone"
        instructed = category in INSTRUCTION_CATEGORIES
        # The instruction editor reads the user's words for the step; the inpainter paints the prompt.
        instruction = step.get("instruction") or prompt
        if drawn and (category == "global" or zone or instructed):
            # A drawn mask bounds the instruction editor: the caller keeps its canvas inside that mask alone.
            result = toolbox.global_edit(image, prompt if category == "global" else instruction, **kw)
            return "global_edit", EditResult(image=result.image, mask=None, info={**result.info, "mode": "user mask"})
        if category == "global":
            return "global_edit", toolbox.global_edit(image, prompt, **kw)
        if category == "remove":
            dilation = 0 if drawn else int(M.dilation_for(region) * kw["retry"].grow)
            return "inpaint", toolbox.remove(
                image, region, step.get("target") or "", prompt=prompt, dilation=dilation, **kw
            )
        if zone:
            return "global_edit", toolbox.zone_edit(image, instruction, region, **kw)
        if instructed:
            # Text and pose change the object where it is; a move or a count also changes places beside it.
            near = region if category in ("text", "pose") and region is not None and not region.all() else None
            return "global_edit", toolbox.edit_changed(image, instruction, near, **kw)
        if category in ("local", "replace") and self.edits_objects_by_instruction:
            # The instruction editor sees the object on its crop and keeps its structure; inpainting starts from noise.
            return "global_edit", toolbox.edit_object(image, region, instruction, **kw)
        negative = step.get("target") if category == "replace" else ""
        return "inpaint", toolbox.inpaint(image, region, prompt, negative_prompt=negative or "", **kw)


def removal_retry(tries: int, drawn: bool) -> Retry:
    """Gives back a removal's retry: the detected object's mask grown more over its edges and shadow."""
    if drawn:
        return FIRST
    grow = 1 + 0.5 * tries
    return Retry(grow=grow, changes=(f"the mask grown {grow:g}x as far over the object's edges",))
