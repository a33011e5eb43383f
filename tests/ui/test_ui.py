"""The web UI (agent/ui): its handlers called directly, as the browser's events call them, on tiny models."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import gradio as gr
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from chatedit.agent.config import ServerSettings
from chatedit.agent.session import Editor
from chatedit.agent.ui import EditorUI, Logins
from chatedit.agent.ui.app import CURRENT, settings_markdown
from chatedit.agent.ui.drawing import CANDIDATE_COLOUR, MARK_COLOUR, candidate_at, overlay
from chatedit.agent.ui.marks import DISPLAY_SIDE, Marks, brush_mask, click, for_display, picture_xy
from chatedit.agent.ui.progress import Transcript
from chatedit.tools.errors import InputError
from chatedit.tools.masks import box_mask, dilate
from tests.helpers import FAST, pointing_toolbox

SIZE = (240, 160)
CUPS = [(20, 40, 80, 120), (150, 40, 210, 120)]
NEAR = 16 + 24
"""How far from a click an edit may change pixels: the outlined disk (16 px) and the paste's grown, feathered seam."""


@pytest.fixture(scope="module")
def photo(coffee) -> Image.Image:
    return coffee.resize(SIZE, Image.Resampling.BICUBIC)


@pytest.fixture
def photo_file(photo, tmp_path) -> str:
    path = tmp_path / "photo.png"
    photo.save(path)
    return str(path)


@contextmanager
def editor_ui(data_dir: Path, settings: ServerSettings | None = None, **editor_args) -> Iterator[EditorUI]:
    """Gives back the UI over an editor of tiny models whose finder outlines a disk around each click."""
    editor = Editor(
        models="tiny",
        planner="rules",
        data_dir=data_dir,
        toolbox=pointing_toolbox({"cup": CUPS}),
        settings=FAST,
        max_attempts=1,
        **editor_args,
    )
    try:
        yield EditorUI(editor, settings or ServerSettings())
    finally:
        editor.close()


def last(screens) -> dict:
    """Gives back the last screen a generator handler showed, after running it to its end."""
    shown = list(screens)
    assert shown, "the handler showed nothing"
    return shown[-1]


def changed(before: Image.Image, after: Image.Image) -> np.ndarray:
    return (np.asarray(before, dtype=int) != np.asarray(after, dtype=int)).any(axis=2)


def current(screen: dict) -> int:
    """Gives back the index of the version the screen's strip marks as current."""
    (index,) = [i for i, (_, caption) in enumerate(screen["versions"]) if caption.endswith(CURRENT)]
    return index


def near(xy: tuple[int, int], radius: int, size=SIZE) -> np.ndarray:
    ys, xs = np.ogrid[: size[1], : size[0]]
    return (xs - xy[0]) ** 2 + (ys - xy[1]) ** 2 <= radius**2


# ---- marks, drawing, progress: plain values ------------------------------------------------------


def test_clicks_add_points_and_two_corners_make_a_box():
    marks = click(click(Marks(), "point", (10, 20)), "point", (30, 40))
    assert marks.point() == [[10, 20], [30, 40]] and marks.boxed() is None

    first = click(Marks(), "box", (90, 70))
    assert first.corner == (90, 70) and first.boxed() is None
    boxed = click(first, "box", (20, 10))
    assert boxed.boxed() == [20, 10, 90, 70] and boxed.corner is None
    # A second corner in line with the first makes no box: the corner waits for another click.
    assert click(first, "box", (90, 5)) == first
    # A third click starts a new box.
    assert click(boxed, "box", (5, 5)) == Marks(corner=(5, 5))


