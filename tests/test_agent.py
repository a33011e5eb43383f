"""The agent end to end on tiny models: plan, locate, edit, verify, loop back, sessions.

The detector is scripted (a tiny random GroundingDINO finds random boxes), so each test decides what
is in the picture; inpainting, InstructPix2Pix, the store, the checkpointer and the graph are real.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from chatedit import Editor
from chatedit.agent.toolbox import EditSettings, Toolbox
from chatedit.tools.detect import Detection
from chatedit.tools.masks import box_mask
from chatedit.tools.models import get_models

FAST = EditSettings(inpaint_steps=2, global_steps=2)


class ScriptedToolbox(Toolbox):
    """A toolbox whose detector sees the listed objects while their pixels are untouched.

    An object counts as present while its box still matches the original photo, so removing it makes
    it disappear, as a real detector would report. Phrases listed in `new_objects` are seen wherever
    the picture changed (a painted-in object).
    """

    def __init__(self, original: Image.Image, objects: dict[str, list[tuple]], new_objects=()):
        super().__init__(get_models("tiny", "cpu"), FAST)
        self.original = np.asarray(original, np.int16)
        self.objects = objects
        self.new_objects = set(new_objects)
        self.calls: list[list[str]] = []

    def detect(self, image, phrases):
        self.calls.append(list(phrases))
        now = np.asarray(image, np.int16)
        if now.shape != self.original.shape:
            return {p: [] for p in phrases}
        diff = np.abs(now - self.original).mean(axis=2)
        found = {}
        for phrase in phrases:
            hits = []
            for box in self.objects.get(phrase, []):
                x0, y0, x1, y1 = (int(v) for v in box)
                if diff[y0:y1, x0:x1].mean() < 2.0:
                    hits.append(Detection(phrase, tuple(float(v) for v in box), 0.8))
            if phrase in self.new_objects and (diff > 8).any():
                ys, xs = np.nonzero(diff > 8)
                hits.append(
                    Detection(phrase, (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)), 0.7)
                )
            found[phrase] = hits
        return found

    def segment_box(self, image, box):
        return box_mask((image.height, image.width), box)


@pytest.fixture
def photo(coffee):
    return coffee.resize((150, 100), Image.Resampling.BICUBIC)


CUP = (40, 20, 90, 70)
SPOON = (100, 60, 140, 90)


def make_editor(tmp_path, toolbox, **kwargs):
    return Editor(models="tiny", planner="rules", data_dir=tmp_path, toolbox=toolbox, seed=1, **kwargs)


def test_compound_instruction_runs_steps_in_order(tmp_path, photo):
    toolbox = ScriptedToolbox(photo, {"cup": [CUP]})
    events = []
    turn = (
        make_editor(tmp_path, toolbox)
        .session()
        .send("remove the cup and make it sunset", image=photo, on_event=events.append)
    )
    steps = turn.report["steps"]
    assert [s["category"] for s in steps] == ["remove", "global"]
    assert steps[0]["passed"] and steps[0]["mask"] is not None
    assert steps[1]["mask"] is None
    assert turn.image.size == photo.size
    assert turn.report["planner"] == "rules" and turn.report["llm_calls"] == 0
    kinds = [e["event"] for e in events]
    assert kinds[0] == "plan" and kinds[-1] == "done"
    assert {"step", "located", "progress", "checked", "verdict"} <= set(kinds)
    assert set(turn.report["timings_ms"]) >= {"plan", "locate", "inpaint", "global_edit", "verify"}


def test_three_chained_turns_keep_pixels_outside_all_masks(tmp_path, photo):
    toolbox = ScriptedToolbox(
        photo, {"cup": [CUP], "spoon": [SPOON], "table": [(0, 50, 150, 100)]}, new_objects={"bird"}
    )
    session = make_editor(tmp_path, toolbox).session()
    turns = [
        session.send("remove the cup", image=photo),
        session.send("make the spoon red"),
        session.send("add a bird on the table"),
    ]
    allowed = np.zeros((photo.height, photo.width), bool)
    for turn in turns:
        for step in turn.report["steps"]:
            assert step["mask"], turn.report
            allowed |= session.editor.store.get_mask(step["mask"]) > 0
    before, after = np.asarray(photo), np.asarray(turns[-1].image)
    assert allowed.any() and not allowed.all()
    assert np.array_equal(before[~allowed], after[~allowed])
    assert not np.array_equal(before[allowed], after[allowed])
    assert len(session.history()) == 4


def test_session_resumes_in_a_new_editor_and_undo_is_exact(tmp_path, photo):
    toolbox = ScriptedToolbox(photo, {"cup": [CUP], "spoon": [SPOON]})
    session = make_editor(tmp_path, toolbox).session()
    first = session.send("remove the cup", image=photo).image
    second = session.send("remove the spoon").image
    assert not np.array_equal(np.asarray(first), np.asarray(second))

    resumed = make_editor(tmp_path, toolbox).session(session.id)
    assert [v.instruction for v in resumed.history()] == ["uploaded", "remove the cup", "remove the spoon"]
    assert np.array_equal(np.asarray(resumed.undo()), np.asarray(first))
    assert np.array_equal(np.asarray(resumed.undo()), np.asarray(photo))
    assert np.array_equal(np.asarray(resumed.redo()), np.asarray(first))
    assert np.array_equal(np.asarray(resumed.undo()), np.asarray(photo))
    again = resumed.send("undo")
    assert "nothing to undo" in again.message.lower()
    assert np.array_equal(np.asarray(again.image), np.asarray(photo))
    assert resumed.history()[0].current


def test_missing_target_makes_no_edit_and_says_so(tmp_path, photo):
    toolbox = ScriptedToolbox(photo, {"cup": [CUP]})
    turn = make_editor(tmp_path, toolbox).session().send("remove the giraffe", image=photo)
    assert np.array_equal(np.asarray(turn.image), np.asarray(photo))
    assert "giraffe" in turn.message and "could not find" in turn.message.lower()
    assert turn.report["steps"][0]["passed"] is False and turn.report["steps"][0]["attempts"] == []


def test_two_equal_candidates_ask_and_the_answer_resolves(tmp_path, photo):
    left, right = (5, 10, 45, 60), (100, 10, 145, 60)
    toolbox = ScriptedToolbox(photo, {"dog": [left, right]})
    session = make_editor(tmp_path, toolbox).session()
    asked = session.send("remove the dog", image=photo)
    assert asked.report["question"] is True and "which" in asked.message.lower()
    assert np.array_equal(np.asarray(asked.image), np.asarray(photo))

    done = session.send("the left one")
    changed = np.any(np.asarray(done.image) != np.asarray(photo), axis=2)
    ys, xs = np.nonzero(changed)
    assert changed.any() and xs.max() < 100
    assert done.report["steps"][0]["passed"]


def test_the_words_of_the_target_pick_the_instance_and_the_detector_gets_the_noun(tmp_path, photo):
    cups = [(5, 30, 35, 70), (55, 30, 85, 70), (110, 30, 140, 70)]
    toolbox = ScriptedToolbox(photo, {"cup": cups})
    turn = make_editor(tmp_path, toolbox).session().send("remove the second cup from the right", image=photo)
    changed = np.any(np.asarray(turn.image) != np.asarray(photo), axis=2)
    ys, xs = np.nonzero(changed)
    assert changed.any() and 40 <= xs.min() and xs.max() < 100
    assert toolbox.calls[0] == ["cup"]


def test_another_steps_words_do_not_choose_the_target(tmp_path, photo):
    """ "to the left" says where the lamp goes; which cup to remove is still a question."""
    left, right = (5, 10, 45, 60), (100, 10, 145, 60)
    toolbox = ScriptedToolbox(photo, {"cup": [left, right], "lamp": [(60, 60, 90, 95)]})
    asked = make_editor(tmp_path, toolbox).session().send("remove the cup and move the lamp to the left", image=photo)
    assert asked.report["question"] is True and "which" in asked.message.lower()
    assert np.array_equal(np.asarray(asked.image), np.asarray(photo))


def test_failed_check_loops_back_with_a_changed_attempt(tmp_path, photo):
    """A removal the detector still sees is retried with a new seed and a larger mask, then kept as best."""

    class Stubborn(ScriptedToolbox):
        def detect(self, image, phrases):
            return {p: [Detection(p, tuple(map(float, CUP)), 0.8)] if p == "cup" else [] for p in phrases}

    toolbox = Stubborn(photo, {})
    editor = make_editor(tmp_path, toolbox, max_attempts=3)
    turn = editor.session().send("remove the cup", image=photo)
    step = turn.report["steps"][0]
    assert len(step["attempts"]) == 3 and not step["passed"]
    areas = [int((editor.store.get_mask(a["mask"]) > 0).sum()) for a in step["attempts"]]
    assert areas[0] < areas[1] < areas[2]
    assert "not sure" in turn.message.lower()


def test_no_edit_instruction_answers_without_editing(tmp_path, photo):
    toolbox = ScriptedToolbox(photo, {})
    session = make_editor(tmp_path, toolbox).session()
    turn = session.send("hello there", image=photo)
    assert turn.report["steps"] == []
    assert np.array_equal(np.asarray(turn.image), np.asarray(photo))
    assert len(session.history()) == 1


# ---- the LLM path, through ChatOpenAI against a scripted OpenAI-compatible server ----------------

from chatedit.agent.llm import make_chat_model  # noqa: E402
from tests.fake_llm import llm_settings, tool_call  # noqa: E402

REMOVE_CUP_AND_SUNSET = {
    "steps": [
        {"category": "remove", "target": "cup", "prompt": "wooden table", "instruction": "remove the cup"},
        {"category": "global", "prompt": "make it sunset", "instruction": "make it sunset"},
    ],
    "message": None,
}


def llm_editor(tmp_path, toolbox, fake, **kwargs):
    return Editor(
        models="tiny",
        planner="llm",
        data_dir=tmp_path,
        toolbox=toolbox,
        seed=1,
        llm=make_chat_model(llm_settings(fake)),
        **kwargs,
    )


def _has_image(body: dict) -> bool:
    for message in body["messages"]:
        content = message.get("content")
        if isinstance(content, list) and any(
            part.get("type") == "image_url" and part["image_url"]["url"].startswith("data:image/") for part in content
        ):
            return True
    return False


def test_llm_success_path_costs_two_calls_for_two_steps(tmp_path, photo, fake_llm):
    fake_llm.script(
        [
            tool_call("Plan", REMOVE_CUP_AND_SUNSET),
            tool_call(
                "Verdicts",
                {
                    "verdicts": [
                        {"step": 1, "passed": True, "reason": "cup gone", "new_prompt": None},
                        {"step": 2, "passed": True, "reason": "warm light", "new_prompt": None},
                    ]
                },
            ),
        ]
    )
    toolbox = ScriptedToolbox(photo, {"cup": [CUP]})
    turn = llm_editor(tmp_path, toolbox, fake_llm).session().send("remove the cup and make it sunset", image=photo)
    assert turn.report["planner"] == "llm"
    assert turn.report["llm_calls"] == 2 and len(fake_llm.requests) == 2
    assert _has_image(fake_llm.requests[0]) and _has_image(fake_llm.requests[1])
    assert all(s["passed"] for s in turn.report["steps"])
    assert [len(s["attempts"]) for s in turn.report["steps"]] == [1, 1]


def test_llm_failed_verdict_loops_back_with_the_new_prompt(tmp_path, photo, fake_llm):
    plan = {
        "steps": [{"category": "local", "target": "cup", "prompt": "a blue cup", "instruction": "make the cup blue"}]
    }
    fake_llm.script(
        [
            tool_call("Plan", plan),
            tool_call(
                "Verdicts",
                {
                    "verdicts": [
                        {"step": 1, "passed": False, "reason": "still red", "new_prompt": "a bright blue ceramic cup"}
                    ]
                },
            ),
            tool_call(
                "Verdicts", {"verdicts": [{"step": 1, "passed": True, "reason": "blue now", "new_prompt": None}]}
            ),
        ]
    )
    toolbox = ScriptedToolbox(photo, {"cup": [CUP]})
    calls = []
    original_inpaint = toolbox.inpaint

    def spy(image, mask, prompt, **kwargs):
        calls.append((prompt, kwargs["seed"]))
        return original_inpaint(image, mask, prompt, **kwargs)

    toolbox.inpaint = spy
    turn = llm_editor(tmp_path, toolbox, fake_llm).session().send("make the cup blue", image=photo)
    step = turn.report["steps"][0]
    assert [a["passed"] for a in step["attempts"]] == [False, True] and step["passed"]
    assert calls[0] == ("a blue cup", 1) and calls[1][0] == "a bright blue ceramic cup" and calls[1][1] != 1
    assert turn.report["llm_calls"] == 3


def test_malformed_llm_plan_retries_then_falls_back_to_rules(tmp_path, photo, fake_llm):
    fake_llm.script(
        [
            tool_call("Plan", "{not json"),
            tool_call("Plan", '{"steps": [{"category": "explode"}]}'),
            tool_call("Verdicts", {"verdicts": [{"step": 1, "passed": True, "reason": "gone", "new_prompt": None}]}),
        ]
    )
    toolbox = ScriptedToolbox(photo, {"cup": [CUP]})
    turn = llm_editor(tmp_path, toolbox, fake_llm).session().send("remove the cup", image=photo)
    assert turn.report["planner"] == "rules"
    assert "LLM planner failed" in turn.report["planner_note"]
    assert turn.report["steps"][0]["category"] == "remove" and turn.report["steps"][0]["target"] == "cup"
    assert turn.report["llm_calls"] == 3


def test_local_edit_through_zone_keeps_only_the_edited_region(tmp_path, photo):
    """local_mode="zone": the instruction editor paints the whole canvas, only the target's layer is kept."""
    settings = FAST.model_copy(update={"local_mode": "zone"})
    toolbox = ScriptedToolbox(photo, {"cup": [CUP]})
    toolbox.settings = settings
    editor = make_editor(tmp_path, toolbox)
    turn = editor.session().send("make the cup blue", image=photo)
    step = turn.report["steps"][0]
    assert step["category"] == "local" and step["mask"]
    alpha = editor.store.get_mask(step["mask"]) > 0
    before, after = np.asarray(photo), np.asarray(turn.image)
    assert np.array_equal(before[~alpha], after[~alpha])
    # The kept layer stays on and near the cup's box, never far from it.
    ys, xs = np.nonzero(alpha)
    margin = int(0.05 * max(photo.size)) + 8
    assert xs.min() >= CUP[0] - margin and xs.max() < CUP[2] + margin
    assert ys.min() >= CUP[1] - margin and ys.max() < CUP[3] + margin


