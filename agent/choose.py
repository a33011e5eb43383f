"""Choosing among several detections of one target: by what the words say of it, or by asking.

"the dog" with two equally likely dogs and nothing to choose between them is a question for the user;
"the left dog", "the biggest dog", "the dog on the sofa", "the dog in red" or "both dogs" are not.
The words come parsed (agent/refer.py: a `Reference`); this module reads the picture. Boxes decide
places, orders, sizes and relations to another object; the pixels inside each candidate's mask (its
box when there is none) decide a colour. It works on `Detection`s of any finder.

What a user would expect when the words cannot be met:
- Qualifiers choose among several candidates; they never turn down the only one ("the dog on the
  left" when one dog is found is that dog), except an order it cannot have ("the second dog").
- When the words ask for something the picture does not hold ("the fifth cup" among four, "the green
  car" among red and blue ones, "the cup next to the laptop" with no laptop found), nothing is picked
  at random: the user is asked which one, told why; with asking turned off, the step says so and is
  left out.
- When the words leave a few candidates equally fitting ("the left chair" of two stacked ones, "the
  red car" of two red ones), the user is asked among those.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np
from PIL import Image

from chatedit.agent import refer
from chatedit.agent.reference import Reference
from chatedit.tools.colours import colour_share
from chatedit.tools.detect import Detection
from chatedit.tools.geometry import box_area, intersection, non_max_suppression
from chatedit.tools.masks import box_mask

ALL_WORDS = re.compile(r"\b(all|both|every|each|them all|all of them)\b", re.I)

AMBIGUITY_MARGIN = 0.1
"""Detections within this score of the best one count as equally likely."""
QUALIFIED_SHARE = 0.5
"""With qualifiers, detections scoring at least this share of the best one are candidates too."""
MAX_CHOICES = 4
"""More equally likely detections than this is detector noise, not a choice to put to the user."""
PLACE_TIE = 0.05
"""Candidates this close (a share of the picture's width or height) to the same side are equally far to it."""
SIZE_TIE = 0.05
"""Sizes within this share of each other are equal."""
RELATION_TIE = 0.02
"""Relation scores this close fit equally well."""
MIN_COLOUR_SHARE = 0.25
"""A colour fits a candidate when at least this share of its pixels has that colour..."""
COLOUR_KEEP = 0.5
"""...and at least this share of the best-fitting candidate's."""
SIDEWAYS = 0.5
"""A box is left of another when its centre is further left than this share of how far it is above or below."""
TOUCHING = 0.05
"""Boxes closer than this share of the picture's diagonal touch ("behind", "in front of")."""

Box = Sequence[float]
MaskOf = Callable[[Detection], Optional[np.ndarray]]
"""A candidate's mask (bool, the picture's size), or None when there is none."""
Find = Callable[[str], list[Detection]]
"""The finder: the detections of an object named by a noun."""


def distinct(detections: list[Detection], overlap: float = 0.5) -> list[Detection]:
    """Gives back the detections without those overlapping a better one by `overlap` IoU or more (best first)."""
    # non_max_suppression keeps an overlap equal to its threshold; here reaching `overlap` is a duplicate.
    return non_max_suppression(sorted(detections, key=lambda d: -d.score), math.nextafter(overlap, -math.inf))


def contenders(detections: list[Detection], qualified: bool = False) -> list[Detection]:
    """Gives back the distinct detections about as likely as the best one, left to right.

    With `qualified` (words that pick among them), a less likely one may be the one they point at (a
    car half hidden behind a bus), so any scoring half the best's counts.
    """
    found = distinct(detections)
    if not found:
        return []
    top = found[0].score
    lowest = QUALIFIED_SHARE * top if qualified else top - AMBIGUITY_MARGIN
    return sorted((d for d in found if d.score >= lowest), key=lambda d: d.box[0])


@dataclass
class Choice:
    """Which candidates the words pick; or, when they pick none, those to ask about and why."""

    picked: list[Detection] = field(default_factory=list)
    """The candidates the step acts on; empty when the user must be asked or nothing fits."""
    offer: list[Detection] = field(default_factory=list)
    """When nothing is picked: the candidates to ask the user about, left to right (empty: do not ask)."""
    reason: str = ""
    """When nothing is picked: why the words did not settle it, as a sentence ("" when they said nothing)."""


def choose(
    reference: Reference,
    detections: list[Detection],
    image: Optional[Image.Image] = None,
    *,
    find: Optional[Find] = None,
    mask_of: Optional[MaskOf] = None,
    ask: bool = True,
) -> Choice:
    """Gives back which of the detections of `reference.noun` the reference means.

    Args:
        reference: the target's noun and qualifiers (agent/refer.py).
        detections: what the finder found for the noun (any finder: boxes and scores).
        image: the picture, for a colour and for the picture's size; None: colours are not checked.
        find: the finder, for the relation's other object ("laptop"); asked only when the relation
            must choose among several candidates. None: nothing else can be found.
        mask_of: a candidate's mask (bool, the picture's size), for a colour; None, or a None
            answer: its box.
        ask: whether the user may be asked; False takes the likeliest where the words do not choose,
            and gives no pick (with the reason) where they cannot be met.
    """
    pool = contenders(detections, reference.qualified)
    size = image.size if image is not None else _extent(pool)
    choice = _decide(reference, pool, image, size, find, mask_of)
    if choice.picked or not choice.offer:
        return choice
    if choice.reason and not (ask and len(choice.offer) <= MAX_CHOICES):
        # The words cannot be met, and there is no short list to ask about: say why, edit nothing.
        return Choice(reason=choice.reason)
    if not choice.reason and not (ask and 1 < len(choice.offer) <= MAX_CHOICES):
        # Not worth a question: take the most likely one.
        return Choice(picked=[max(choice.offer, key=lambda d: d.score)])
    return choice


def _decide(
    reference: Reference,
    pool: list[Detection],
    image: Optional[Image.Image],
    size: tuple[int, int],
    find: Optional[Find],
    mask_of: Optional[MaskOf],
) -> Choice:
    """Gives back the choice the words make among `pool`: colour and relation narrow it, then geometry picks."""
    if len(pool) <= 1:
        order = reference.order
        if pool and order and abs(order.position) > 1:
            return Choice(reason=_too_few(reference, pool))
        return Choice(picked=pool)
    kept, reason = _by_colour(reference, pool, image, mask_of)
    if reason:
        return Choice(offer=pool, reason=reason)
    kept, fits, reason = _by_relation(reference, kept, find, size)
    if reason:
        return Choice(offer=pool, reason=reason)
    return _by_geometry(reference, kept, fits, size)


def _extent(detections: list[Detection]) -> tuple[int, int]:
    """Gives back a picture size that holds the boxes, when the picture is not at hand."""
    return (max((int(d.box[2]) for d in detections), default=1), max((int(d.box[3]) for d in detections), default=1))


# ---- colour --------------------------------------------------------------------------------------------


def _by_colour(
    reference: Reference, pool: list[Detection], image: Optional[Image.Image], mask_of: Optional[MaskOf]
) -> tuple[list[Detection], str]:
    """Gives back the candidates of the reference's colour (all when it names none), or why none is."""
    if not reference.colour or image is None:
        return pool, ""
    pixels = np.asarray(image.convert("RGB"))
    shares = [colour_share(pixels, _worn_part(d, image, mask_of, reference.worn), reference.colour) for d in pool]
    best = max(shares)
    if best < MIN_COLOUR_SHARE:
        return [], f"None of the {plural(reference.noun)} I see looks {reference.colour} to me."
    return [d for d, share in zip(pool, shares, strict=True) if share >= max(MIN_COLOUR_SHARE, COLOUR_KEEP * best)], ""


def _worn_part(detection: Detection, image: Image.Image, mask_of: Optional[MaskOf], worn: Optional[str]) -> np.ndarray:
    """Gives back the candidate's pixels where the colour is looked for: its mask (else box), in the garment's band."""
    mask = mask_of(detection) if mask_of else None
    if mask is None or not mask.any():
        mask = box_mask((image.height, image.width), detection.box)
    if worn is None:
        return mask
    top, bottom = refer.BANDS[worn]
    y0, y1 = detection.box[1], detection.box[3]
    band = np.zeros_like(mask)
    band[int(y0 + top * (y1 - y0)) : int(math.ceil(y0 + bottom * (y1 - y0)))] = True
    return mask & band


# ---- relation to another object -------------------------------------------------------------------------


def _by_relation(
    reference: Reference, pool: list[Detection], find: Optional[Find], size: tuple[int, int]
) -> tuple[list[Detection], dict[int, float], str]:
    """Gives back the candidates the relation holds for and how well (by id), or why it holds for none."""
    relation = reference.relation
    if relation is None or len(pool) == 1:
        return pool, {}, ""
    others = find(relation.other) if find else []
    if not others:
        return [], {}, f"I could not find the {relation.other} to tell which {reference.noun or 'one'} is meant."
    fits: dict[int, float] = {}
    for detection in pool:
        # The other object is not the candidate itself ("the cup next to the other cup").
        around = [o.box for o in others if not _same_box(o.box, detection.box)]
        score = relation_fit(relation.kind, detection.box, around, size) if around else None
        if score is not None:
            fits[id(detection)] = score
    if not fits:
        return [], {}, f"None of the {plural(reference.noun)} I see is {relation.kind} the {relation.other}."
    return [d for d in pool if id(d) in fits], fits, ""


def _same_box(a: Box, b: Box) -> bool:
    union = box_area(a) + box_area(b) - intersection(a, b)
    return union > 0 and intersection(a, b) / union > 0.8


def relation_fit(kind: str, box: Box, others: Sequence[Box], size: tuple[int, int]) -> Optional[float]:
    """Gives back how well `box` stands in the relation to the nearest fitting other box (higher is better), or None.

    next to: the smallest gap; left of, right of, above, below: the centre on that side of the other's
    (more that way than across), the smallest gap; on:
    above and resting on it; behind: touching it and higher in the picture (farther away); in front
    of: touching it and lower; holding, with: the share of the other inside the box; in: the share of
    the box inside the other; without: overlapping none of them.
    """
    fits = [_fit(kind, box, other, size) for other in others]
    if kind == "without":
        return None if any(fit is None for fit in fits) else min(f for f in fits if f is not None)
    return max((fit for fit in fits if fit is not None), default=None)


def _fit(kind: str, a: Box, b: Box, size: tuple[int, int]) -> Optional[float]:
    """Gives back how well box `a` stands in the relation `kind` to box `b`, or None when it does not."""
    width, height = size
    diagonal = math.hypot(width, height)
    gap = _gap(a, b) / diagonal
    (ax, ay), (bx, by) = _centre(a), _centre(b)
    across = abs(ax - bx) / diagonal
    down = abs(ay - by) / diagonal
    shared = intersection(a, b)
    of_a, of_b = shared / max(box_area(a), 1e-9), shared / max(box_area(b), 1e-9)
    side_by_side = min(a[2], b[2]) - max(a[0], b[0]) > 0
    fits: dict[str, Callable[[], Optional[float]]] = {
        "next to": lambda: -gap - 0.1 * math.hypot(ax - bx, ay - by) / diagonal,
        "far from": lambda: gap,
        "left of": lambda: -gap - 0.25 * down if bx - ax > SIDEWAYS * abs(by - ay) else None,
        "right of": lambda: -gap - 0.25 * down if ax - bx > SIDEWAYS * abs(by - ay) else None,
        "above": lambda: -gap - 0.25 * across if by - ay > SIDEWAYS * abs(bx - ax) else None,
        "below": lambda: -gap - 0.25 * across if ay - by > SIDEWAYS * abs(bx - ax) else None,
        "on": lambda: (
            -gap - 0.25 * across if ay < by and side_by_side and b[1] - TOUCHING * height <= a[3] <= b[3] else None
        ),
        "behind": lambda: of_a - gap if gap < TOUCHING and a[3] < b[3] - 0.02 * height else None,
        "in front of": lambda: of_a - gap if gap < TOUCHING and a[3] > b[3] + 0.02 * height else None,
        "holding": lambda: of_b if shared > 0 else None,
        "without": lambda: -of_b if of_b < 0.05 else None,
        "in": lambda: of_a if of_a > 0.5 else None,
    }
    return fits[kind]() if kind in fits else fits["next to"]()


def _gap(a: Box, b: Box) -> float:
    """Gives back the distance between two boxes (0 when they overlap or touch)."""
    dx = max(0.0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
    return math.hypot(dx, dy)


def _centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


# ---- places, order, size ---------------------------------------------------------------------------------


def _toward(place: str, box: Box, size: tuple[int, int]) -> float:
    """Gives back how far toward a side of the picture a box is (higher is farther toward it)."""
    width, height = size
    x, y = _centre(box)
    return {
        "left": -x / width,
        "right": x / width,
        "top": -y / height,
        "bottom": y / height,
        "front": _nearness(box, size),
        "back": -_nearness(box, size),
    }[place]


def _nearness(box: Box, size: tuple[int, int]) -> float:
    """Gives back how near the camera a box looks: its bottom edge lower in the picture, and its size."""
    width, height = size
    return box[3] / height + 0.5 * math.sqrt(box_area(box) / (width * height))


_MEASURES: dict[str, tuple[Callable[[Box, tuple[int, int]], float], int]] = {
    "biggest": (lambda b, s: box_area(b), 1),
    "smallest": (lambda b, s: box_area(b), -1),
    "tallest": (lambda b, s: b[3] - b[1], 1),
    "shortest": (lambda b, s: b[3] - b[1], -1),
    "widest": (lambda b, s: b[2] - b[0], 1),
    "narrowest": (lambda b, s: b[2] - b[0], -1),
    "nearest": (_nearness, 1),
    "farthest": (_nearness, -1),
}
"""Each size word's measure of a box and whether the most (1) or the least (-1) of it is meant."""


def _by_geometry(reference: Reference, pool: list[Detection], fits: dict[int, float], size: tuple[int, int]) -> Choice:
    """Gives back the choice among the candidates colour and relation left: by order, place, size, relation or how many."""
    if len(pool) == 1:
        return Choice(picked=pool)
    if reference.order:
        return _by_order(reference, pool, size)
    if "middle" in reference.places:
        pool, tie = _middle(pool)
        if tie:
            return Choice(offer=pool)
    sides = [place for place in reference.places if place != "middle"]
    if sides and (reference.every or reference.size or (fits and not reference.count)):
        # A side with more to choose by keeps the candidates on that side ("the small bird at the top").
        for place in sides:
            pool = _on_side(place, pool, size)
        sides = []
    if reference.every:
        return Choice(picked=pool)
    wanted = reference.count or 1
    if reference.size:
        measure, sign = _MEASURES[reference.size]
        return _extreme(pool, lambda d: sign * measure(d.box, size), wanted, relative=reference.size in _RELATIVE)
    if sides:
        return _extreme(pool, lambda d: sum(_toward(p, d.box, size) for p in sides), wanted, relative=False)
    if fits:
        return _extreme(pool, lambda d: fits[id(d)], wanted, relative=False, tie=RELATION_TIE)
    return Choice(picked=pool) if wanted >= len(pool) else Choice(offer=pool)


_RELATIVE = frozenset({"biggest", "smallest", "tallest", "shortest", "widest", "narrowest"})
"""Sizes compared as a share of each other (nearness is compared as a difference)."""


def _extreme(
    pool: list[Detection],
    score: Callable[[Detection], float],
    wanted: int,
    *,
    relative: bool,
    tie: Optional[float] = None,
) -> Choice:
    """Gives back the `wanted` candidates with the highest score, or a question among those that tie for the last place."""
    ranked = sorted(pool, key=score, reverse=True)
    if wanted >= len(ranked):
        return Choice(picked=ranked)
    margin = tie if tie is not None else (SIZE_TIE if relative else PLACE_TIE)
    edge = score(ranked[wanted - 1])
    tied = [d for d in ranked[wanted - 1 :] if _close(score(d), edge, margin, relative)]
    if len(tied) > 1:
        return Choice(offer=sorted(tied, key=lambda d: d.box[0]))
    return Choice(picked=ranked[:wanted])


def _close(a: float, b: float, margin: float, relative: bool) -> bool:
    return abs(a - b) <= margin * max(abs(a), abs(b)) if relative else abs(a - b) <= margin


def _on_side(place: str, pool: list[Detection], size: tuple[int, int]) -> list[Detection]:
    """Gives back the candidates in the half of the group toward a side ("the cups on the left")."""
    toward = [_toward(place, d.box, size) for d in pool]
    halfway = (max(toward) + min(toward)) / 2
    return [d for d, value in zip(pool, toward, strict=True) if value >= halfway - PLACE_TIE / 2]


def _middle(pool: list[Detection]) -> tuple[list[Detection], bool]:
    """Gives back the middle candidate along the row (or column) they form, or the two middle ones and True."""
    xs = [_centre(d.box)[0] for d in pool]
    ys = [_centre(d.box)[1] for d in pool]
    along = 0 if max(xs) - min(xs) >= max(ys) - min(ys) else 1
    ranked = sorted(pool, key=lambda d: _centre(d.box)[along])
    half = len(ranked) // 2
    if len(ranked) % 2:
        return [ranked[half]], False
    return ranked[half - 1 : half + 1], True


def _by_order(reference: Reference, pool: list[Detection], size: tuple[int, int]) -> Choice:
    """Gives back the candidate at the reference's place in the row ("the second from the right", "the last")."""
    order = reference.order
    assert order is not None
    side = order.side or _reading_side(pool)
    ranked = sorted(pool, key=lambda d: _toward(side, d.box, size), reverse=True)
    if abs(order.position) > len(ranked) or order.position == 0:
        return Choice(offer=pool, reason=_too_few(reference, pool))
    return Choice(picked=[ranked[order.position - 1 if order.position > 0 else order.position]])


def _reading_side(pool: list[Detection]) -> str:
    """Gives back where a row is counted from when the words do not say: the left, or the top of a stack."""
    xs = [_centre(d.box)[0] for d in pool]
    ys = [_centre(d.box)[1] for d in pool]
    return "left" if max(xs) - min(xs) >= max(ys) - min(ys) else "top"


def _too_few(reference: Reference, pool: list[Detection]) -> str:
    """Gives back the sentence saying an order asks for more candidates than there are."""
    order = reference.order
    assert order is not None
    counted = f" from the {order.side}" if order.side else ""
    things = reference.noun or "one"
    seen = f"only one {things}" if len(pool) == 1 else f"only {len(pool)} {plural(things)}"
    return f"I see {seen}, so none is the {refer.ordinal_word(order.position)}{counted}."


def plural(noun: str) -> str:
    """Gives back a noun's plural, for a sentence ("cup" -> "cups"; "cups" stays)."""
    if not noun:
        return "ones"
    return noun if noun.endswith("s") or noun in refer.PLURALS else noun + "s"


# ---- the user's answer to "which one?" and the question's words ---------------------------------------


def select(text: str, candidates: list[Detection]) -> Optional[list[int]]:
    """Gives back the indices the words pick among `candidates` by place, order or size, or None if they pick none.

    Reads an answer to "which one?" ("the left one", "the second", "the biggest").
    """
    reference = refer.parse(text)
    if not candidates or not (reference.places or reference.order or reference.size):
        return None
    choice = choose(reference, candidates)
    return [candidates.index(d) for d in choice.picked] if choice.picked else None


def parse_choice(answer: str, count: int) -> Optional[list[int]]:
    """Gives back the 0-based indices a reply to "which one?" names, or None if it names none.

    Replies: "2", "number 1", "the second", "the left one", "both", "all of them".
    """
    text = answer.strip().lower()
    if ALL_WORDS.search(text):
        return list(range(count))
    numbers = [int(n) for n in re.findall(r"\b(\d+)\b", text)]
    if numbers and all(1 <= n <= count for n in numbers) and len(text.split()) <= 6:
        return sorted({n - 1 for n in numbers})
    return None


def describe(candidates: list[Detection], width: int, height: int) -> list[str]:
    """Gives back where each candidate is ("on the left", "at the top right", "in the middle")."""
    words = []
    for det in candidates:
        cx = (det.box[0] + det.box[2]) / 2 / max(width, 1)
        cy = (det.box[1] + det.box[3]) / 2 / max(height, 1)
        across = "left" if cx < 0.4 else "right" if cx > 0.6 else ""
        down = "top" if cy < 0.35 else "bottom" if cy > 0.65 else ""
        if across and down:
            words.append(f"at the {down} {across}")
        elif across or down:
            words.append(f"on the {across}" if across else f"at the {down}")
        else:
            words.append("in the middle")
    return words
