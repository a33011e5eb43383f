"""A retry changes something the family's model responds to, beyond the seed, and the report says what."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from chatedit.agent.config import EditSettings
from chatedit.agent.report import summary
from chatedit.agent.toolbox import Toolbox
from chatedit.tools.models import get_models
from tests.helpers import record_calls

LEVERS = ("num_inference_steps", "guidance_scale", "true_cfg_scale")
"""The pipeline arguments a retry may change."""
PLACES = ("crop_box", "dilation")
"""Where the edit ran: a wider crop or a grown mask is a change too."""


@pytest.fixture(scope="module")
def scene(coffee):
    image = coffee.resize((320, 224), Image.Resampling.BICUBIC)
    region = np.zeros((224, 320), bool)
    region[90:130, 140:190] = True
    return image, region


def _attempt(toolbox: Toolbox, category: str, tries: int, scene, monkeypatch) -> tuple[dict, dict]:
    """Gives back the pipeline arguments and result info of one attempt at a step of `category`."""
    pipes = {type(p): p for p in (toolbox.models.inpainter, toolbox.models.global_editor)}
    recorded = [record_calls(pipe, monkeypatch) for pipe in pipes.values()]
    step = {"category": category, "target": "cup", "prompt": "a red cup", "instruction": "make the cup red"}
    image, region = scene
    _, result = toolbox.edit_step(
        step,
        image,
        None if category == "global" else region,
        prompt=step["prompt"],
        tries=tries,
        seed=7 + tries,
        drawn=False,
        on_step=None,
    )
    monkeypatch.undo()
    (calls,) = [calls for calls in recorded if calls]
    seen = {key: calls[-1].get(key) for key in LEVERS}
    return seen | {key: result.info.get(key) for key in PLACES}, result.info


@pytest.mark.parametrize("family", ["classic", "modern", "max"])
@pytest.mark.parametrize("category", ["add", "remove", "local", "global"])
def test_a_retry_changes_a_lever_of_the_model_not_only_the_seed(family, category, scene, monkeypatch, one_torch_thread):
    toolbox = Toolbox(get_models(f"{family}:tiny", "cpu"), EditSettings(inpaint_steps=2, global_steps=2))
    first, first_info = _attempt(toolbox, category, 0, scene, monkeypatch)
    again, again_info = _attempt(toolbox, category, 1, scene, monkeypatch)
    assert first_info["changed"] == []
    assert again_info["changed"][0] == "a new seed" and len(again_info["changed"]) > 1
    differs = [key for key in first if first[key] != again[key]]
    assert differs, f"{family} {category}: the retry ran with the same settings {first}"


def test_modern_retries_with_more_steps_since_distilled_klein_ignores_guidance(scene, monkeypatch, one_torch_thread):
    toolbox = Toolbox(get_models("modern:tiny", "cpu"), EditSettings())
    first, _ = _attempt(toolbox, "global", 0, scene, monkeypatch)
    again, info = _attempt(toolbox, "global", 2, scene, monkeypatch)
    assert again["guidance_scale"] == first["guidance_scale"] == 1.0
    assert (first["num_inference_steps"], again["num_inference_steps"]) == (4, 8)
    assert "8 denoising steps instead of 4" in info["changed"]


def test_max_retries_with_a_stronger_true_cfg(scene, monkeypatch, one_torch_thread):
    toolbox = Toolbox(get_models("max:tiny", "cpu"), EditSettings(editor_steps=2))
    first, _ = _attempt(toolbox, "add", 0, scene, monkeypatch)
    again, info = _attempt(toolbox, "add", 1, scene, monkeypatch)
    assert (first["true_cfg_scale"], again["true_cfg_scale"]) == pytest.approx((4.0, 5.0))
    assert "true CFG 5 instead of 4" in info["changed"]
    assert _area(again["crop_box"]) > _area(first["crop_box"])


def _area(box) -> int:
    x0, y0, x1, y1 = box
    return (x1 - x0) * (y1 - y0)


def test_the_summary_says_what_the_kept_retry_changed():
    attempt = {"passed": True, "reason": "", "mask": None, "changed": []}
    kept = dict(attempt, changed=["a new seed", "6 denoising steps instead of 4"])
    work = [
        {
            "step": {"category": "add", "target": "hat", "prompt": "a hat"},
            "status": "done",
            "kept": 1,
            "attempts": [dict(attempt, passed=False), kept],
        }
    ]
    (line,) = summary(work).splitlines()
    assert "after 2 tries; the one kept with a new seed, 6 denoising steps instead of 4" in line
