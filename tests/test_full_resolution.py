"""Carrying a whole-picture edit made at 1 MP (1248x832) onto a 4000 px photo."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter, uniform_filter

from chatedit.tools.full_resolution import carry_to_full_size
from tests.helpers import record_calls


@pytest.fixture(scope="module")
def photo(astronaut) -> Image.Image:
    """A 4000x2672 photo with fine grain that exists only at full size (as a camera's sensor gives)."""
    big = np.asarray(astronaut.resize((4000, 2672), Image.Resampling.BICUBIC), np.int16)
    grain = np.random.default_rng(0).integers(-16, 17, (2672, 4000, 1), dtype=np.int16)
    return Image.fromarray(np.clip(big + grain, 0, 255).astype(np.uint8))


def _warm(image: Image.Image) -> Image.Image:
    """A tone and colour edit: brighter midtones, warmer (more red, less blue)."""
    values = (np.asarray(image, np.float32) / 255.0) ** 0.8 * np.array([1.1, 1.0, 0.85], np.float32)
    return Image.fromarray(np.clip(np.rint(values * 255), 0, 255).astype(np.uint8))


def _pencil_sketch(image: Image.Image) -> Image.Image:
    """A style edit: a grey colour-dodge sketch, strokes instead of the photo's texture."""
    grey = np.asarray(image.convert("L"), np.float32)
    dodge = np.clip(grey * 255.0 / (256.0 - gaussian_filter(255.0 - grey, 6)), 0, 255)
    return Image.fromarray(dodge.astype(np.uint8)).convert("RGB")


def _detail_energy(image: Image.Image) -> float:
    grey = np.asarray(image.convert("L"), np.float32)
    return float(np.square(grey - uniform_filter(grey, 3)).mean())


def test_tone_edit_at_1mp_keeps_the_photos_fine_detail_and_carries_the_change(photo):
    small = photo.resize((1248, 832), Image.Resampling.LANCZOS)
    result, info = carry_to_full_size(photo, _warm(small))
    assert result.size == photo.size and info["full_resolution"] == "guided"
    reference = _warm(photo)
    # Most of the full-size photo's high-frequency energy is kept; a plain upscale keeps almost none.
    assert _detail_energy(result) > 0.75 * _detail_energy(reference)
    assert _detail_energy(_warm(small).resize(photo.size, Image.Resampling.LANCZOS)) < 0.2 * _detail_energy(reference)
    # The change itself is carried: close to the edit made at full size, far from the original.
    result_values, reference_values = np.asarray(result, np.float32), np.asarray(reference, np.float32)
    assert np.abs(result_values - reference_values).mean() < 4.0
    assert np.abs(result_values - np.asarray(photo, np.float32)).mean() > 10.0
    red_minus_blue = result_values[..., 0].mean() - result_values[..., 2].mean()
    assert (
        red_minus_blue
        > np.asarray(photo, np.float32)[..., 0].mean() - np.asarray(photo, np.float32)[..., 2].mean() + 10
    )


def test_style_edit_is_not_forced_back_onto_the_photos_texture(photo):
    small = photo.resize((1248, 832), Image.Resampling.LANCZOS)
    sketch = _pencil_sketch(small)
    result, info = carry_to_full_size(photo, sketch)
    assert info["full_resolution"] == "upscaled" and info["structure_r2"] < 0.9
    assert np.array_equal(np.asarray(result), np.asarray(sketch.resize(photo.size, Image.Resampling.LANCZOS)))


def test_an_edit_at_the_photos_own_size_is_the_answer(astronaut):
    edited = _warm(astronaut)
    result, info = carry_to_full_size(astronaut, edited)
    assert info["full_resolution"] == "native" and result is not None
    assert np.array_equal(np.asarray(result), np.asarray(edited))


def test_an_8192_px_photo_is_accepted_and_edited_at_the_working_size(tmp_path, monkeypatch, one_torch_thread):
    from chatedit.tools import region_edit
    from chatedit.tools.images import load_image
    from chatedit.tools.models import ModelSet

    path = tmp_path / "camera.jpg"
    Image.new("RGB", (8192, 5464), (90, 120, 160)).save(path, quality=80)
    photo = load_image(path)
    models = ModelSet("modern", "cpu", cache_dir=tmp_path / "models", weights="tiny")
    editor = models.global_editor
    calls = record_calls(editor, monkeypatch)
    result = region_edit.edit_whole(editor, photo, "make it warmer", steps=2, seed=0, area=models.editor_area)
    # The model sees the working size only; the answer has the photo's size.
    assert [call["image"].size for call in calls] == [region_edit.editor_size(8192, 5464, area=models.editor_area)]
    assert result.image.size == (8192, 5464)


def test_the_decompression_bomb_guard_stays(tmp_path):
    from chatedit.tools.errors import TooLargeError
    from chatedit.tools.images import load_image

    path = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(path)
    with pytest.raises(TooLargeError):
        load_image(path)
