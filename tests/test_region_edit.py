"""Editing with the modern and max families through the tools: exact outside masks, sizes, model settings."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from chatedit.tools import region_edit
from chatedit.tools.errors import InputError
from chatedit.tools.models import ModelSet
from chatedit.tools.region_edit import editor_size
from tests.helpers import record_calls


@pytest.fixture(scope="module")
def families(tmp_path_factory, one_torch_thread):
    cache = tmp_path_factory.mktemp("region-edit")
    return {family: ModelSet(family, "cpu", cache_dir=cache, weights="tiny") for family in ("modern", "max")}


@pytest.fixture(scope="module")
def scene(coffee):
    image = coffee.resize((300, 200), Image.Resampling.BICUBIC)
    mask = np.zeros((200, 300), bool)
    mask[60:140, 110:190] = True
    return image, mask


def _outside_is_exact(result, image) -> bool:
    outside = result.mask == 0
    return bool((np.asarray(result.image)[outside] == np.asarray(image)[outside]).all())


def test_editor_size_is_about_a_megapixel_in_multiples_of_16_with_the_aspect_kept():
    width, height = editor_size(6000, 4000)
    assert width % 16 == 0 and height % 16 == 0
    assert abs(width * height - 1024 * 1024) < 0.03 * 1024 * 1024
    assert abs(width / height - 1.5) < 0.02
    assert editor_size(300, 200, area=128 * 128) == (160, 112)


@pytest.mark.parametrize("family", ["modern", "max"])
def test_local_step_runs_the_instruction_editor_on_the_crop_and_pastes_the_dilated_mask(families, scene, family):
    image, mask = scene
    models = families[family]
    result = region_edit.edit_region(
        models.global_editor, image, mask, "make the cup red", steps=2, seed=1, area=models.editor_area
    )
    assert result.image.size == image.size
    assert result.info["mode"] == "instruction" and result.info["dilation"] >= 2
    assert _outside_is_exact(result, image)
    assert (result.mask[mask] == 1).all()
    # The paste reaches past the object (dilated) but stays near it.
    assert (result.mask > 0).sum() > mask.sum() and result.mask[:40].max() == 0
    assert not np.array_equal(np.asarray(result.image)[mask], np.asarray(image)[mask])


def test_modern_remove_repaints_only_the_grown_mask_inside_a_crop(families, scene):
    image, mask = scene
    models = families["modern"]
    result = region_edit.remove_region(models.inpainter, image, mask, "cup", steps=2, seed=1, area=models.editor_area)
    x0, y0, x1, y1 = result.info["crop_box"]
    assert result.info["working_size"][0] % 16 == 0 and result.info["working_size"][1] % 16 == 0
    assert _outside_is_exact(result, image)
    assert (result.mask[:y0] == 0).all() and (result.mask[:, x1:] == 0).all() and (result.mask[y1:] == 0).all()
    assert result.info["dilation"] > 0 and (result.mask > 0).sum() > mask.sum()


def test_max_inpaint_honours_true_cfg_and_keeps_the_outside(families, scene, monkeypatch):
    image, mask = scene
    models = families["max"]
    pipe = models.inpainter
    calls = record_calls(pipe, monkeypatch)
    result = region_edit.inpaint_region(pipe, image, mask, "a plate", steps=2, seed=3, area=models.editor_area)
    (seen,) = calls
    assert seen["true_cfg_scale"] == region_edit.DEFAULT_TRUE_CFG and seen["negative_prompt"].strip() == ""
    assert seen["strength"] == 1.0
    assert _outside_is_exact(result, image)


def test_klein_gets_no_guidance_and_its_distilled_steps(families, scene, monkeypatch):
    pipe = families["modern"].global_editor
    calls = record_calls(pipe, monkeypatch)
    result = region_edit.edit_whole(pipe, scene[0], "make it winter", seed=0, area=families["modern"].editor_area)
    (seen,) = calls
    assert seen["num_inference_steps"] == 4 == result.info["steps"]
    assert seen["guidance_scale"] == 1.0
    assert "true_cfg_scale" not in seen


def test_whole_edit_comes_back_at_the_input_size(families, odd_photo):
    # The max family's whole edit runs inside its changed-region test below.
    models = families["modern"]
    result = region_edit.edit_whole(
        models.global_editor, odd_photo, "make it winter", steps=2, seed=0, area=models.editor_area
    )
    assert result.image.size == odd_photo.size and result.mask is None
    assert result.info["working_size"] == editor_size(*odd_photo.size, area=models.editor_area)
    assert result.info["full_resolution"] in ("guided", "upscaled")


@pytest.mark.parametrize("family", ["modern", "max"])
def test_changed_region_edit_keeps_everything_else_exact(families, scene, family):
    image, mask = scene
    models = families[family]
    result = region_edit.edit_changed_region(
        models.global_editor, image, "make the sign say OPEN", region=mask, steps=2, seed=2, area=models.editor_area
    )
    assert result.info["mode"] == "zone"
    assert _outside_is_exact(result, image)
    # Kept near the named object: nothing changes in the picture's far corners.
    assert result.mask[:20, :20].max() == 0 and result.mask[-20:, -20:].max() == 0


def test_an_empty_mask_is_refused_with_what_to_do(families, scene):
    image, _ = scene
    with pytest.raises(Exception, match="nothing to edit"):
        region_edit.edit_region(families["modern"].global_editor, image, np.zeros((200, 300), bool), "red")


def test_toolbox_routes_every_kind_of_step_to_the_modern_editors(families, scene):
    from chatedit.agent.toolbox import EditSettings, Toolbox

    image, mask = scene
    toolbox = Toolbox(families["modern"], EditSettings(editor_steps=2))
    assert toolbox.edits_by_instruction and toolbox.cannot("move") is None
    results = {
        "local": toolbox.edit_object(image, mask, "make the cup red", seed=1),
        "remove": toolbox.remove(image, mask, "cup", prompt="table", dilation=4, seed=1),
        "add": toolbox.inpaint(image, mask, "a croissant", seed=1),
        "move": toolbox.edit_changed(image, "move the cup to the left", mask, seed=1),
    }
    for kind, result in results.items():
        assert result.image.size == image.size, kind
        assert _outside_is_exact(result, image), kind
    assert results["local"].info["mode"] == "instruction" and results["move"].info["mode"] == "zone"
    assert results["remove"].info["steps"] == 2
    whole = toolbox.global_edit(image, "make it winter", seed=1)
    assert whole.image.size == image.size and whole.info["working_size"] == editor_size(300, 200, area=128 * 128)


def test_classic_toolbox_says_which_edits_need_the_modern_models(tmp_path):
    from chatedit.agent.toolbox import Toolbox

    toolbox = Toolbox(ModelSet("tiny", "cpu", cache_dir=tmp_path))
    assert not toolbox.edits_by_instruction
    for category in ("text", "move", "count", "pose"):
        assert "--models modern" in toolbox.cannot(category)
    assert toolbox.cannot("local") is None
    assert toolbox.models.report()["family"] == "classic"


def test_klein_draws_from_text_at_any_size_reproducibly_and_qwen_does_not(families):
    pipe, area = families["modern"].global_editor, families["modern"].editor_area
    first = region_edit.generate(pipe, "a red bicycle", (100, 60), seed=4, steps=2, area=area)
    again = region_edit.generate(pipe, "a red bicycle", (100, 60), seed=4, steps=2, area=area)
    other = region_edit.generate(pipe, "a red bicycle", (100, 60), seed=5, steps=2, area=area)
    assert first.image.size == (100, 60) and first.mask is None
    assert first.info["working_size"] == editor_size(100, 60, area=area)
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))
    assert not np.array_equal(np.asarray(first.image), np.asarray(other.image))
    assert region_edit.generate(pipe, "a red bicycle", seed=4, steps=2, area=area).image.size == editor_size(1, 1, area)
    with pytest.raises(InputError, match="FLUX.2 klein"):
        region_edit.generate(families["max"].global_editor, "a red bicycle", seed=4, steps=2, area=area)


def test_only_the_modern_toolbox_can_generate(families):
    from chatedit.agent.toolbox import Toolbox

    assert Toolbox(families["modern"]).can_generate
    assert not Toolbox(families["max"]).can_generate
    classic = Toolbox(ModelSet("classic", "cpu", weights="tiny"))
    with pytest.raises(InputError, match="--models modern"):
        classic.generate("a red bicycle")