def test_a_step_that_cannot_be_placed_is_skipped_and_the_others_run(tmp_path, photo, fake_llm):
    """A VLM box too small to paint in is refused by the add step alone; the removal still happens."""
    plan = {
        "steps": [
            {"category": "add", "prompt": "a bird", "instruction": "add a bird", "box": [5, 5, 6, 6]},
            {"category": "remove", "target": "cup", "prompt": "table", "instruction": "remove the cup"},
        ]
    }
    fake_llm.script(
        [tool_call("Plan", plan), tool_call("Verdicts", {"verdicts": [{"step": 2, "passed": True, "reason": "gone"}]})]
    )
    toolbox = ScriptedToolbox(photo, {"cup": [CUP]})
    turn = llm_editor(tmp_path, toolbox, fake_llm).session().send("add a bird and remove the cup", image=photo)
    add, remove = turn.report["steps"]
    assert add["status"] == "skipped" and add["attempts"] == []
    assert remove["passed"]
    assert "Skipped:" in turn.message


# ---- masks the user drew -------------------------------------------------------------------------

from chatedit.tools.errors import InputError  # noqa: E402

DRAWN = (20, 30, 70, 80)
"""Where the test's user draws: it overlaps the cup but is not its box."""


def drawn_mask(photo) -> np.ndarray:
    return box_mask((photo.height, photo.width), DRAWN)


