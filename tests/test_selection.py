"""A box or clicks instead of a drawn mask: checked at the boundary, outlined, then a hard boundary as a drawn mask."""

from __future__ import annotations

import numpy as np
import pytest

from chatedit.agent.session import Editor
from chatedit.agent.toolbox import EditSettings
from chatedit.tools.errors import InputError
from chatedit.tools.selection import Selection, read_selection

FAST = EditSettings(inpaint_steps=2, global_steps=2, global_max_side=64)
SIZE = (96, 64)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(
    ("box", "point", "selection"),
    [
        ([8, 8, 40, 40], None, Selection(box=(8, 8, 40, 40))),
        ("8, 8, 40, 40", None, Selection(box=(8, 8, 40, 40))),
        (None, [20, 30], Selection(points=((20, 30),))),
        (None, "20,30;50.5,10", Selection(points=((20, 30), (50.5, 10)))),
        (None, [[20, 30], [50, 10]], Selection(points=((20, 30), (50, 10)))),
        ((0, 0, 96, 64), (95, 63), Selection(box=(0, 0, 96, 64), points=((95, 63),))),
        (None, None, None),
    ],
)
def test_boxes_and_points_are_read_from_numbers_or_text(box, point, selection):
    assert read_selection(box, point, SIZE) == selection


@pytest.mark.parametrize(
    ("box", "point", "said"),
    [
        ([8, 8, 40], None, "A box is four numbers x0,y0,x1,y1 (its top-left and bottom-right corners); got 3 numbers"),
        ([40, 8, 8, 40], None, "The box [40, 8, 8, 40] is empty or reversed: give its top-left corner first"),
        ([8, 8, 97, 40], None, "The box [8, 8, 97, 40] reaches outside the 96x64 picture; keep x within 0..96"),
        ([-1, 8, 40, 40], None, "reaches outside the 96x64 picture"),
        ("8,8,forty,40", None, "The box must be numbers x0,y0,x1,y1 in the picture's pixels"),
        (None, [20], "A point is two numbers x,y (several points: pairs, e.g. 12,30;40,33); got 1 numbers"),
        (None, [20, 64], "The point [20, 64] lies outside the 96x64 picture; keep x within 0..95 and y within 0..63"),
        (None, "20,nan", "not a finite number"),
        (None, [[20, 30], [40]], "The point must be numbers x,y"),
        (None, [True, 3], "The point must be numbers x,y"),
    ],
)
def test_a_bad_box_or_point_is_refused_in_a_sentence_that_says_what_to_give(box, point, said):
    with pytest.raises(InputError) as caught:
        read_selection(box, point, SIZE)
    assert said in str(caught.value)


@pytest.fixture(params=["dino-sam", "sam3"])
def editor(request, tmp_path):
    editor = Editor(
        models="tiny", finder=request.param, planner="rules", data_dir=tmp_path, settings=FAST, max_attempts=1
    )
    yield editor
    editor.close()


def _region(editor: Editor, turn) -> np.ndarray:
    step = turn.report["steps"][0]
    assert step["region_source"] == "user mask"
    return editor.store.get_mask(step["region"]) > 0.5


@pytest.mark.parametrize("marks", [{"box": [10, 8, 60, 50]}, {"point": [[30, 30], [40, 20]]}])
def test_a_box_or_clicks_are_outlined_and_nothing_outside_the_outline_changes(editor, small_photo, marks):
    """The outline is the one the finder's segmenter gives for the marks; it then bounds the edit as a drawn mask."""
    turn = editor.session().send("make it red", image=small_photo, **marks)

    region = _region(editor, turn)
    expected = editor.toolbox.segment_selection(small_photo, read_selection(marks.get("box"), marks.get("point"), SIZE))
    assert np.array_equal(region, expected)
    assert region.any() and not region.all()
    after, before = np.asarray(turn.image), np.asarray(small_photo)
    assert np.array_equal(after[~region], before[~region])
    assert not np.array_equal(after[region], before[region])


def test_a_box_on_the_current_picture_of_a_session(editor, small_photo):
    session = editor.session()
    session.send("", image=small_photo)
    turn = session.send("make it blue", box="10,8,60,50")
    region = _region(editor, turn)
    assert np.array_equal(np.asarray(turn.image)[~region], np.asarray(small_photo)[~region])
    assert len(session.history()) == 2


@pytest.mark.parametrize(
    ("marks", "said"),
    [
        ({"box": [10, 8, 200, 50]}, "reaches outside the 96x64 picture"),
        ({"box": [10, 8, 60]}, "A box is four numbers"),
        ({"point": [30, 300]}, "lies outside the 96x64 picture"),
        (
            {"mask": np.ones((64, 96), bool), "box": [10, 8, 60, 50]},
            "Give either a drawn mask or a box/point, not both",
        ),
        ({"mask": np.ones((64, 96), bool), "point": [3, 4]}, "Leave out the box and point to edit inside the mask"),
    ],
)
def test_bad_marks_are_refused_before_the_turn_and_no_version_is_lost(editor, small_photo, marks, said):
    session = editor.session()
    session.send("make it red", image=small_photo, box=[10, 8, 60, 50])
    before = [(v.image_id, v.current) for v in session.history()]

    with pytest.raises(InputError) as caught:
        session.send("make it green", **marks)
    assert said in str(caught.value)
    with pytest.raises(InputError):
        session.send("make it green", image=small_photo, **marks)
    assert [(v.image_id, v.current) for v in session.history()] == before


def test_a_box_or_point_without_a_picture_is_refused(editor):
    with pytest.raises(InputError, match="needs a picture to go with it"):
        editor.session().send("make it red", box=[1, 1, 5, 5])


def test_clicks_that_outline_nothing_are_refused_and_a_box_stands_for_itself(editor, small_photo, monkeypatch):
    session = editor.session()
    session.send("", image=small_photo)
    monkeypatch.setattr(editor.toolbox.finder, "segment", lambda image, **marks: np.zeros((64, 96), bool))

    with pytest.raises(InputError, match="Nothing was outlined at the point"):
        session.send("make it red", point=[30, 30])
    assert len(session.history()) == 1

    turn = session.send("make it red", box=[10, 8, 60, 50])
    region = _region(editor, turn)
    box = np.zeros((64, 96), bool)
    box[8:50, 10:60] = True
    assert np.array_equal(region, box)
