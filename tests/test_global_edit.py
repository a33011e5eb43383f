"""Instruction edits of the whole image on a tiny InstructPix2Pix: input size kept, aspect kept, steps reported."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chatedit.tools.diffusion_models import load_global_editor
from chatedit.tools.global_edit import global_edit
from tests.helpers import Spy, random_image


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp("models")
    cpu = torch.device("cpu")
    return load_global_editor(weights="tiny", checkpoint="unused", device=cpu, dtype=torch.float32, cache_dir=cache_dir)


@pytest.mark.parametrize("size", [(601, 403), (1000, 300), (77, 129)])
def test_global_edit_gives_back_the_input_size(pipe, size):
    image = random_image(*size)
    spy = Spy(pipe)
    result = global_edit(spy, image, "make it winter", steps=2, seed=0)
    assert result.image.size == image.size and result.image.mode == "RGB"
    assert result.mask is None
    # Aspect kept: the longer side at the default 1.5x native (96 px for the tiny model), multiples of 8.
    width, height = spy.calls[0]["image"].size
    assert (width, height) == result.info["working_size"]
    assert max(width, height) == 96 and width % 8 == 0 and height % 8 == 0
    scale = 96 / max(size)
    assert abs(width - size[0] * scale) <= 4 and abs(height - size[1] * scale) <= 4
    assert spy.calls[0]["prompt"] == "make it winter"


@pytest.mark.parametrize(("max_side", "expected"), [(48, (48, 32)), (768, (768, 512))])
def test_max_side_sets_the_working_size(pipe, odd_photo, max_side, expected):
    spy = Spy(pipe)
    result = global_edit(spy, odd_photo, "make it sunset", steps=1, seed=0, max_side=max_side)
    assert result.info["working_size"] == spy.calls[0]["image"].size == expected
    assert result.image.size == odd_photo.size


def test_guidance_reaches_the_pipeline(pipe, odd_photo):
    spy = Spy(pipe)
    global_edit(spy, odd_photo, "add snow", steps=2, seed=0, guidance=5.0, image_guidance=1.2, max_side=64)
    call = spy.calls[0]
    assert call["guidance_scale"] == 5.0 and call["image_guidance_scale"] == 1.2 and call["num_inference_steps"] == 2


def test_on_step_fires_once_per_denoising_step(pipe, odd_photo):
    steps = []
    global_edit(pipe, odd_photo, "make it night", steps=4, max_side=64, on_step=lambda i, n: steps.append((i, n)))
    assert steps == [(0, 4), (1, 4), (2, 4), (3, 4)]


def test_the_same_seed_gives_the_same_picture(pipe, odd_photo):
    first = global_edit(pipe, odd_photo, "make it autumn", steps=2, seed=3, max_side=64)
    second = global_edit(pipe, odd_photo, "make it autumn", steps=2, seed=3, max_side=64)
    other = global_edit(pipe, odd_photo, "make it autumn", steps=2, seed=4, max_side=64)
    assert first.info["seed"] == 3
    assert np.array_equal(np.asarray(first.image), np.asarray(second.image))
    assert not np.array_equal(np.asarray(first.image), np.asarray(other.image))


def test_running_out_of_gpu_memory_retries_once_at_a_smaller_size(pipe, odd_photo):
    spy = Spy(pipe, out_of_memory_calls=1)
    result = global_edit(spy, odd_photo, "make it foggy", steps=2, seed=0)
    first, retry = (call["image"].size for call in spy.calls)
    assert max(first) == 96 and max(retry) == 72
    assert result.info["oom_retry"] == "smaller size" and result.info["working_size"] == retry
    assert result.image.size == odd_photo.size
