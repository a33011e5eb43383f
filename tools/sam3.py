"""Finding with SAM 3: every instance of a phrase with its box, score and mask, and masks of boxes and clicks.

`find` asks SAM 3's concept model about each phrase. The picture's vision features are computed once
and kept in the bundle's cache, so several phrases, and the verifier's look at the same picture, pay
for the encoder once. `segment_object` and `segment_candidates` prompt SAM 3's tracker with the
contracts of tools/segment.py's SAM functions, so either finder serves the same callers.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from chatedit.tools.detect import Detection, clamp_box, normalized_phrases
from chatedit.tools.errors import InputError
from chatedit.tools.geometry import non_max_suppression
from chatedit.tools.sam3_models import Sam3Bundle
from chatedit.tools.segment import Box, Point, distinct_masks, grid_points, image_key


def find(
    sam3: Sam3Bundle,
    image: Image.Image,
    phrases: list[str],
    *,
    threshold: float = 0.3,
    mask_threshold: float = 0.5,
    nms_threshold: float = 0.7,
) -> dict[str, list[Detection]]:
    """Gives back, for each phrase, every instance of it in the image with its mask, best first ([] when not found).

    Args:
        sam3: the SAM 3 bundle (`ModelSet.detector` with the sam3 finder).
        image: the picture to search.
        phrases: noun phrases naming what to look for, e.g. `["the dog", "a red car"]`.
        threshold: the lowest instance score kept (SAM 3's score times its presence score).
        mask_threshold: the mask probability over which a pixel belongs to an instance.
        nms_threshold: an instance whose box overlaps a better one of the same phrase by more than this
            IoU is a duplicate and dropped (1.0 keeps all).

    Raises:
        InputError: no phrases, or an empty phrase.
    """
    queries = normalized_phrases(phrases)
    image = image.convert("RGB")
    features = _vision_features(sam3, image)
    found = {
        query: _instances(sam3, features, image.size, query, threshold, mask_threshold)
        for query in dict.fromkeys(queries.values())
    }
    return {
        phrase: [dataclasses.replace(d, label=phrase) for d in non_max_suppression(found[query], nms_threshold)]
        for phrase, query in queries.items()
    }


def segment_object(
    sam3: Sam3Bundle, image: Image.Image, *, box: Box | None = None, points: Sequence[Point] = ()
) -> np.ndarray:
    """Gives back the boolean mask (image height x width) of the one object a box and/or points mark.

    As `segment.segment_object`, with SAM 3's tracker: the box and every point form one prompt, and
    the best rated of the tracker's three masks is kept.

    Raises:
        InputError: neither a box nor a point.
    """
    if box is None and not points:
        raise InputError("Nothing to segment: give a box or at least one point.")
    image = image.convert("RGB")
    size = [[image.height, image.width]]
    prompts = sam3.tracker_processor(
        original_sizes=size,
        input_boxes=[[list(box)]] if box is not None else None,
        input_points=[[[list(point) for point in points]]] if points else None,
        input_labels=[[[1] * len(points)]] if points else None,
        return_tensors="pt",
    )
    logits, scores = _decode(sam3, _image_embeddings(sam3, image), prompts)
    best = int(scores[0].argmax())
    return _to_original(sam3, logits[0, best][None, None], size)[0]


def segment_candidates(sam3: Sam3Bundle, image: Image.Image, *, points_per_side: int = 8) -> list[np.ndarray]:
    """Gives back distinct candidate masks of the image's regions, best rated first.

    As `segment.segment_candidates`, with SAM 3's tracker prompted by a grid of points.
    """
    grid = grid_points(image.size, points_per_side)
    image = image.convert("RGB")
    size = [[image.height, image.width]]
    prompts = sam3.tracker_processor(
        original_sizes=size,
        input_points=[[[point] for point in grid.tolist()]],
        input_labels=[[[1] for _ in range(len(grid))]],
        return_tensors="pt",
    )
    logits, scores = _decode(sam3, _image_embeddings(sam3, image), prompts)
    # SAM 3 resizes the whole picture to its square input, without padding: every mask pixel covers it.
    side = logits.shape[-1]
    return distinct_masks(
        logits.flatten(0, 1), scores.flatten(), (side, side), lambda kept: _to_original(sam3, kept, size)
    )


def _vision_features(sam3: Sam3Bundle, image: Image.Image):
    def encode():
        # With torchvision present the processor resizes and normalises on the model's device.
        inputs = sam3.processor(images=image, return_tensors="pt", device=sam3.device)
        with torch.inference_mode():
            return sam3.model.get_vision_features(pixel_values=inputs["pixel_values"].to(sam3.device, sam3.dtype))

    return sam3.features.get_or_compute(image_key(image), encode)


def _instances(
    sam3: Sam3Bundle, features, size: tuple[int, int], query: str, threshold: float, mask_threshold: float
) -> list[Detection]:
    """Gives back the instances of one phrase, best first, their boxes cut to the picture."""
    width, height = size
    # SAM 3 reads at most its text encoder's positions; a longer phrase is cut rather than refused.
    length = sam3.model.config.text_config.max_position_embeddings
    text = sam3.processor.tokenizer(
        query, padding="max_length", max_length=length, truncation=True, return_tensors="pt"
    ).to(sam3.device)
    with torch.inference_mode():
        outputs = sam3.model(vision_embeds=features, input_ids=text["input_ids"], attention_mask=text["attention_mask"])
    result = sam3.processor.post_process_instance_segmentation(
        outputs, threshold=threshold, mask_threshold=mask_threshold, target_sizes=[(height, width)]
    )[0]
    found = []
    for box, score, mask in zip(
        result["boxes"].float().tolist(),
        result["scores"].float().tolist(),
        result["masks"].bool().cpu().numpy(),
        strict=True,
    ):
        clamped = clamp_box(box, width, height)
        if clamped is not None:
            found.append(Detection(query, clamped, score, mask if mask.any() else None))
    return sorted(found, key=lambda d: d.score, reverse=True)


def _image_embeddings(sam3: Sam3Bundle, image: Image.Image) -> list[torch.Tensor]:
    def encode():
        inputs = sam3.tracker_processor(images=image, return_tensors="pt", device=sam3.device)
        with torch.inference_mode():
            return sam3.tracker.get_image_embeddings(inputs["pixel_values"].to(sam3.device, sam3.dtype))

    return sam3.embeddings.get_or_compute(image_key(image), encode)


def _decode(sam3: Sam3Bundle, embeddings: list[torch.Tensor], prompts) -> tuple[torch.Tensor, torch.Tensor]:
    """Gives back the low-resolution mask logits (prompts, 3, side, side) and the tracker's IoU ratings (prompts, 3)."""
    inputs = {
        name: value.to(sam3.device, sam3.dtype if value.is_floating_point() else value.dtype)
        for name, value in prompts.items()
        if name in ("input_points", "input_labels", "input_boxes")
    }
    with torch.inference_mode():
        outputs = sam3.tracker(image_embeddings=embeddings, multimask_output=True, **inputs)
    return outputs.pred_masks[0].float(), outputs.iou_scores[0].float()


def _to_original(sam3: Sam3Bundle, logits: torch.Tensor, size: list[list[int]]) -> np.ndarray:
    """Gives back boolean masks (n, height, width) at the image's size from logits (n, 1, side, side)."""
    return sam3.tracker_processor.post_process_masks([logits], size)[0][:, 0].cpu().numpy()
