"""Helpers shared by the diffusion tools: working sizes, seeds, step callbacks, the out-of-memory retry."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from chatedit.tools.diffusion_utils import (
    OOM_RETRY_SCALE,
    native_resolution,
    pick_seed,
    retry_smaller_on_oom,
    size_multiple,
    step_callback,
    working_size,
)
from chatedit.tools.errors import ChatEditError


def fake_pipe(sample_size: int, vae_scale_factor: int):
    unet = SimpleNamespace(config=SimpleNamespace(sample_size=sample_size))
    return SimpleNamespace(unet=unet, vae_scale_factor=vae_scale_factor)


@pytest.mark.parametrize(("sample_size", "vae_scale_factor", "native"), [(64, 8, 512), (128, 8, 1024), (32, 2, 64)])
def test_native_resolution_is_the_unets_sample_size_in_pixels(sample_size, vae_scale_factor, native):
    pipe = fake_pipe(sample_size, vae_scale_factor)
    assert native_resolution(pipe) == native
    assert size_multiple(pipe) == 8


@pytest.mark.parametrize(
    ("size", "longest", "expected"),
    [
        ((601, 403), 512, (512, 344)),  # 403 * 512 / 601 = 343.3
        ((403, 601), 512, (344, 512)),
        ((1000, 300), 512, (512, 152)),  # 153.6 rounds to the nearest multiple of 8
        ((4000, 10), 512, (512, 8)),  # never below one multiple
        ((100, 100), 768, (768, 768)),  # small inputs are scaled up
    ],
)
def test_working_size_keeps_the_aspect_in_multiples_of_8(size, longest, expected):
    assert working_size(*size, longest) == expected


def test_pick_seed_keeps_a_given_seed_and_draws_a_fresh_one_otherwise():
    assert pick_seed(42) == 42
    drawn = {pick_seed(None) for _ in range(5)}
    assert len(drawn) > 1 and all(0 <= seed < 2**32 for seed in drawn)


def test_step_callback_reports_the_steps_the_pipeline_actually_runs():
    seen = []
    callback = step_callback(lambda i, total: seen.append((i, total)))
    pipe = SimpleNamespace(num_timesteps=12)
    tensors = {"latents": torch.zeros(1)}
    assert callback(pipe, 3, 500, tensors) is tensors
    assert seen == [(3, 12)]
    assert step_callback(None) is None


def test_out_of_memory_is_retried_once_at_a_smaller_scale():
    scales, info = [], {}

    def run(scale):
        scales.append(scale)
        if scale == 1.0:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        return "done"

    assert retry_smaller_on_oom(run, info) == "done"
    assert scales == [1.0, OOM_RETRY_SCALE] and info["oom_retry"] == "smaller size"


def test_no_retry_when_memory_suffices_and_a_clear_error_when_it_never_does():
    info = {}
    assert retry_smaller_on_oom(lambda scale: scale, info) == 1.0 and info["oom_retry"] is False

    def never_fits(scale):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory.")

    with pytest.raises(ChatEditError, match="ran out of memory"):
        retry_smaller_on_oom(never_fits, {})


def test_other_errors_are_not_retried():
    calls = []

    def broken(scale):
        calls.append(scale)
        raise ValueError("bad input")

    with pytest.raises(ValueError):
        retry_smaller_on_oom(broken, {})
    assert calls == [1.0]
