"""Where a step acts: the mask the user drew, the named target, a place for a new object, or the background.

`find_region` gives back a typed result, `Found`, `NotFound` or `Ask` (several candidates and no way
to choose: a question for the user), and changes nothing it is given; the `locate` node turns the
result into state (agent/nodes/).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Union

import numpy as np
from PIL import Image

from chatedit.agent import choose, refer
from chatedit.agent.plan import INSTRUCTION_CATEGORIES
from chatedit.agent.toolbox import Toolbox
from chatedit.tools import locate as L
from chatedit.tools import masks as M
from chatedit.tools.detect import Detection
from chatedit.tools.geometry import box_iou

SALIENT_PHRASES = ["person", "animal", "main object"]
"""What `background` keeps when the instruction names no subject."""
POINTED_IOU = 0.3
"""Overlap (IoU) a detection needs with the planner's box to be the object it points at."""


@dataclass
class Found:
    """Where a step acts: a bool mask of the picture's size and its box (None: no box to check)."""

    mask: np.ndarray
    box: Optional[list[float]]


@dataclass
class NotFound:
    """The named target is not in the picture; the step is left out and the answer says so."""

    target: str
    message: str


@dataclass
class Ask:
    """Several candidates and nothing in the words to choose among them: the user is asked which."""

    target: str
    candidates: list[Detection]
    question: str


Located = Union[Found, NotFound, Ask]


def the(target: str) -> str:
    """Gives back the target with "the" in front, unless it already has an article."""
    return (
        f"the {target}" if target and not target.lower().startswith(("the ", "a ", "an ")) else (target or "the target")
    )


def find_region(
    step: dict,
    image: Image.Image,
    toolbox: Toolbox,
    *,
    drawn: Optional[np.ndarray] = None,
    earlier_boxes: Optional[list] = None,
    first_try: bool = True,
    choice: Optional[list] = None,
    words: str = "",
) -> Located:
    """Gives back where `step` acts on `image`.

    Args:
        step: the plan step (dict).
        image: the picture the step acts on.
        toolbox: the finder (detector, segmenter) and its settings.
        drawn: the mask the user drew (float or bool, picture size): every step acts there.
        earlier_boxes: boxes of this step's earlier attempts (an addition goes somewhere else).
        first_try: whether no attempt was made yet (the planner's box is used only then).
        choice: boxes the user picked when asked which one.
        words: the step's instruction: what it says of the target besides the planner's target phrase
            ("the cup next to the laptop" planned as "cup") picks among several candidates.
    """
    category = step["category"]
    if drawn is not None:
        return _drawn_region(drawn)
    if category == "add":
        return _placement(step, image, toolbox, earlier_boxes or [], first_try)
    if category == "background":
        return _background_region(step, image, toolbox)
    if category in INSTRUCTION_CATEGORIES and not step.get("target"):
        # Nothing named to find: the instruction editor may act anywhere, and ZONE keeps what changed.
        return Found(np.ones((image.height, image.width), bool), None)
    return _target_region(step, image, toolbox, choice, words)


def _drawn_region(mask: np.ndarray) -> Found:
    """Gives back the user's drawn mask as the region, boxed by its extent."""
    drawn = mask > 0.5
    box = M.bbox(drawn)
    return Found(drawn, [float(v) for v in box] if box else None)


def _placement(step: dict, image: Image.Image, toolbox: Toolbox, earlier_boxes: list, first_try: bool) -> Found:
    """Gives back a place for a new object: the planner's box, else beside its anchor."""
    width, height = image.size
    if step.get("box") and first_try:
        box = L.parse_box(step["box"], width, height)
    else:
        anchor_name = step.get("anchor")
        anchors = toolbox.detect(image, [anchor_name]).get(anchor_name, []) if anchor_name else []
        # Earlier tries' boxes count as obstacles, so a retry lands somewhere else.
        box = L.place_object(
            (width, height),
            step["prompt"],
            step.get("relation"),
            anchors[0].box if anchors else None,
            earlier_boxes,
            anchor_name=anchor_name,
        )
    return Found(L.add_mask((width, height), box), list(box))


