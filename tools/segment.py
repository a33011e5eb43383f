"""Masks from prompts with SAM: the object a box and/or clicks mark, and candidate regions of a whole image.

SAM's image encoder is the expensive part (a ViT over 1024x1024); its mask decoder is cheap. The
encoder's output for an image is kept in a small cache on the segmenter, keyed by the image's
content, so every prompt on the same picture (a box, then a point, then a grid of candidates)
pays for the encoder once.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from chatedit.tools.errors import InputError
from chatedit.tools.geometry import non_max_suppression
from chatedit.tools.vision_models import SegmenterBundle

Box = tuple[float, float, float, float]
Point = tuple[float, float]

DUPLICATE_IOU = 0.9
"""Candidate masks overlapping a better one by more than this IoU are duplicates."""


@dataclass(frozen=True)
class _Embedded:
    """SAM's encoding of one image, with the sizes needed to map prompts and masks."""

    embeddings: torch.Tensor
    original_size: tuple[int, int]
    """(height, width) of the image as given."""
    reshaped_size: tuple[int, int]
    """(height, width) of the image resized for the encoder, before padding."""

    def scale(self, xy: np.ndarray) -> np.ndarray:
        """Maps x, y coordinates from original pixels to the encoder's input pixels."""
        (height, width), (new_height, new_width) = self.original_size, self.reshaped_size
        return xy * np.array([new_width / width, new_height / height], dtype=np.float64)


def segment_object(
    segmenter: SegmenterBundle, image: Image.Image, *, box: Box | None = None, points: Sequence[Point] = ()
) -> np.ndarray:
    """Gives back the boolean mask (image height x width) of the one object a box and/or points mark.

    The box and every point form one prompt, as SAM takes a box with clicks on the object: several
    points outline one object, not one each. SAM's best rated of its three masks is kept.

    Args:
        segmenter: the SAM bundle (`ModelSet.segmenter`).
        image: the picture.
        box: x0, y0, x1, y1 in the image's pixels.
        points: x, y in the image's pixels, each on the object.

    Raises:
        InputError: neither a box nor a point.
    """
    if box is None and not points:
        raise InputError("Nothing to segment: give a box or at least one point.")
    image = image.convert("RGB")
    embedded = _embed(segmenter, image)
    prompts = {}
    if box is not None:
        prompts["input_boxes"] = _tensor(
            embedded.scale(np.asarray(box, dtype=np.float64).reshape(2, 2)).reshape(1, 1, 4), segmenter
        )
    if points:
        xy = embedded.scale(np.asarray(points, dtype=np.float64).reshape(-1, 2))
        prompts["input_points"] = _tensor(xy.reshape(1, 1, -1, 2), segmenter)
        prompts["input_labels"] = torch.ones((1, 1, len(xy)), dtype=torch.long, device=segmenter.device)
    logits, scores = _decode(segmenter, embedded, prompts)
    best = int(scores[0].argmax())
    return _to_original(segmenter, embedded, logits[0, best][None, None])[0]


def segment_candidates(segmenter: SegmenterBundle, image: Image.Image, *, points_per_side: int = 8) -> list[np.ndarray]:
    """Gives back distinct candidate masks of the image's regions, best rated first.

    SAM is prompted with a `points_per_side` x `points_per_side` grid of points; all three masks
    of every point are kept, minus empty ones and near-duplicates (IoU over `DUPLICATE_IOU`).
    The editor picks among them the region an instruction edit changed (Region-IoU).

    Args:
        segmenter: the SAM bundle (`ModelSet.segmenter`).
        image: the picture.
        points_per_side: grid density; the decoder runs once for points_per_side**2 prompts.
    """
    grid = grid_points(image.size, points_per_side)
    image = image.convert("RGB")
    embedded = _embed(segmenter, image)
    prompts = {
        "input_points": _tensor(embedded.scale(grid).reshape(1, -1, 1, 2), segmenter),
        "input_labels": torch.ones((1, len(grid), 1), dtype=torch.long, device=segmenter.device),
    }
    logits, scores = _decode(segmenter, embedded, prompts)
    # Only the part of the decoder's square that covers the image counts, not its padding.
    processor = segmenter.processor.image_processor
    side = logits.shape[-1]
    valid = (
        math.ceil(embedded.reshaped_size[0] / processor.pad_size["height"] * side),
        math.ceil(embedded.reshaped_size[1] / processor.pad_size["width"] * side),
    )
    return distinct_masks(
        logits.flatten(0, 1), scores.flatten(), valid, lambda kept: _to_original(segmenter, embedded, kept)
    )


