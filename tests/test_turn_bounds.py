"""What bounds one turn's work: the steps one message may ask for."""

from __future__ import annotations

import pytest

from chatedit.agent.config import Settings
from chatedit.agent.session import Editor
from tests.helpers import FAST, random_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_a_message_asking_for_more_steps_than_allowed_edits_nothing_and_says_so(tmp_path):
    editor = Editor(
        models="tiny", planner="rules", data_dir=tmp_path, settings=FAST, max_attempts=1, config=Settings(max_steps=2)
    )
    try:
        session = editor.session()
        session.send("", image=random_image(96, 64, seed=8))
        turn = session.send("add a dog, " * 40 + "add a cat")
        assert "asks for 41 edits; one message may ask for at most 2" in turn.message
        assert "Nothing was changed" in turn.message and turn.report["steps"] == []
        assert [v.instruction for v in session.history()] == ["uploaded"]
        assert "locate" not in (turn.report.get("timings_ms") or {})
    finally:
        editor.close()


def test_the_step_limit_is_a_setting_with_a_default_of_eight(monkeypatch):
    assert Settings().max_steps == 8
    monkeypatch.setenv("CHATEDIT_MAX_STEPS", "3")
    assert Settings().max_steps == 3
