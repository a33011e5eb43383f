"""Choosing among several detections of one target: by the instruction's words, or by asking.

"the dog" with two equally likely dogs and nothing to choose between them is a question for the user;
"the left dog", "the biggest dog" or "both dogs" are not.
"""

from __future__ import annotations

import math
import re
from typing import Optional

from chatedit.tools.detect import Detection
from chatedit.tools.geometry import box_area, non_max_suppression

ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4}
ALL_WORDS = re.compile(r"\b(all|both|every|each|them all|all of them)\b", re.I)
SELECTORS = {
    "left": lambda b: (b[0] + b[2]) / 2,
    "right": lambda b: -(b[0] + b[2]) / 2,
    "top": lambda b: (b[1] + b[3]) / 2,
    "upper": lambda b: (b[1] + b[3]) / 2,
    "bottom": lambda b: -(b[1] + b[3]) / 2,
    "lower": lambda b: -(b[1] + b[3]) / 2,
    "biggest": lambda b: -box_area(b),
    "largest": lambda b: -box_area(b),
    "bigger": lambda b: -box_area(b),
    "smallest": lambda b: box_area(b),
    "smaller": lambda b: box_area(b),
}
SELECTOR_WORDS = re.compile(
    r"\b(left(?:most)?|right(?:most)?|top|upper|bottom|lower|biggest|largest|bigger|smallest|smaller)\b", re.I
)

AMBIGUITY_MARGIN = 0.1
"""Detections within this score of the best one count as equally likely."""
MAX_CHOICES = 4
"""More equally likely detections than this is detector noise, not a choice to put to the user."""


def distinct(detections: list[Detection], overlap: float = 0.5) -> list[Detection]:
    """Gives back the detections without those overlapping a better one by `overlap` IoU or more (best first)."""
    # non_max_suppression keeps an overlap equal to its threshold; here reaching `overlap` is a duplicate.
    return non_max_suppression(sorted(detections, key=lambda d: -d.score), math.nextafter(overlap, -math.inf))


def contenders(detections: list[Detection]) -> list[Detection]:
    """Gives back the distinct detections about as likely as the best one, left to right."""
    found = distinct(detections)
    if not found:
        return []
    top = found[0].score
    close = [d for d in found if d.score >= top - AMBIGUITY_MARGIN]
    return sorted(close, key=lambda d: d.box[0])


def wants_all(text: str, target: str) -> bool:
    """Gives back True when the instruction asks for every instance ("all the dogs", "both cats")."""
    return bool(ALL_WORDS.search(text)) or _is_plural(target)


def _is_plural(target: str) -> bool:
    head = (target or "").split()[-1:] or [""]
    word = head[0].lower()
    return word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3


def select(text: str, candidates: list[Detection]) -> Optional[list[int]]:
    """Gives back the indices the instruction's words pick among `candidates`, or None if they pick none."""
    if not candidates:
        return None
    match = SELECTOR_WORDS.search(text)
    if match:
        word = match.group(1).lower().removesuffix("most")
        order = sorted(range(len(candidates)), key=lambda i: SELECTORS[word](candidates[i].box))
        return [order[0]]
    for word, number in ORDINALS.items():
        if re.search(rf"\b{word}\b", text, re.I) and number <= len(candidates):
            return [number - 1]
    return None


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


def should_ask(candidates: list[Detection]) -> bool:
    """Gives back True when a few equally likely candidates leave the choice to the user."""
    return 1 < len(candidates) <= MAX_CHOICES


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