def test_user_mask_is_every_steps_region_without_detection(tmp_path, photo):
    """A drawn mask places each step (even one whose target is not in the picture) and bounds every change."""
    toolbox = ScriptedToolbox(photo, {"cup": [CUP]})
    mask = drawn_mask(photo)
    editor = make_editor(tmp_path, toolbox)
    drawn = Image.fromarray(mask.astype(np.uint8) * 255)
    turn = editor.session().send("remove the giraffe and make it sunset", image=photo, mask=drawn)
    steps = turn.report["steps"]
    assert [s["category"] for s in steps] == ["remove", "global"]
    # There is no giraffe to detect: without the mask this step would be "not found".
    assert steps[0]["status"] != "not_found"
    assert all(s["region_source"] == "user mask" for s in steps)
    assert all(np.array_equal(editor.store.get_mask(s["region"]) > 0, mask) for s in steps)
    assert all(s["mask"] and s["attempts"] for s in steps), steps
    # A drawn mask is a hard boundary: the editors' outward seams stop at its edge.
    before, after = np.asarray(photo), np.asarray(turn.image)
    assert np.array_equal(before[~mask], after[~mask])
    assert not np.array_equal(before[mask], after[mask])
    for step in steps:
        alpha = editor.store.get_mask(step["mask"]) > 0
        assert mask[alpha].any() and not (alpha & ~mask).any()
        assert step["attempts"][-1]["evidence"]["changed_outside"] == 0