def test_a_large_picture_is_shown_smaller_and_clicks_on_it_map_back_to_its_pixels():
    picture = Image.new("RGB", (6400, 3200))
    shown = for_display(picture)
    assert shown.size == (DISPLAY_SIDE, DISPLAY_SIDE // 2)
    assert picture_xy([400, 200], picture.size) == (1600, 800)
    assert picture_xy([1600, 800], picture.size) == (6399, 3199)  # the far edge stays inside
    small = Image.new("RGB", SIZE)
    assert for_display(small) is small and picture_xy([12.7, 30.2], SIZE) == (12, 30)


def test_a_brush_stroke_is_the_painted_pixels_at_the_pictures_size():
    layer = np.zeros((80, 120, 4), dtype=np.uint8)  # the browser's copy at half size
    layer[10:20, 30:50] = (255, 0, 170, 150)
    mask = brush_mask({"background": None, "layers": [layer], "composite": None}, SIZE)
    assert mask is not None and mask.shape == (160, 240)
    assert mask[20:40, 60:100].all() and mask.sum() == 20 * 40
    assert brush_mask({"background": None, "layers": [np.zeros((80, 120, 4), np.uint8)]}, SIZE) is None
    assert brush_mask(None, SIZE) is None


def test_the_overlay_tints_the_mask_and_draws_marks_and_numbered_candidates(photo):
    region = box_mask((160, 240), (100, 50, 140, 90))
    shown = np.asarray(overlay(photo, masks=[region]))
    original = np.asarray(photo)
    assert (shown[~dilate(region, 1)] == original[~dilate(region, 1)]).all()
    assert (shown[region] != original[region]).any(axis=1).all()

    marked = np.asarray(overlay(photo, Marks(points=((60, 60),), box=(10, 10, 50, 40))))
    assert tuple(marked[60, 60]) == MARK_COLOUR
    assert tuple(marked[25, 10]) == MARK_COLOUR  # the box's left edge

    asked = np.asarray(overlay(photo, candidates=[{"box": list(b), "label": "cup", "score": 0.8} for b in CUPS]))
    assert tuple(asked[80, 210]) == CANDIDATE_COLOUR  # the second cup's right edge


def test_a_click_picks_the_smallest_candidate_around_it():
    candidates = [{"box": [0, 0, 200, 150]}, {"box": [50, 50, 100, 100]}]
    assert candidate_at(candidates, (60, 60)) == 2
    assert candidate_at(candidates, (10, 10)) == 1
    assert candidate_at(candidates, (220, 10)) is None


def test_the_transcript_shows_the_plan_steps_denoising_and_checks():
    transcript = Transcript()
    plan = {"steps": [{"category": "local", "target": "cup", "prompt": "blue cup", "instruction": "make it blue"}]}
    transcript.add({"event": "plan", "plan": plan, "planner": "rules"})
    transcript.add({"event": "step", "index": 1, "total": 1, "category": "local", "target": "cup"})
    transcript.add({"event": "located", "index": 1, "mask": "m1", "box": [1.2, 2, 30, 40]})
    transcript.add({"event": "progress", "index": 1, "step": 2, "total": 4})
    assert transcript.text().splitlines()[-1].endswith("2/4")
    transcript.add({"event": "checked", "index": 1, "passed": True, "reason": "changed inside"})
    text = transcript.text()
    assert "**Plan** (rules): 1 step" in text and "1. make it blue *(local)*" in text
    assert "**Step 1/1**: make it blue" in text and "located: [1, 2, 30, 40]" in text
    assert "2/4" not in text and text.endswith("check: passed (changed inside)")
    assert transcript.regions == ["m1"]


# ---- Session: going to any version, the question's candidates ---------------------------------------


def test_goto_moves_to_any_version_and_keeps_every_version(photo, tmp_path, one_torch_thread):
    with editor_ui(tmp_path) as ui:
        session = ui.editor.session()
        session.send("", image=photo)
        session.send("make it blue", point=[60, 60])
        session.send("make it red", point=[180, 60])
        images = [v.image_id for v in session.history()]
        assert len(images) == 3

        assert np.array_equal(np.asarray(session.goto(0)), np.asarray(photo))
        assert [v.current for v in session.history()] == [True, False, False]
        # Back along the line is undo repeated: redo walks forward again, one version at a time.
        session.redo()
        assert [v.current for v in session.history()] == [False, True, False]
        session.goto(2)  # forward along what was undone: redo repeated
        assert session.send("redo").message == "There is nothing to redo."
        session.goto(0)
        session.send("make it green", point=[120, 80])  # a second line from the original
        session.goto(2)  # another line: current, nothing to redo
        assert session.send("redo").message == "There is nothing to redo."
        assert session.send("undo").report["version"] == 1
        assert [v.image_id for v in session.history()][:3] == images
        with pytest.raises(InputError, match="no version 9"):
            session.goto(9)


def test_a_click_on_a_candidate_answers_which_one(photo, tmp_path, one_torch_thread):
    with editor_ui(tmp_path) as ui:
        opened = ui.open_picture(_saved(photo, tmp_path), None, [])
        session_id = opened["session"]
        asked = last(ui.send("make the cup blue", Marks(), None, session_id, opened["chat"]))
        session = ui.editor.session(session_id)
        assert [c["box"] for c in session.candidates()] == [list(map(float, b)) for b in CUPS]
        assert "Which one" in asked["chat"][-1]["content"]
        # The candidates are drawn, numbered, on the picture.
        assert tuple(np.asarray(asked["picture"])[80, 210]) == CANDIDATE_COLOUR

        answered = last(ui.click("point", Marks(), session_id, asked["chat"], [180, 80]))
        assert session.candidates() == []
        assert any(m["content"] == "2" for m in answered["chat"] if m["role"] == "user")
        after = session.image
        assert not changed(photo, after)[box_mask((160, 240), CUPS[0])].any()
        assert changed(photo, after)[box_mask((160, 240), CUPS[1])].any()


# ---- the handlers -----------------------------------------------------------------------------------


def _saved(picture: Image.Image, folder: Path, name: str = "photo.png") -> str:
    path = folder / name
    picture.save(path)
    return str(path)


def test_a_click_then_an_instruction_edits_only_near_the_click(photo_file, photo, tmp_path, one_torch_thread):
    with editor_ui(tmp_path) as ui:
        opened = ui.open_picture(photo_file, None, [])
        session_id = opened["session"]
        assert opened["picture"].size == SIZE and current(opened) == 0
        marked = last(ui.click("point", opened["marks"], session_id, opened["chat"], [60, 70]))
        assert marked["marks"].point() == [[60, 70]]

        screens = list(ui.send("make it blue", marked["marks"], opened["brush"], session_id, opened["chat"]))
        # The plan streams first, then each step; the new picture comes last.
        assert screens[0]["text"] == "" and screens[0]["chat"][-1]["metadata"]["status"] == "pending"
        assert any("**Plan**" in s["chat"][-1]["content"] for s in screens[1:-1])
        done = screens[-1]
        assert done["chat"][-3]["content"].startswith("make it blue *(at (60, 70))*")
        assert done["chat"][-2]["metadata"]["status"] == "done"
        assert done["chat"][-1]["content"] == "Done: make it blue."
        assert done["marks"] == Marks() and current(done) == 1
        after = ui.editor.session(session_id).image
        edited = changed(photo, after)
        assert edited[near((60, 70), 16)].any() and not edited[~near((60, 70), NEAR)].any()
        # The mask the edit used is drawn over the picture, and only there.
        assert len(done["masks"]) == 1
        used = ui.editor.store.get_mask(done["masks"][0])
        drawn = changed(after, done["picture"])
        assert drawn.any() and not drawn[~dilate(used, 1)].any()
        # The before/after slider holds the photo and the edit.
        before, now = done["compare"]
        assert np.array_equal(np.asarray(before), np.asarray(photo)) and np.array_equal(
            np.asarray(now), np.asarray(after)
        )

        undone = ui.undo(session_id, done["chat"])
        assert np.array_equal(np.asarray(undone["picture"]), np.asarray(photo))
        assert undone["chat"][-1]["content"] == 'Undid "make it blue".' and current(undone) == 0
        redone = ui.redo(session_id, undone["chat"])
        assert np.array_equal(np.asarray(redone["picture"]), np.asarray(after))
        back = ui.goto(session_id, redone["chat"], 0)
        assert current(back) == 0 and back["chat"][-1]["content"].startswith("Went to version 0")


def test_a_brush_stroke_or_a_box_says_where_the_instruction_acts(photo_file, photo, tmp_path, one_torch_thread):
    with editor_ui(tmp_path) as ui:
        opened = ui.open_picture(photo_file, None, [])
        session_id = opened["session"]
        layer = np.zeros((160, 240, 4), dtype=np.uint8)
        layer[100:140, 150:220] = (255, 0, 170, 150)
        painted = {**opened["brush"], "layers": [layer]}
        done = last(ui.send("make it red", Marks(), painted, session_id, opened["chat"]))
        assert "painted region" in done["chat"][-3]["content"]
        after = ui.editor.session(session_id).image
        assert not changed(photo, after)[~dilate(box_mask((160, 240), (150, 100, 220, 140)), 24)].any()

        corner = last(ui.click("box", Marks(), session_id, done["chat"], [20, 10]))
        boxed = last(ui.click("box", corner["marks"], session_id, done["chat"], [70, 50]))
        assert boxed["marks"].boxed() == [20, 10, 70, 50]
        again = last(ui.send("make it green", boxed["marks"], None, session_id, done["chat"]))
        assert "box [20, 10, 70, 50]" in again["chat"][-3]["content"]
        latest = ui.editor.session(session_id).image
        assert not changed(after, latest)[~dilate(box_mask((160, 240), (20, 10, 70, 50)), 24)].any()

        cleared = ui.clear_marks(session_id)
        assert cleared["marks"] == Marks() and cleared["masks"] == [] and cleared["brush"]["layers"] == []


def test_a_reload_and_a_restart_reopen_the_session(photo_file, photo, tmp_path, one_torch_thread):
    with editor_ui(tmp_path) as ui:
        opened = ui.open_picture(photo_file, None, [])
        session_id = opened["session"]
        last(ui.send("make it blue", Marks(points=((60, 70),)), None, session_id, opened["chat"]))
        edited = ui.editor.session(session_id).image
    # A new editor over the same store: the server restarted, the browser kept the session's id.
    with editor_ui(tmp_path) as ui:
        screen = ui.restore(session_id)
        assert screen["session"] == session_id
        assert np.array_equal(np.asarray(screen["picture"]), np.asarray(edited))
        assert [m["content"] for m in screen["chat"]] == [
            "(opened a picture)",
            "Got the picture. What should I change?",
            "make it blue",
            "Done: make it blue.",
        ]
        assert [caption for _, caption in screen["versions"]] == ["0. uploaded", "1. make it blue (current)"]
        assert f"chatedit chat --session {session_id}" in screen["about"]
        assert ui.restore("no-such-session") == {**ui.restore(None), "session": ""}
        assert ui.restore(None)["picture"] is None


def test_bad_pictures_are_refused_with_a_clear_error(photo, tmp_path):
    small = ServerSettings(max_image_bytes=20_000, max_pixels=30_000)
    with editor_ui(tmp_path, small) as ui:
        with pytest.raises(gr.Error, match="over the .* MB limit") as too_big:
            ui.open_picture(_saved(photo, tmp_path), None, [])
        assert too_big.value.title == "Picture too large"
        pixels = Image.new("RGB", (300, 200), "white")  # a few KB, but 60 000 pixels
        with pytest.raises(gr.Error, match="megapixel limit"):
            ui.open_picture(_saved(pixels, tmp_path, "white.png"), None, [])
        broken = tmp_path / "broken.png"
        broken.write_bytes(b"not a picture at all")
        with pytest.raises(gr.Error, match="not an image chatedit can read") as unreadable:
            ui.open_picture(str(broken), None, [])
        assert unreadable.value.title == "Cannot do that"
        with pytest.raises(gr.Error, match="at least 32 px"):
            ui.open_picture(_saved(Image.new("RGB", (20, 20)), tmp_path, "tiny.png"), None, [])


def test_marks_outside_the_picture_and_a_mask_with_a_box_are_refused(photo_file, tmp_path):
    with editor_ui(tmp_path) as ui:
        opened = ui.open_picture(photo_file, None, [])
        layer = np.zeros((160, 240, 4), dtype=np.uint8)
        layer[10:20, 10:20] = 255
        screens = ui.send("make it red", Marks(box=(20, 10, 70, 50)), {"layers": [layer]}, opened["session"], [])
        with pytest.raises(gr.Error, match="either a drawn mask or a box/point"):
            list(screens)


def test_a_busy_session_says_so(photo_file, tmp_path):
    with editor_ui(tmp_path, session_wait=0.2) as ui:
        session_id = ui.open_picture(photo_file, None, [])["session"]
        held, release = threading.Event(), threading.Event()

        def hold():
            with ui.editor.database.session_lock(session_id):
                held.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        held.wait(10)
        try:
            with pytest.raises(gr.Error, match="busy with another turn") as busy:
                list(ui.send("make it blue", Marks(points=((60, 70),)), None, session_id, []))
            assert busy.value.title == "Session busy"
        finally:
            release.set()
            holder.join()


def test_a_click_or_an_instruction_before_any_picture_warns(tmp_path):
    with editor_ui(tmp_path) as ui, pytest.warns(UserWarning, match="Open a picture first"):
        assert list(ui.click("point", Marks(), None, [], [10, 10])) == []
        assert list(ui.send("make it blue", Marks(), None, None, [])) == []


def test_an_instruction_with_half_a_box_warns(photo_file, tmp_path):
    with editor_ui(tmp_path) as ui:
        session_id = ui.open_picture(photo_file, None, [])["session"]
        with pytest.warns(UserWarning, match="one corner"):
            assert list(ui.send("make it blue", Marks(corner=(10, 10)), None, session_id, [])) == []
        assert len(ui.editor.session(session_id).history()) == 1


def test_the_settings_say_what_runs(tmp_path):
    settings = ServerSettings(max_image_bytes=20 * 1024 * 1024)
    with editor_ui(tmp_path, settings) as ui:
        text = settings_markdown(ui.editor, settings)
    for row in (
        "| family | classic |",
        "| weights | tiny (random stand-ins",
        "| finder | dino-sam |",
        "| planner | rules |",
        "| quantization | none |",
        "| device | cpu (float32) |",
        "up to 20 MB and 50 MP",
    ):
        assert row in text


def test_the_app_builds_and_keeps_the_session_name_in_the_browser(tmp_path):
    with editor_ui(tmp_path) as ui:
        first, again = ui.build(), ui.build()
    states = [[b for b in app.blocks.values() if isinstance(b, gr.BrowserState)] for app in (first, again)]
    # The same storage after a restart (a browser reopens its session), and nothing secret in it.
    assert [(s.storage_key, s.secret) for s in states[0]] == [(s.storage_key, s.secret) for s in states[1]]
    assert [s.storage_key for s in states[0]] == ["chatedit-session"]
    assert not (tmp_path / "ui-secret").exists()


def test_the_api_key_is_the_logins_password_and_a_name_keeps_its_key():
    logins = Logins(["sk-one", "sk-two"])
    assert logins.check("anyone", "sk-two") and not logins.check("anyone", "sk-three")
    assert not logins.check("sk-one", "")
    # "anyone" logged in with sk-two: the name is that key's, and does not log in with sk-one.
    assert not logins.check("anyone", "sk-one") and logins.check("someone", "sk-one")


def test_chatedit_ui_takes_the_serve_flags(monkeypatch, tmp_path):
    from chatedit.agent import cli, ui

    launched = {}
    monkeypatch.setattr(
        ui, "launch", lambda editor, settings, **kwargs: launched.update(kwargs, editor=editor, keys=settings.keys)
    )
    result = CliRunner().invoke(
        cli.app,
        ["ui", "--models", "tiny", "--planner", "rules", "--data-dir", str(tmp_path), "--api-key", "sk-ui"],
    )
    assert result.exit_code == 0, result.output
    assert {k: launched[k] for k in ("host", "port", "share", "keys")} == {
        "host": "127.0.0.1",
        "port": 7860,
        "share": False,
        "keys": ["sk-ui"],
    }
    editor = launched["editor"]
    assert editor.toolbox.models.report()["weights"] == "tiny" and editor.data_dir == tmp_path
    editor.close()