def _background_region(step: dict, image: Image.Image, toolbox: Toolbox) -> Found:
    """Gives back everything but the subject (the named one, else the likeliest salient object)."""
    subject = step.get("target")
    found = toolbox.detect(image, [subject] if subject else SALIENT_PHRASES)
    best = max((d for dets in found.values() for d in dets), key=lambda d: d.score, default=None)
    if best is None:
        # Nothing to keep in front: the whole picture is background.
        return Found(np.ones((image.height, image.width), bool), None)
    kept = _outline(best, image, toolbox)
    if not kept.any() or kept.all():
        kept = M.box_mask((image.height, image.width), best.box)
    return Found(L.background_mask(kept), list(best.box))


def _question(noun: str, candidates: list, size: tuple[int, int], reason: str = "") -> str:
    """Gives back the question that asks which of the candidates to edit (after why the words did not settle it)."""
    where = choose.describe(candidates, *size)
    options = "; ".join(f"{i + 1}: the one {w}" for i, w in enumerate(where))
    if reason:
        return f"{reason} Which one should I edit ({options})? Answer with a number, 'the left one', or 'all'."
    return (
        f"I see {len(candidates)} {choose.plural(noun)} ({options}). Which one should I edit? "
        "Answer with a number, 'the left one', or 'all'."
    )


def _outline(detection: Detection, image: Image.Image, toolbox: Toolbox) -> np.ndarray:
    """Gives back a found object's mask: the finder's own (SAM 3), else the segmenter's of its box."""
    return detection.mask if detection.mask is not None else toolbox.segment_box(image, detection.box)


def _target_region(step: dict, image: Image.Image, toolbox: Toolbox, choice: Optional[list], words: str) -> Located:
    """Gives back the named target's mask, that it is not there, or the question of which one."""
    target = step.get("target") or ""

    @lru_cache(maxsize=None)
    def segment(box: tuple) -> np.ndarray:
        return toolbox.segment_box(image, box)

    def mask_of(detection: Detection) -> np.ndarray:
        # A finder that outlines what it finds (SAM 3) gave the mask; a box is segmented once, however often asked.
        return detection.mask if detection.mask is not None else segment(tuple(detection.box))

    # The detector is asked for the bare noun ("cup"); the words around it pick the instance.
    reference = refer.describe(target, words, step["category"], step.get("prompt") or "")
    if choice:
        # The user's pick comes back as boxes (the state holds no masks): each is segmented again.
        boxes = choice
        mask = M.union(*[segment(tuple(b)) for b in boxes])
    elif step.get("box"):
        found = toolbox.detect(image, [reference.noun]).get(reference.noun, [])
        pointed = _pointed_at(step["box"], found, image.size)
        boxes = [list(pointed.box)]
        mask = mask_of(pointed)
    else:
        candidates = toolbox.detect(image, [reference.noun]).get(reference.noun, [])
        if not candidates:
            return NotFound(target, f"I could not find {the(target)} in the picture, so I left that part unchanged.")
        chosen = choose.choose(
            reference,
            candidates,
            image,
            find=lambda noun: toolbox.detect(image, [noun]).get(noun, []),
            mask_of=mask_of,
            ask=toolbox.settings.ask_when_ambiguous,
        )
        if chosen.offer:
            return Ask(target, chosen.offer, _question(reference.noun, chosen.offer, image.size, chosen.reason))
        if not chosen.picked:
            return NotFound(target, f"{chosen.reason} I left that part unchanged.")
        boxes = [list(d.box) for d in chosen.picked]
        mask = M.union(*[mask_of(d) for d in chosen.picked])
    if not mask.any():
        mask = M.union(*[M.box_mask((image.height, image.width), b) for b in boxes])
    box = [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]
    return Found(mask, box)


def _pointed_at(box: list, detections: list[Detection], size: tuple[int, int]) -> Detection:
    """Gives back the detection the planner's box points at, else one of the planner's box itself.

    A VLM planner that sees the picture boxes the one object meant ("the man on the left"): the
    detection it overlaps most wins, whatever its score (with its mask, when the finder gave one);
    with none overlapping enough, the segmenter works from the planner's box.
    """
    x0, y0, x1, y1 = (float(v) for v in L.parse_box(box, *size))
    pointed = (x0, y0, x1, y1)
    best = max(detections, key=lambda d: box_iou(d.box, pointed), default=None)
    if best is not None and box_iou(best.box, pointed) >= POINTED_IOU:
        return best
    return Detection("", pointed, 0.0)