def test_transparent_mask_and_array_mask_mark_the_region(tmp_path, photo):
    """An RGBA mask's transparent pixels are the region (OpenAI's convention); a bool array is taken as is."""
    toolbox = ScriptedToolbox(photo, {"cup": [CUP]}, new_objects={"bird"})
    mask = drawn_mask(photo)
    rgba = np.dstack([np.asarray(photo), np.where(mask, 0, 255).astype(np.uint8)])
    session = make_editor(tmp_path, toolbox).session()
    first = session.send("add a bird", image=photo, mask=Image.fromarray(rgba, "RGBA"))
    second = session.send("make the table red", mask=mask)
    for turn in (first, second):
        step = turn.report["steps"][0]
        assert step["region_source"] == "user mask"
        assert np.array_equal(session.editor.store.get_mask(step["region"]) > 0, mask)
    before, after = np.asarray(photo), np.asarray(second.image)
    assert np.array_equal(before[~mask], after[~mask])


def test_user_mask_lasts_one_turn(tmp_path, photo):
    """The next message without a mask finds its target again."""
    toolbox = ScriptedToolbox(photo, {"cup": [CUP], "spoon": [SPOON]})
    session = make_editor(tmp_path, toolbox).session()
    session.send("make it sunset", image=photo, mask=drawn_mask(photo))
    turn = session.send("remove the spoon")
    step = turn.report["steps"][0]
    assert step["region_source"] == "located"
    located = session.editor.store.get_mask(step["region"]) > 0
    assert np.array_equal(located, box_mask((photo.height, photo.width), SPOON))


