"""Tests for tools/colours.py: naming the colours of an object's pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from chatedit.tools.colours import NAMES, SHADES, colour_name, colour_share, to_lab


def test_to_lab_matches_reference_values():
    lab = to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 0, 255]], float))
    assert lab[0] == pytest.approx([100.0, 0.0, 0.0], abs=0.05)
    assert lab[1] == pytest.approx([0.0, 0.0, 0.0], abs=0.05)
    assert lab[2] == pytest.approx([53.24, 80.09, 67.20], abs=0.05)
    assert lab[3] == pytest.approx([32.30, 79.19, -107.86], abs=0.05)


def test_colour_name_reads_aliases_and_refuses_other_words():
    assert colour_name("Red") == "red"
    assert colour_name("navy") == "blue"
    assert colour_name("gray") == colour_name("silver") == "grey"
    assert colour_name("car") is None
    assert {"red", "navy", "gray"} <= NAMES and "car" not in NAMES


def _halves(left: tuple, right: tuple, size=(40, 20)) -> Image.Image:
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[:, : size[0] // 2] = left
    pixels[:, size[0] // 2 :] = right
    return Image.fromarray(pixels)


def test_colour_share_is_the_share_of_the_masked_pixels_of_that_colour():
    image = _halves((200, 30, 30), (30, 60, 190))
    everything = np.ones((20, 40), bool)
    assert colour_share(image, everything, "red") == pytest.approx(0.5)
    assert colour_share(image, everything, "blue") == pytest.approx(0.5)
    assert colour_share(image, everything, "green") == 0.0
    left = np.zeros((20, 40), bool)
    left[:, :20] = True
    assert colour_share(image, left, "red") == 1.0
    assert colour_share(image, left, "crimson") == 1.0
    assert colour_share(np.asarray(image), left, "red") == 1.0


def test_a_colour_in_shade_or_pale_keeps_its_name():
    dark_red, pale_blue = (110, 20, 22), (150, 185, 230)
    image = _halves(dark_red, pale_blue)
    left = np.zeros((20, 40), bool)
    left[:, :20] = True
    assert colour_share(image, left, "red") == 1.0
    assert colour_share(image, ~left, "blue") == 1.0


def test_an_empty_mask_or_an_unknown_word_fits_nothing():
    image = _halves((200, 30, 30), (30, 60, 190))
    assert colour_share(image, np.zeros((20, 40), bool), "red") == 0.0
    assert colour_share(image, np.ones((20, 40), bool), "wooden") == 0.0


def test_a_large_object_is_read_from_an_even_sample():
    image = _halves((200, 30, 30), (30, 60, 190), size=(400, 200))
    assert colour_share(image, np.ones((200, 400), bool), "red") == pytest.approx(0.5, abs=0.01)


def test_every_shade_is_named_by_its_own_colour():
    for name, shades in SHADES.items():
        for shade in shades:
            rgb = tuple(int(shade[i : i + 2], 16) for i in (1, 3, 5))
            image = Image.new("RGB", (4, 4), rgb)
            assert colour_share(image, np.ones((4, 4), bool), name) == 1.0, (name, shade)
