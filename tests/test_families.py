"""Whole chat turns with the modern and max families (tiny weights): edits land, the rest stays exact."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from chatedit.agent.session import Editor
from chatedit.agent.toolbox import EditSettings, Toolbox
from chatedit.tools.detect import Detection
from chatedit.tools.masks import box_mask, dilate
from chatedit.tools.models import get_models


@pytest.mark.parametrize("family", ["classic", "modern", "max"])
def test_a_turn_with_a_drawn_mask_edits_inside_it_and_reports_the_models(family, coffee, tmp_path, one_torch_thread):
    photo = coffee.resize((240, 160))
    mask = np.zeros((160, 240), bool)
    mask[40:120, 80:180] = True
    editor = Editor(
        models=f"{family}:tiny",
        planner="rules",
        device="cpu",
        data_dir=tmp_path,
        max_attempts=1,
        settings=EditSettings(editor_steps=2),
        seed=0,
    )
    try:
        turn = editor.session().send("make it red", image=photo, mask=mask)
    finally:
        editor.close()
    assert turn.report["models"]["family"] == family and turn.report["models"]["weights"] == "tiny"
    if family != "classic":
        assert turn.report["models"]["roles"]["global_editor"] == turn.report["models"]["roles"]["inpainter"]
    after, before = np.asarray(turn.image), np.asarray(photo)
    assert turn.image.size == photo.size
    # A drawn mask is a hard boundary: not one pixel outside it changes; inside it, the edit lands.
    assert np.array_equal(after[~mask], before[~mask])
    assert not np.array_equal(after[mask], before[mask])
    # The check compared against the drawn mask, so its count of changed pixels outside is that of the picture.
    assert turn.report["steps"][0]["attempts"][-1]["evidence"]["changed_outside"] == 0


@pytest.mark.parametrize("spelled", ["flags", "environment"])
def test_cli_says_once_which_models_run(spelled, coffee, tmp_path, monkeypatch):
    """The family comes from --models/--weights or from CHATEDIT_MODELS; tiny weights are named as stand-ins."""
    from chatedit.agent.cli import app

    source, output = tmp_path / "in.png", tmp_path / "out.png"
    coffee.resize((240, 160)).save(source)
    monkeypatch.setenv("CHATEDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CHATEDIT_EDITOR_STEPS", "2")
    if spelled == "flags":
        chosen = [
            "--models",
            "modern",
            "--weights",
            "tiny",
            "--planner",
            "rules",
            "--device",
            "cpu",
            "--max-attempts",
            "1",
        ]
    else:
        chosen = []
        for name, value in {"MODELS": "modern:tiny", "PLANNER": "rules", "DEVICE": "cpu", "MAX_ATTEMPTS": "1"}.items():
            monkeypatch.setenv(f"CHATEDIT_{name}", value)
    result = CliRunner().invoke(app, ["edit", str(source), "make it winter", "-o", str(output), "--json", *chosen])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Models:")]
    assert lines == [
        "Models: modern, finder dino-sam, tiny random stand-ins for: detector IDEA-Research/grounding-dino-tiny, "
        "segmenter facebook/sam-vit-base, inpainter black-forest-labs/FLUX.2-klein-4B, global_editor "
        "black-forest-labs/FLUX.2-klein-4B (pictures come out as noise)"
    ]
    report = json.loads(result.stdout)
    assert report["models"]["family"] == "modern" and report["planner"] == "rules"
    assert report["models"]["finder"] == "dino-sam"
    assert len(report["steps"][0]["attempts"]) == 1
    assert output.exists()


class SeeingToolbox(Toolbox):
    """A family's tiny models with a detector that sees the listed boxes (random detectors see noise)."""

    def __init__(self, family: str, objects: dict[str, list[tuple]]):
        super().__init__(get_models(f"{family}:tiny", "cpu"), EditSettings(editor_steps=2))
        self.objects = objects
        self.used: list[str] = []

    def detect(self, image, phrases):
        return {
            p: [Detection(p, tuple(float(v) for v in box), 0.8) for box in self.objects.get(p, [])] for p in phrases
        }

    def segment_box(self, image, box):
        return box_mask((image.height, image.width), box)

    def edit_object(self, *args, **kwargs):
        self.used.append("edit_object")
        return super().edit_object(*args, **kwargs)

    def edit_changed(self, *args, **kwargs):
        self.used.append("edit_changed")
        return super().edit_changed(*args, **kwargs)

    def inpaint(self, *args, **kwargs):
        self.used.append("inpaint")
        return super().inpaint(*args, **kwargs)


