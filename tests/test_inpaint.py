"""Inpainting on tiny models: only the paste mask may change, the crop keeps its aspect, steps are reported."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from chatedit.tools import masks
from chatedit.tools.diffusion_models import load_inpainter
from chatedit.tools.errors import ChatEditError, InputError
from chatedit.tools.inpaint import crop_box, fit_prompt, inpaint, paste, remove
from tests.helpers import Spy, random_image

STEPS = 3


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp("models")
    cpu = torch.device("cpu")
    return load_inpainter(weights="tiny", checkpoint="unused", device=cpu, dtype=torch.float32, cache_dir=cache_dir)


def box(shape, x0, y0, x1, y1):
    return masks.box_mask(shape, (x0, y0, x1, y1))


def assert_untouched_outside(result, image):
    before, after = np.asarray(image), np.asarray(result.image)
    assert after.shape == before.shape
    outside = result.mask == 0
    assert outside.any()
    assert np.array_equal(after[outside], before[outside])


@pytest.mark.parametrize(
    ("size", "region"),
    [
        ((601, 403), (420, 250, 601, 403)),  # touches the right and bottom edges
        ((601, 403), (0, 0, 37, 29)),  # a small mask in the top-left corner
        ((1000, 300), (0, 40, 350, 260)),  # a wide image, mask on the left edge
        ((1000, 300), (0, 290, 1000, 300)),  # a thin strip along the whole bottom edge
    ],
)
def test_inpaint_leaves_every_pixel_outside_the_paste_mask_bit_identical(pipe, odd_photo, size, region):
    image = odd_photo if size == odd_photo.size else random_image(*size)
    mask = box((image.height, image.width), *region)
    result = inpaint(pipe, image, mask, "a red ball", steps=2, seed=0)
    assert result.image.size == image.size
    assert result.mask.shape == mask.shape and result.mask.dtype == np.float32
    assert np.all(result.mask[mask] == 1.0)
    assert_untouched_outside(result, image)
    assert not np.array_equal(np.asarray(result.image)[mask], np.asarray(image)[mask])


def test_paste_mask_is_zero_beyond_the_feather(pipe, odd_photo):
    mask = box((403, 601), 200, 150, 300, 250)
    result = inpaint(pipe, odd_photo, mask, "a vase", steps=2, seed=0, feather_px=6)
    distance = ndimage.distance_transform_edt(~mask)
    assert np.all(result.mask[distance >= 6] == 0)
    assert np.all(result.mask[(distance > 0) & (distance < 6)] > 0)
    assert np.all((result.mask >= 0) & (result.mask <= 1))


@pytest.mark.parametrize(("size", "region"), [((1000, 300), (100, 100, 700, 200)), ((601, 403), (500, 20, 560, 390))])
def test_the_crop_keeps_its_aspect_ratio_at_native_resolution(pipe, size, region):
    image = random_image(*size, seed=1)
    spy = Spy(pipe)
    result = inpaint(spy, image, box((size[1], size[0]), *region), "a cat", steps=2, seed=0)
    (call,) = spy.calls
    x0, y0, x1, y1 = result.info["crop_box"]
    width, height = call["width"], call["height"]
    assert (width, height) == result.info["working_size"] == call["image"].size == call["mask_image"].size
    assert max(width, height) == 64  # the tiny model's native resolution
    assert width % 8 == 0 and height % 8 == 0
    # The longer side is the native one; the shorter is the crop's, scaled, to the nearest multiple of 8.
    scale = 64 / max(x1 - x0, y1 - y0)
    assert abs(width - (x1 - x0) * scale) <= 4 and abs(height - (y1 - y0) * scale) <= 4
    assert 0 <= x0 and 0 <= y0 and x1 <= size[0] and y1 <= size[1]
    assert x0 <= region[0] and y0 <= region[1] and x1 >= region[2] and y1 >= region[3]


def test_crop_box_pads_by_the_mask_size_and_stays_inside_the_image():
    assert crop_box((100, 100, 120, 140), (1000, 1000), context=1.0, margin=0, min_side=0) == (80, 60, 140, 180)
    # At the border the crop is shifted inwards rather than cut, so the mask keeps its context.
    assert crop_box((0, 0, 20, 40), (1000, 1000), context=1.0, margin=0, min_side=0) == (0, 0, 60, 120)
    assert crop_box((980, 960, 1000, 1000), (1000, 1000), context=1.0, margin=0, min_side=0) == (940, 880, 1000, 1000)
    assert crop_box((10, 10, 12, 12), (1000, 1000), context=1.0, margin=0, min_side=256) == (0, 0, 256, 256)
    assert crop_box((0, 0, 900, 50), (1000, 100), context=1.0, margin=5, min_side=0) == (0, 0, 1000, 100)


def test_on_step_fires_once_per_denoising_step(pipe, odd_photo):
    mask = box((403, 601), 50, 50, 150, 150)
    steps = []
    inpaint(pipe, odd_photo, mask, "a lamp", steps=STEPS, seed=0, on_step=lambda i, total: steps.append((i, total)))
    assert steps == [(0, STEPS), (1, STEPS), (2, STEPS)]
    steps.clear()
    inpaint(pipe, odd_photo, mask, "a lamp", steps=4, strength=0.5, seed=0, on_step=lambda i, n: steps.append((i, n)))
    assert steps == [(0, 2), (1, 2)]


def test_the_same_seed_gives_the_same_picture(pipe, odd_photo):
    mask = box((403, 601), 300, 100, 400, 200)
    first = inpaint(pipe, odd_photo, mask, "a bird", steps=2, seed=7)
    second = inpaint(pipe, odd_photo, mask, "a bird", steps=2, seed=7)
    other = inpaint(pipe, odd_photo, mask, "a bird", steps=2, seed=8)
    assert first.info["seed"] == 7
    assert np.array_equal(np.asarray(first.image), np.asarray(second.image))
    assert not np.array_equal(np.asarray(first.image), np.asarray(other.image))


def test_a_missing_seed_is_picked_and_recorded(pipe, odd_photo):
    mask = box((403, 601), 300, 100, 400, 200)
    first = inpaint(pipe, odd_photo, mask, "a bird", steps=2)
    again = inpaint(pipe, odd_photo, mask, "a bird", steps=2, seed=first.info["seed"])
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))


def test_running_out_of_gpu_memory_retries_once_at_a_smaller_size(pipe, odd_photo):
    spy = Spy(pipe, out_of_memory_calls=1)
    mask = box((403, 601), 100, 100, 300, 200)
    result = inpaint(spy, odd_photo, mask, "a boat", steps=2, seed=0)
    first, retry = spy.calls
    assert max(first["width"], first["height"]) == 64
    assert max(retry["width"], retry["height"]) == 48
    assert result.info["oom_retry"] == "smaller size" and result.info["working_size"] == (
        retry["width"],
        retry["height"],
    )
    assert_untouched_outside(result, odd_photo)


def test_running_out_of_gpu_memory_twice_says_what_to_do(pipe, odd_photo):
    class AlwaysOutOfMemory(Spy):
        def __call__(self, **kwargs):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")

    with pytest.raises(ChatEditError, match="ran out of memory even at a reduced size"):
        inpaint(AlwaysOutOfMemory(pipe), odd_photo, box((403, 601), 0, 0, 10, 10), "x", steps=2)


def test_remove_dilates_the_mask_and_names_the_object_in_the_negative_prompt(pipe, odd_photo):
    spy = Spy(pipe)
    mask = box((403, 601), 250, 0, 350, 120)  # touches the top edge
    result = remove(spy, odd_photo, mask, "coffee cup", steps=2, seed=0, negative_prompt="blur")
    dilation = result.info["dilation"]
    assert dilation == masks.dilation_for(mask) >= 4
    assert np.all(result.mask[masks.dilate(mask, dilation)] == 1.0)
    assert np.count_nonzero(result.mask == 1.0) > np.count_nonzero(mask)
    negative = spy.calls[0]["negative_prompt"]
    assert "coffee cup" in negative and "blur" in negative and "watermark" in negative
    assert spy.calls[0]["prompt"].startswith("background")
    assert_untouched_outside(result, odd_photo)


def test_remove_on_a_wide_image_with_a_border_mask_keeps_the_rest(pipe):
    image = random_image(1000, 300, seed=3)
    mask = masks.ellipse_mask((300, 1000), (900, 100, 1060, 260))
    result = remove(pipe, image, mask, "dog", dilation=10, steps=2, seed=0)
    assert result.info["dilation"] == 10
    assert np.all(result.mask[masks.dilate(mask, 10)] == 1.0)
    assert_untouched_outside(result, image)
    assert np.all(result.mask[:, :700] == 0)


def test_paste_blends_only_where_alpha_is_positive():
    image = Image.fromarray(np.full((4, 5, 3), 100, dtype=np.uint8))
    patch = Image.fromarray(np.full((2, 3, 3), 200, dtype=np.uint8))
    alpha = np.zeros((4, 5), dtype=np.float32)
    alpha[1, 1], alpha[1, 2], alpha[2, 3] = 1.0, 0.5, 0.25
    out = np.asarray(paste(image, patch, alpha, (1, 1, 4, 3)))
    assert out[1, 1, 0] == 200 and out[1, 2, 0] == 150 and out[2, 3, 0] == 125
    assert np.all(out[alpha == 0] == 100)


def test_masks_that_do_not_fit_the_image_are_refused(pipe, odd_photo):
    with pytest.raises(InputError, match="empty"):
        inpaint(pipe, odd_photo, np.zeros((403, 601), dtype=bool), "x")
    with pytest.raises(InputError, match="601x403"):
        inpaint(pipe, odd_photo, np.ones((601, 403), dtype=bool), "x")


def test_paste_is_the_alpha_blend_rounded_wherever_alpha_is_positive():
    rng = np.random.default_rng(5)
    image = random_image(40, 30, seed=6)
    box_ = (7, 4, 33, 25)
    patch = random_image(26, 21, seed=7)
    alpha = np.zeros((30, 40), dtype=np.float32)
    weight = rng.random((21, 26)).astype(np.float32)
    weight[rng.random(weight.shape) < 0.3] = 1.0
    weight[rng.random(weight.shape) < 0.3] = 0.0
    alpha[4:25, 7:33] = weight
    out = np.asarray(paste(image, patch, alpha, box_)).astype(np.float64)
    before = np.asarray(image).astype(np.float64)
    a = alpha[..., None].astype(np.float64)
    inside = np.zeros_like(before)
    inside[4:25, 7:33] = np.asarray(patch)
    expected = np.where(a > 0, np.rint(a * inside + (1 - a) * before), before)
    assert np.abs(out - expected).max() <= 1  # float32 arithmetic may round a half the other way
    assert np.array_equal(out[alpha == 1.0], inside[alpha == 1.0])
    assert np.array_equal(out[alpha == 0], before[alpha == 0])


def test_a_long_prompt_is_cut_after_the_last_word_the_text_encoder_reads(pipe, odd_photo):
    tokenizer = pipe.tokenizer
    long = ", ".join(f"a red wooden chair number {i}" for i in range(40))
    assert len(tokenizer(long, verbose=False)["input_ids"]) > tokenizer.model_max_length
    cut = fit_prompt(pipe, long)
    words = cut.split()
    assert long.startswith(cut) and words
    assert len(tokenizer(cut, verbose=False)["input_ids"]) <= tokenizer.model_max_length
    one_more = " ".join(long.split()[: len(words) + 1])
    assert len(tokenizer(one_more, verbose=False)["input_ids"]) > tokenizer.model_max_length
    assert fit_prompt(pipe, "a red chair") == "a red chair"

    spy = Spy(pipe)
    inpaint(spy, odd_photo, box((403, 601), 100, 100, 200, 200), long, steps=1, seed=0)
    assert spy.calls[0]["prompt"] == cut


def test_encoders_that_read_long_prompts_get_them_whole(pipe):
    class LongReader:
        tokenizer = type("Tokenizer", (), {"model_max_length": 131072})()

    long = " ".join(["word"] * 500)
    assert fit_prompt(LongReader(), long) == long
    assert fit_prompt(object(), long) == long