def test_a_mask_of_the_wrong_size_is_refused_before_anything_changes(tmp_path, photo):
    toolbox = ScriptedToolbox(photo, {"cup": [CUP]})
    session = make_editor(tmp_path, toolbox).session()
    with pytest.raises(InputError, match="mask is 100x150 but the picture is 150x100"):
        session.send("remove the cup", image=photo, mask=np.ones((150, 100), bool))
    with pytest.raises(InputError, match="needs a picture"):
        session.send("remove the cup", mask=np.ones((100, 150), bool))
    session.send("remove the cup", image=photo)
    with pytest.raises(InputError, match="marks no pixels"):
        session.send("make it sunset", mask=np.zeros((100, 150), bool))
    with pytest.raises(InputError, match="mask is 10x10"):
        session.send("make it sunset", mask=Image.new("L", (10, 10), 255))
    assert [v.instruction for v in session.history()] == ["uploaded", "remove the cup"]


def test_studio_graph_takes_its_settings_from_the_run_context(tmp_path, photo):
    """A LangGraph server hands the run's JSON `context` to the graph: it names the models, the store, the tries."""
    from langchain_core.messages import HumanMessage
    from langgraph.checkpoint.memory import InMemorySaver

    from chatedit.agent.studio import make_graph
    from chatedit.tools.images import to_data_url

    graph = make_graph()
    graph.checkpointer = InMemorySaver()  # the LangGraph server brings its own
    message = HumanMessage(
        content=[
            {"type": "text", "text": "make it sunset"},
            {"type": "image_url", "image_url": {"url": to_data_url(photo)}},
        ]
    )
    context = {"models": "tiny", "device": "cpu", "data_dir": str(tmp_path), "max_attempts": 1, "seed": 5}
    state = graph.invoke({"messages": [message]}, {"configurable": {"thread_id": "t"}}, context=context)
    path = state["messages"][-1].content.rsplit("Image: ", 1)[1].strip()
    assert path.startswith(str(tmp_path)) and Image.open(path).size == photo.size
    steps = state["report"]["steps"]
    assert steps and all(len(s["attempts"]) == 1 for s in steps)


def test_distinct_drops_a_detection_overlapping_a_better_one_by_exactly_the_threshold():
    from chatedit.agent.choose import distinct

    best = Detection("cup", (0.0, 0.0, 20.0, 10.0), 0.9)
    half = Detection("cup", (0.0, 0.0, 10.0, 10.0), 0.8)  # IoU 0.5 with `best`
    apart = Detection("cup", (30.0, 0.0, 40.0, 10.0), 0.7)
    assert distinct([half, apart, best], overlap=0.5) == [best, apart]


def test_work_and_timings_are_merged_by_their_reducers():
    """Nodes return only what changed: steps by index, milliseconds per stage; a list or None starts over."""
    from chatedit.agent.state import add_timings, patch_work

    work = [{"step": {"category": "remove"}, "status": "pending", "attempts": []}, {"step": {}, "status": "pending"}]
    patched = patch_work(work, {1: {"status": "done", "kept": 0}})
    assert patched[1] == {"step": {}, "status": "pending", **{"status": "done", "kept": 0}} and patched[0] is work[0]
    assert work[1]["status"] == "pending"  # nothing given is changed
    assert patch_work(work, []) == []
    assert add_timings({"plan": 2.0}, {"plan": 1.5, "verify": 3.0}) == {"plan": 3.5, "verify": 3.0}
    assert add_timings({"plan": 2.0}, None) == {}