BOX = (60, 40, 160, 120)


def _turn(family: str, instruction: str, target: str, photo, tmp_path):
    toolbox = SeeingToolbox(family, {target: [BOX]})
    editor = Editor(
        models=f"{family}:tiny", planner="rules", data_dir=tmp_path, toolbox=toolbox, max_attempts=1, seed=0
    )
    try:
        return toolbox, editor.session().send(instruction, image=photo)
    finally:
        editor.close()


def test_modern_local_edit_runs_the_instruction_editor_on_the_object(coffee, tmp_path, one_torch_thread):
    photo = coffee.resize((240, 160))
    toolbox, turn = _turn("modern", "make the cup blue", "cup", photo, tmp_path)
    assert [s["category"] for s in turn.report["steps"]] == ["local"]
    assert toolbox.used == ["edit_object"]
    region = box_mask((160, 240), BOX)
    far = ~dilate(region, 16)
    after, before = np.asarray(turn.image), np.asarray(photo)
    assert (after[far] == before[far]).all()
    assert not np.array_equal(after[region], before[region])


def test_modern_text_edit_keeps_only_what_changed_near_the_sign(coffee, tmp_path, one_torch_thread):
    photo = coffee.resize((240, 160))
    toolbox, turn = _turn("modern", "make the sign say OPEN", "sign", photo, tmp_path)
    step = turn.report["steps"][0]
    assert step["category"] == "text" and step["status"] != "skipped"
    assert toolbox.used == ["edit_changed"]
    # The changed layer is kept within reach of the sign (5% of the picture's side, and the seam).
    far = ~dilate(box_mask((160, 240), BOX), 12 + 4)
    after, before = np.asarray(turn.image), np.asarray(photo)
    assert (after[far] == before[far]).all()


def test_classic_says_a_pose_edit_needs_the_modern_models_and_changes_nothing(coffee, tmp_path):
    photo = coffee.resize((240, 160))
    toolbox, turn = _turn("classic", "make the dog sit", "dog", photo, tmp_path)
    step = turn.report["steps"][0]
    assert step["category"] == "pose" and step["status"] == "skipped"
    assert "--models modern" in turn.message
    assert toolbox.used == []
    assert np.array_equal(np.asarray(turn.image), np.asarray(photo))


def test_each_family_is_an_object_that_says_what_it_can_do():
    from chatedit.agent.families import FAMILIES, Classic, Max, Modern, family_of

    assert FAMILIES == {"classic": Classic, "modern": Modern, "max": Max}
    for name, family_class in FAMILIES.items():
        family = family_of(get_models(f"{name}:tiny", "cpu"), EditSettings())
        assert isinstance(family, family_class) and family.name == name
        assert family.weights_gib > 0 and family.working_sides
    classic = family_of(get_models("classic:tiny", "cpu"), EditSettings())
    assert "--models modern or max" in classic.cannot("move") and classic.cannot("remove") is None
    assert not classic.edits_objects_by_instruction and not classic.can_generate
    assert Modern.can_generate and not Max.can_generate and Modern.edits_objects_by_instruction


def test_a_new_family_is_one_class_and_the_graph_asks_it_to_edit_each_step(coffee, tmp_path, one_torch_thread):
    """A family written outside the package (here: one that paints every edit white) edits a whole turn."""
    from PIL import Image

    from chatedit.agent.families import Classic

    class WhitePaint(Classic):
        name = "white"

        def global_edit(self, image, instruction, *, seed=0, retry=None, on_step=None):
            from chatedit.tools.inpaint import EditResult

            return EditResult(image=Image.new("RGB", image.size, "white"), mask=None)

    photo = coffee.resize((96, 64))
    toolbox = Toolbox(get_models("classic:tiny", "cpu"), EditSettings())
    toolbox.family = WhitePaint(toolbox.models, toolbox.settings)
    editor = Editor(planner="rules", data_dir=tmp_path, toolbox=toolbox, max_attempts=1)
    try:
        turn = editor.session().send("make it look like winter", image=photo)
    finally:
        editor.close()
    assert np.asarray(turn.image).min() == 255
