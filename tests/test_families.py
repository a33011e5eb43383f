"""Whole chat turns with the modern and max families (tiny weights): edits land, the rest stays exact."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from chatedit.agent.session import Editor
from chatedit.agent.toolbox import EditSettings
from chatedit.tools.masks import dilate


@pytest.mark.parametrize("family", ["modern", "max"])
def test_a_turn_with_a_drawn_mask_edits_inside_it_and_reports_the_models(family, coffee, tmp_path, one_torch_thread):
    photo = coffee.resize((240, 160))
    mask = np.zeros((160, 240), bool)
    mask[40:120, 80:180] = True
    editor = Editor(models=f"{family}:tiny", planner="rules", device="cpu", data_dir=tmp_path, max_attempts=1,
                    settings=EditSettings(editor_steps=2), seed=0)
    try:
        turn = editor.session().send("make it red", image=photo, mask=mask)
    finally:
        editor.close()
    assert turn.report["models"]["profile"] == family and turn.report["models"]["weights"] == "tiny"
    assert turn.report["models"]["roles"]["global_editor"] == turn.report["models"]["roles"]["inpainter"]
    after, before = np.asarray(turn.image), np.asarray(photo)
    assert turn.image.size == photo.size
    # Exact outside the drawn mask (and its feathered seam), changed inside.
    far = ~dilate(mask, 8)
    assert (after[far] == before[far]).all()
    assert not np.array_equal(after[mask], before[mask])


def test_cli_says_once_which_models_run(coffee, tmp_path, monkeypatch):
    from chatedit.agent.cli import app

    source, output = tmp_path / "in.png", tmp_path / "out.png"
    coffee.resize((240, 160)).save(source)
    monkeypatch.setenv("CHATEDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CHATEDIT_EDITOR_STEPS", "2")
    result = CliRunner().invoke(app, ["edit", str(source), "make it winter", "-o", str(output), "--models", "modern",
                                      "--weights", "tiny", "--planner", "rules", "--device", "cpu", "--max-attempts", "1"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Models:")]
    assert lines == [
        "Models: modern (tiny weights): detector IDEA-Research/grounding-dino-tiny, segmenter facebook/sam-vit-base, "
        "inpainter black-forest-labs/FLUX.2-klein-4B, global_editor black-forest-labs/FLUX.2-klein-4B"
    ]
    assert output.exists()