def grid_points(size: tuple[int, int], points_per_side: int) -> np.ndarray:
    """Gives back the centres of a `points_per_side` square grid over a picture of `size` (width, height), as (n, 2) x, y."""
    if points_per_side < 1:
        raise InputError(f"points_per_side must be at least 1 (got {points_per_side}).")
    steps = (np.arange(points_per_side) + 0.5) / points_per_side
    return np.stack(np.meshgrid(steps * size[0], steps * size[1]), axis=-1).reshape(-1, 2)


def distinct_masks(
    logits: torch.Tensor,
    scores: torch.Tensor,
    valid: tuple[int, int],
    to_original: Callable[[torch.Tensor], np.ndarray],
) -> list[np.ndarray]:
    """Gives back the distinct non-empty masks among a decoder's low-resolution ones, best rated first.

    Near-duplicates (IoU over `DUPLICATE_IOU`) are dropped at the decoder's resolution, so that only
    the survivors are upscaled to full size.

    Args:
        logits: mask logits (n, side, side).
        scores: the decoder's rating of each mask (n,).
        valid: (height, width) of the top-left part of the logits that covers the image.
        to_original: upscales kept logits (k, 1, side, side) to boolean masks (k, height, width).
    """
    low_res = (logits[:, : valid[0], : valid[1]] > 0).flatten(1).float()
    order = [index for index in scores.argsort(descending=True).tolist() if low_res[index].any()]
    if not order:
        return []
    ranked = low_res[order]
    shared = ranked @ ranked.T
    sizes = ranked.sum(1)
    mask_iou = (shared / (sizes[:, None] + sizes[None, :] - shared)).tolist()
    survivors = non_max_suppression(range(len(order)), DUPLICATE_IOU, lambda a, b: mask_iou[a][b])
    kept = [order[rank] for rank in survivors]

    distinct, seen = [], set()
    for mask in to_original(logits[kept][:, None]):
        digest = hashlib.sha256(np.packbits(mask).tobytes()).digest()
        if mask.any() and digest not in seen:
            seen.add(digest)
            distinct.append(mask)
    return distinct


def image_key(image: Image.Image) -> str:
    """Gives back the sha256 of an image's size, mode and pixels: equal pictures, equal keys."""
    digest = hashlib.sha256(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def _embed(segmenter: SegmenterBundle, image: Image.Image) -> _Embedded:
    def encode() -> _Embedded:
        # With torchvision present the processor resizes and normalises on the model's device.
        inputs = segmenter.processor(images=image, return_tensors="pt", device=segmenter.device)
        pixel_values = inputs["pixel_values"].to(segmenter.device, segmenter.dtype)
        with torch.inference_mode():
            embeddings = segmenter.model.get_image_embeddings(pixel_values)
        original, reshaped = inputs["original_sizes"][0], inputs["reshaped_input_sizes"][0]
        return _Embedded(embeddings, (int(original[0]), int(original[1])), (int(reshaped[0]), int(reshaped[1])))

    return segmenter.embeddings.get_or_compute(image_key(image), encode)


def _decode(segmenter: SegmenterBundle, embedded: _Embedded, prompts: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Gives back the low-resolution mask logits (prompts, 3, side, side) and SAM's IoU ratings (prompts, 3)."""
    with torch.inference_mode():
        outputs = segmenter.model(image_embeddings=embedded.embeddings, multimask_output=True, **prompts)
    return outputs.pred_masks[0].float(), outputs.iou_scores[0].float()


def _to_original(segmenter: SegmenterBundle, embedded: _Embedded, logits: torch.Tensor) -> np.ndarray:
    """Gives back boolean masks (n, height, width) at the image's size from logits (n, 1, side, side)."""
    masks = segmenter.processor.post_process_masks([logits], [embedded.original_size], [embedded.reshaped_size])[0]
    return masks[:, 0].cpu().numpy()


def _tensor(array: np.ndarray, segmenter: SegmenterBundle) -> torch.Tensor:
    return torch.as_tensor(array, dtype=segmenter.dtype, device=segmenter.device)
