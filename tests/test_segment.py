"""Segmentation: masks at the original size, best of SAM's three, one encoder pass per image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from chatedit.tools.errors import InputError
from chatedit.tools.models import ModelSet
from chatedit.tools.segment import DUPLICATE_IOU, segment_candidates, segment_object
from chatedit.tools.vision_models import SegmenterBundle
from tests.helpers import run_in_threads


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory) -> SegmenterBundle:
    return ModelSet("tiny", "cpu", cache_dir=tmp_path_factory.mktemp("models-cache")).segmenter


@pytest.fixture
def encoder_calls(segmenter) -> list[int]:
    """One entry per run of SAM's image encoder during a test."""
    calls: list[int] = []
    handle = segmenter.model.vision_encoder.register_forward_hook(lambda *_: calls.append(1))
    yield calls
    handle.remove()


def shifted(image: Image.Image, offset: int) -> Image.Image:
    """A picture no earlier test has used (so not in the embedding cache)."""
    pixels = np.asarray(image).astype(np.int16)
    return Image.fromarray(((pixels + offset) % 256).astype(np.uint8))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / max((a | b).sum(), 1)


@pytest.mark.parametrize("photo", ["odd_photo", "astronaut"])
def test_a_box_gives_a_mask_at_the_image_size(segmenter, photo, request):
    image = request.getfixturevalue(photo)
    for box in [(10.0, 20.0, 300.0, 200.0), (100.5, 150.0, image.width - 1.0, image.height - 3.0)]:
        mask = segment_object(segmenter, image, box=box)
        assert mask.shape == (image.height, image.width) and mask.dtype == bool


def test_clicks_on_an_object_are_one_prompt_at_the_image_size(segmenter, odd_photo, monkeypatch):
    prompts = []
    original = type(segmenter.model).forward

    def spy(self, *args, **kwargs):
        prompts.append({name: tuple(value.shape) for name, value in kwargs.items() if name.startswith("input_")})
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(segmenter.model), "forward", spy)
    mask = segment_object(segmenter, odd_photo, points=[(5, 7), (300, 200), (600, 402)])

    assert mask.shape == (403, 601) and mask.dtype == bool
    assert prompts == [{"input_points": (1, 1, 3, 2), "input_labels": (1, 1, 3)}]


def test_masks_match_sam_run_end_to_end_with_the_best_rated_of_three(segmenter, odd_photo):
    box = [40.0, 30.0, 420.0, 350.0]
    inputs = segmenter.processor(images=odd_photo, input_boxes=[[box]], return_tensors="pt")
    with torch.inference_mode():
        outputs = segmenter.model(**inputs, multimask_output=True)
    all_three = segmenter.processor.post_process_masks(
        outputs.pred_masks, inputs["original_sizes"], inputs["reshaped_input_sizes"]
    )[0][0].numpy()
    best = all_three[outputs.iou_scores[0, 0].argmax().item()]

    mask = segment_object(segmenter, odd_photo, box=tuple(box))

    assert all_three.shape == (3, 403, 601)
    assert iou(mask, best) > 0.99


def test_a_box_with_clicks_matches_sam_given_both(segmenter, odd_photo):
    box, points = [0.0, 0.0, 300.0, 200.0], [[150.0, 100.0], [250.0, 150.0]]
    inputs = segmenter.processor(
        images=odd_photo, input_boxes=[[box]], input_points=[[points]], input_labels=[[[1, 1]]], return_tensors="pt"
    )
    with torch.inference_mode():
        outputs = segmenter.model(**inputs, multimask_output=True)
    all_three = segmenter.processor.post_process_masks(
        outputs.pred_masks, inputs["original_sizes"], inputs["reshaped_input_sizes"]
    )[0][0].numpy()
    best = all_three[outputs.iou_scores[0, 0].argmax().item()]

    mask = segment_object(segmenter, odd_photo, box=tuple(box), points=[tuple(point) for point in points])

    assert iou(mask, best) > 0.99


def test_image_is_encoded_once_for_all_prompts_on_it(segmenter, encoder_calls, coffee):
    first, second = shifted(coffee, 1), shifted(coffee, 2)

    segment_object(segmenter, first, box=(10, 10, 200, 200))
    segment_object(segmenter, first, points=[(50, 60)])
    segment_candidates(segmenter, first, points_per_side=2)
    assert len(encoder_calls) == 1

    segment_object(segmenter, second, box=(10, 10, 200, 200))
    assert len(encoder_calls) == 2

    segment_object(segmenter, first.copy(), points=[(70, 80)])  # same content, another object: still cached
    assert len(encoder_calls) == 2


def test_only_the_last_few_images_stay_encoded(segmenter, encoder_calls, astronaut):
    images = [shifted(astronaut, offset) for offset in range(10, 10 + segmenter.embeddings.capacity + 1)]
    for image in images:
        segment_object(segmenter, image, points=[(10, 10)])
    assert len(encoder_calls) == len(images)

    segment_object(segmenter, images[-1], points=[(20, 20)])  # recent: cached
    assert len(encoder_calls) == len(images)
    segment_object(segmenter, images[0], points=[(20, 20)])  # the oldest was evicted
    assert len(encoder_calls) == len(images) + 1


def test_threads_on_a_new_image_share_one_encoding(segmenter, encoder_calls, chelsea):
    image = shifted(chelsea, 3)
    results, errors = run_in_threads(lambda: segment_object(segmenter, image, points=[(100, 100)]), 4)

    assert errors == [] and len(results) == 4
    assert len(encoder_calls) == 1
    assert all(np.array_equal(result, results[0]) for result in results)


def test_candidates_are_distinct_masks_of_the_image(segmenter, odd_photo):
    candidates = segment_candidates(segmenter, odd_photo, points_per_side=4)

    assert 1 < len(candidates) <= 3 * 4 * 4
    for mask in candidates:
        assert mask.shape == (403, 601) and mask.dtype == bool and mask.any()
    for index, mask in enumerate(candidates):
        for other in candidates[index + 1 :]:
            assert not np.array_equal(mask, other)
            assert iou(mask, other) <= DUPLICATE_IOU + 0.05  # deduplicated at low resolution


def test_no_prompt_is_an_input_error(segmenter, coffee):
    with pytest.raises(InputError, match="give a box or at least one point"):
        segment_object(segmenter, coffee)
