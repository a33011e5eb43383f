"""Colour names of pixels: how much of an object is "red", read from tools/colours.toml.

Each named colour has a few typical shades; a pixel takes the name of the shade nearest to it in CIE
Lab (a space where distance follows what people see), so a red car in shade is still red. The share
of an object's pixels named a colour says how well the name fits the object.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional, Union

import numpy as np
from PIL import Image, ImageColor

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

with open(Path(__file__).with_name("colours.toml"), "rb") as _handle:
    _TABLE = tomllib.load(_handle)

SHADES: dict[str, list[str]] = _TABLE["shades"]
"""Each colour name and its typical shades, as sRGB hex."""
ALIASES: dict[str, str] = _TABLE["aliases"]
"""Other names of the colours ("navy" is blue)."""
NAMES: frozenset[str] = frozenset(SHADES) | frozenset(ALIASES)
"""Every colour word understood."""
MAX_PIXELS = 20000
"""Pixels of an object read at most (an even sample of a larger one): enough for a share."""


def colour_name(word: str) -> Optional[str]:
    """Gives back the colour a word names ("navy" -> "blue"), or None when it names none."""
    word = word.lower()
    return word if word in SHADES else ALIASES.get(word)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """Gives back CIE Lab (D65) of sRGB values in 0..255, shape (..., 3)."""
    value = np.asarray(rgb, float) / 255.0
    linear = np.where(value <= 0.04045, value / 12.92, ((value + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array(
        [[0.4124564, 0.2126729, 0.0193339], [0.3575761, 0.7151522, 0.1191920], [0.1804375, 0.0721750, 0.9503041]]
    )
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


_NAMED = [(name, shade) for name, shades in SHADES.items() for shade in shades]
_SHADE_LAB = to_lab(np.array([ImageColor.getrgb(shade)[:3] for _, shade in _NAMED], float))
_SHADE_NAME = np.array([name for name, _ in _NAMED])


def colour_share(image: Union[Image.Image, np.ndarray], mask: np.ndarray, colour: str) -> float:
    """Gives back the share (0 to 1) of the pixels under `mask` whose nearest named shade is `colour`.

    Args:
        image: the picture, or its RGB pixels (height, width, 3), read once for several objects.
        mask: bool, the picture's size: the object's pixels.
        colour: a colour word ("red", "navy"); an unknown word fits nothing (0).
    """
    name = colour_name(colour)
    rgb = np.asarray(image.convert("RGB")) if isinstance(image, Image.Image) else image
    pixels = rgb[mask]
    if name is None or not len(pixels):
        return 0.0
    if len(pixels) > MAX_PIXELS:
        pixels = pixels[:: len(pixels) // MAX_PIXELS + 1]
    distances = np.linalg.norm(to_lab(pixels)[:, None, :] - _SHADE_LAB[None, :, :], axis=-1)
    return float(np.mean(_SHADE_NAME[distances.argmin(axis=1)] == name))
