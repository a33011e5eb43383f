"""Open-vocabulary detection: boxes for text phrases with GroundingDINO.

All phrases of one call go through the model in a single forward pass, joined the way
GroundingDINO was trained on ("a cat. a dog."). Each box is given to the phrase whose words its
text label carries. A phrase with no box over the box threshold is retried at lower thresholds
down to a floor, and below the floor it gets no box at all: an object that is not in the picture
must come back as "not found", never as a random box.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch
from PIL import Image

from chatedit.tools.errors import InputError
from chatedit.tools.geometry import non_max_suppression
from chatedit.tools.vision_models import DetectorBundle


@dataclass(frozen=True)
class Detection:
    """One object found for a phrase: its box, and its mask when the finder gives one."""

    label: str
    """The phrase, as the caller wrote it."""
    box: tuple[float, float, float, float]
    """x0, y0, x1, y1 in the original image's pixels."""
    score: float
    """The finder's confidence, 0 to 1."""
    mask: Optional[np.ndarray] = field(default=None, compare=False, repr=False)
    """The instance's mask (bool, image size) when the finder outlines what it finds (SAM 3); None: the
    box is to be segmented."""


def detect(
    detector: DetectorBundle,
    image: Image.Image,
    phrases: list[str],
    *,
    box_threshold: float = 0.3,
    text_threshold: float = 0.25,
    min_box_threshold: float = 0.1,
    backoff: float = 0.05,
    nms_threshold: float = 0.7,
) -> dict[str, list[Detection]]:
    """Gives back, for each phrase, its boxes in the image, best first ([] when not found).

    Args:
        detector: the GroundingDINO bundle (`ModelSet.detector`).
        image: the picture to search.
        phrases: what to look for, e.g. `["the dog", "a red car"]`.
        box_threshold: the lowest box score kept at the first try.
        text_threshold: the lowest score for a word of a phrase to count as matched by a box.
        min_box_threshold: the floor: a phrase with no box scoring over this gets [].
        backoff: how much the box threshold drops at each retry for a phrase with no box.
        nms_threshold: a phrase's box overlapping a better one of the same phrase by more than
            this IoU is a duplicate and dropped (1.0 keeps all).

    Raises:
        InputError: no phrases, an empty phrase, or a non-positive backoff.
    """
    queries = normalized_phrases(phrases)
    if backoff <= 0:
        raise InputError(f"backoff must be positive (got {backoff}); use e.g. 0.05.")
    unique_queries = list(dict.fromkeys(queries.values()))

    image = image.convert("RGB")
    outputs = _forward(detector, image, unique_queries)

    thresholds = _thresholds(box_threshold, min_box_threshold, backoff)
    found = _found(detector, outputs, image, unique_queries, thresholds, text_threshold)
    answer = {}
    for phrase, query in queries.items():
        kept = non_max_suppression(sorted(found[query], key=lambda d: d.score, reverse=True), nms_threshold)
        answer[phrase] = [Detection(phrase, d.box, d.score) for d in kept]
    return answer


def _found(
    detector, outputs, image, queries: list[str], thresholds, text_threshold: float
) -> dict[str, list[Detection]]:
    """Gives back each query's boxes, lowering the box threshold step by step for the queries still without one."""
    tokenizer = detector.processor.tokenizer
    query_tokens = {query: _content_tokens(tokenizer, query) for query in queries}
    found: dict[str, list[Detection]] = {query: [] for query in queries}
    for threshold in thresholds:
        missing = [query for query in queries if not found[query]]
        if not missing:
            break
        result = detector.processor.post_process_grounded_object_detection(
            outputs,
            threshold=threshold,
            # A box's score is its best word's score: a lower text threshold than box threshold
            # would leave boxes that passed with no words to match.
            text_threshold=min(text_threshold, threshold),
            target_sizes=[(image.height, image.width)],
        )[0]
        for box, score, text_label in zip(
            result["boxes"].float().tolist(), result["scores"].float().tolist(), result["text_labels"], strict=True
        ):
            box = clamp_box(box, image.width, image.height)
            if box is None:
                continue
            for query in _matching_queries(_content_tokens(tokenizer, text_label), missing, query_tokens):
                found[query].append(Detection(query, box, score))
    return found


def _forward(detector: DetectorBundle, image: Image.Image, queries: list[str]):
    text = ". ".join(queries) + "."
    # With torchvision present the processor resizes and normalises on the model's device.
    inputs = detector.processor(images=image, text=text, return_tensors="pt", device=detector.device)
    inputs = {
        name: value.to(device=detector.device, dtype=detector.dtype if value.is_floating_point() else value.dtype)
        for name, value in inputs.items()
    }
    with torch.inference_mode():
        return detector.model(**inputs)


def normalized_phrases(phrases: list[str]) -> dict[str, str]:
    """Gives back each phrase lowercased, without the dots that would split it in GroundingDINO's text.

    Raises:
        InputError: no phrases, or a phrase that names nothing.
    """
    if not phrases:
        raise InputError("Nothing to detect: give at least one phrase naming an object.")
    queries = {phrase: re.sub(r"\s+", " ", phrase.replace(".", " ")).strip().lower() for phrase in phrases}
    empty = [phrase for phrase, query in queries.items() if not query]
    if empty:
        raise InputError(f"The phrase {empty[0]!r} names nothing; give the object's name, e.g. 'the dog'.")
    return queries


def _thresholds(start: float, floor: float, step: float) -> list[float]:
    count = int(np.floor((start - floor) / step + 1e-9)) + 1
    return [round(start - index * step, 6) for index in range(max(count, 0))]


def _content_tokens(tokenizer, text: str) -> set[str]:
    """Gives back the word pieces of a text, without special tokens and punctuation."""
    special = set(tokenizer.all_special_tokens)
    return {
        token for token in tokenizer.tokenize(text) if token not in special and any(char.isalnum() for char in token)
    }


def _matching_queries(label_tokens: set[str], queries: list[str], query_tokens: dict[str, set[str]]) -> list[str]:
    """Gives back the queries whose words a box's text label carries most completely.

    The query sharing the most word pieces with the label wins, then the one with the larger share
    of its own pieces covered; a box that fits several queries equally well belongs to each.
    """
    best: list[str] = []
    best_rank = (0, 0.0)
    for query in queries:
        tokens = query_tokens[query]
        shared = len(label_tokens & tokens)
        if not shared:
            continue
        rank = (shared, shared / len(tokens))
        if rank > best_rank:
            best, best_rank = [query], rank
        elif rank == best_rank:
            best.append(query)
    return best


def clamp_box(box: list[float], width: int, height: int) -> tuple[float, float, float, float] | None:
    """Gives back the box cut to the picture, or None when nothing of it is left."""
    x0, y0, x1, y1 = box
    x0, x1 = min(max(x0, 0.0), width), min(max(x1, 0.0), width)
    y0, y1 = min(max(y0, 0.0), height), min(max(y1, 0.0), height)
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1, y1)
