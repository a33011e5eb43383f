"""Tests for agent/verifier.py: the pixel measures behind the model checks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from chatedit.agent import verifier
from tests.helpers import random_image


def edited(image: Image.Image, region: np.ndarray, seed: int) -> Image.Image:
    pixels = np.array(image)
    rng = np.random.default_rng(seed)
    pixels[region] = rng.integers(0, 256, (int(region.sum()), 3), dtype=np.uint8)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_change_inside_is_the_mean_absolute_difference(seed):
    rng = np.random.default_rng(seed)
    before = random_image(53, 37, seed=seed)
    changed = rng.random((37, 53)) < 0.4
    after = edited(before, changed, seed)
    diff = np.abs(np.asarray(before, np.int16) - np.asarray(after, np.int16)).mean(axis=2)
    region = rng.random((37, 53)) < 0.2
    assert verifier.change_inside(before, after, None) == pytest.approx(diff.mean(), rel=1e-12)
    assert verifier.change_inside(before, after, region) == pytest.approx(diff[region].mean(), rel=1e-12)
    assert verifier.change_inside(before, after, np.zeros((37, 53), bool)) == 0.0
    assert verifier.change_inside(before, before, region) == 0.0


def test_changed_outside_counts_changed_pixels_where_the_paste_mask_is_zero():
    before = random_image(60, 40, seed=3)
    pixels = np.array(before)
    pixels[5:20, 10:30] ^= 0xFF  # inside the paste mask
    pixels[35, 55, 1] ^= 0x01  # one channel of one pixel far from it
    after = Image.fromarray(pixels)
    paste_mask = np.zeros((40, 60), np.float32)
    paste_mask[5:20, 10:30] = 0.5
    assert verifier.changed_outside(before, after, paste_mask) == 1
    paste_mask[35, 55] = 1.0
    assert verifier.changed_outside(before, after, paste_mask) == 0
    assert verifier.changed_outside(before, after, np.zeros((40, 60), np.float32)) == 15 * 20 + 1
    assert verifier.changed_outside(before, before, np.zeros((40, 60), np.float32)) == 0
