"""How big an object kind usually is and where it sits: the size priors `place_object` sizes new objects by.

A phrase names a kind by its head noun ("a wooden table lamp" -> lamp, "two red cars" -> car), with
plurals and common synonyms folded in; a kind not in the table gets MEDIUM.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class SizePrior(NamedTuple):
    """How big an object kind usually is and where it usually sits."""

    metres: float
    """Typical largest dimension, in metres: object sizes relative to an anchor come from this ratio."""
    aspect: float
    """Typical width / height of its box."""
    place: str | None = None
    """`sky` or `ground` when the kind has a usual place in a scene without an anchor."""
    far: bool = False
    """Seen from far away (the sun, clouds): sized by the frame, never by a nearby anchor."""


SIZE_PRIORS: dict[str, SizePrior] = {
    "person": SizePrior(1.7, 0.4, "ground"),
    "child": SizePrior(1.2, 0.45, "ground"),
    "dog": SizePrior(0.7, 1.3, "ground"),
    "cat": SizePrior(0.45, 1.2, "ground"),
    "horse": SizePrior(2.4, 1.2, "ground"),
    "cow": SizePrior(2.4, 1.4, "ground"),
    "sheep": SizePrior(1.2, 1.3, "ground"),
    "bird": SizePrior(0.25, 1.2, "sky"),
    "car": SizePrior(4.5, 2.2, "ground"),
    "bus": SizePrior(11.0, 2.4, "ground"),
    "truck": SizePrior(8.0, 2.0, "ground"),
    "bicycle": SizePrior(1.7, 1.6, "ground"),
    "motorcycle": SizePrior(2.1, 1.5, "ground"),
    "boat": SizePrior(6.0, 2.0),
    "plane": SizePrior(35.0, 2.5, "sky"),
    "kite": SizePrior(1.0, 1.0, "sky"),
    "balloon": SizePrior(0.35, 0.8, "sky"),
    "hot air balloon": SizePrior(20.0, 0.8, "sky"),
    "sun": SizePrior(0.25, 1.0, "sky", far=True),
    "moon": SizePrior(0.2, 1.0, "sky", far=True),
    "cloud": SizePrior(1.0, 2.0, "sky", far=True),
    "rainbow": SizePrior(3.0, 2.0, "sky", far=True),
    "tree": SizePrior(8.0, 0.7, "ground"),
    "house": SizePrior(10.0, 1.3, "ground"),
    "bench": SizePrior(1.6, 2.0, "ground"),
    "rock": SizePrior(1.0, 1.5, "ground"),
    "table": SizePrior(1.4, 1.6, "ground"),
    "chair": SizePrior(0.9, 0.7, "ground"),
    "sofa": SizePrior(2.0, 2.2, "ground"),
    "bed": SizePrior(2.0, 1.6),
    "lamp": SizePrior(0.6, 0.5),
    "tv": SizePrior(1.1, 1.7),
    "laptop": SizePrior(0.35, 1.4),
    "book": SizePrior(0.25, 1.4),
    "vase": SizePrior(0.35, 0.6),
    "plant": SizePrior(0.6, 0.8),
    "flower": SizePrior(0.3, 0.6),
    "bottle": SizePrior(0.3, 0.35),
    "glass": SizePrior(0.15, 0.6),
    "cup": SizePrior(0.1, 1.0),
    "plate": SizePrior(0.27, 2.5),
    "apple": SizePrior(0.08, 1.0),
    "cake": SizePrior(0.25, 1.3),
    "ball": SizePrior(0.22, 1.0),
    "hat": SizePrior(0.3, 1.5),
    "teddy bear": SizePrior(0.4, 0.8),
    "umbrella": SizePrior(1.0, 1.0),
}

MEDIUM = SizePrior(0.5, 1.0)
"""The prior of a kind not in the table."""

_KIND_ALIASES = {
    "man": "person",
    "woman": "person",
    "boy": "child",
    "girl": "child",
    "people": "person",
    "puppy": "dog",
    "kitten": "cat",
    "automobile": "car",
    "bike": "bicycle",
    "motorbike": "motorcycle",
    "airplane": "plane",
    "aeroplane": "plane",
    "jet": "plane",
    "couch": "sofa",
    "television": "tv",
    "mug": "cup",
    "ship": "boat",
    "stone": "rock",
}

_HEAD_END = re.compile(r"\b(with|of|on|in|holding|wearing|carrying|next|near|under|behind)\b")


def size_prior(name: str | None) -> SizePrior:
    """Gives back the size prior of the object a phrase names ("a red car" -> car), MEDIUM if unknown."""
    kind = object_kind(name)
    return SIZE_PRIORS[kind] if kind else MEDIUM


def object_kind(name: str | None) -> str | None:
    """Gives back the SIZE_PRIORS kind a phrase names ("two red cars" -> "car"), or None."""
    if not name:
        return None
    text = name.lower()
    head = _HEAD_END.split(text, maxsplit=1)[0]
    words = re.findall(r"[a-z]+", head) or re.findall(r"[a-z]+", text)
    # The noun of "a wooden table lamp" is its last known word; phrases of three or two words first.
    for end in range(len(words), 0, -1):
        for length in (3, 2, 1):
            if length <= end:
                kind = _known_kind(" ".join(words[end - length : end]))
                if kind:
                    return kind
    return None


def _known_kind(phrase: str) -> str | None:
    singulars = [phrase]
    if phrase.endswith("ies"):
        singulars.append(phrase[:-3] + "y")
    if phrase.endswith("es"):
        singulars.append(phrase[:-2])
    if phrase.endswith("s"):
        singulars.append(phrase[:-1])
    for form in singulars:
        form = _KIND_ALIASES.get(form, form)
        if form in SIZE_PRIORS:
            return form
    return None
