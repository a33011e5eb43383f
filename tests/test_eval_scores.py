"""The no-judge scores on pictures with a known answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from chatedit.agent.eval import scores


@pytest.fixture
def photo(coffee) -> Image.Image:
    return coffee.resize((160, 120), Image.Resampling.BICUBIC)


def test_a_one_pixel_shift_gives_that_offset(photo):
    pixels = np.asarray(photo)
    right = Image.fromarray(np.roll(pixels, 1, axis=1))
    down = Image.fromarray(np.roll(pixels, 1, axis=0))

    assert scores.shift(photo, right)["dx"] == pytest.approx(1.0, abs=0.1)
    assert scores.shift(photo, right)["dy"] == pytest.approx(0.0, abs=0.1)
    assert scores.shift(photo, down)["dy"] == pytest.approx(1.0, abs=0.1)
    kept = np.ones((120, 160), bool)
    kept[30:90, 40:120] = False
    masked = scores.shift(photo, right, kept)
    assert (masked["dx"], masked["dy"]) == (1.0, 0.0)
    assert scores.shift(photo, photo, kept)["pixels"] == 0.0


def test_a_repainted_region_is_no_shift_when_the_kept_pixels_stay(photo):
    pixels = np.asarray(photo).copy()
    pixels[20:100, 30:130] = np.random.default_rng(0).integers(0, 256, (80, 100, 3), dtype=np.uint8)
    kept = np.ones((120, 160), bool)
    kept[20:100, 30:130] = False

    assert scores.shift(photo, Image.fromarray(pixels), kept)["pixels"] == 0.0


def test_a_known_noise_patch_gives_the_expected_psnr(photo):
    before = np.full((120, 160, 3), 128, np.uint8)
    after = before.copy()
    signs = np.random.default_rng(1).choice([-10, 10], size=(40, 50, 3))
    after[40:80, 50:100] = (128 + signs).astype(np.uint8)
    patch = np.zeros((120, 160), bool)
    patch[40:80, 50:100] = True

    inside = scores.region_scores(before, after, patch)
    outside = scores.region_scores(before, after, ~patch)

    assert inside["psnr"] == pytest.approx(20 * math.log10(255 / 10), abs=1e-9)
    assert inside["changed"] == 1.0 and inside["pixels"] == 2000
    assert math.isinf(outside["psnr"]) and outside["changed"] == 0.0
    assert outside["ssim"] == pytest.approx(1.0)
    assert inside["ssim"] < 0.9


def test_an_empty_region_has_no_scores():
    image = np.zeros((8, 8, 3), np.uint8)
    empty = scores.region_scores(image, image, np.zeros((8, 8), bool))
    assert empty == {"pixels": 0, "changed": None, "psnr": None, "ssim": None, "lpips": None}


def test_lpips_says_why_it_is_skipped_when_it_cannot_run(monkeypatch, tmp_path):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    perceptual = scores.Perceptual.load()
    assert perceptual.net is None and "LPIPS skipped" in (perceptual.note or "")
    image = np.zeros((8, 8, 3), np.uint8)
    assert perceptual(image, image, np.ones((8, 8), bool)) is None
