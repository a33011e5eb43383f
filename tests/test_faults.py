"""Faults inside a turn: a failing vision LLM and a GPU that runs out of memory.

The LLM is the real ChatOpenAI client against the scripted OpenAI-compatible server of
tests/fake_llm.py; each fault is injected into a whole turn on tiny models. A fault is either retried
(bounded) or the turn falls back to the rules planner or the model checks, and the turn report says
which. Out of memory is simulated by a pipeline that raises torch.OutOfMemoryError.
"""

from __future__ import annotations

import json
import socket
import types
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from chatedit.agent import cli
from chatedit.agent.cli import common
from chatedit.agent.llm import LLMSettings, make_chat_model
from chatedit.agent.server import ServerSettings, create_app
from chatedit.agent.session import Editor
from chatedit.agent.toolbox import Toolbox
from chatedit.tools.errors import ChatEditError
from chatedit.tools.images import to_data_url
from chatedit.tools.models import get_models
from tests.fake_llm import Reply, delay, drop, error, llm_settings, text, tool_call
from tests.helpers import FAST, random_image

PHOTO = random_image(96, 64, seed=5)
WATERCOLOR = "make it look like a watercolor painting"
PLAN = tool_call(
    "Plan",
    {"steps": [{"category": "global", "prompt": "a watercolor painting", "instruction": WATERCOLOR}], "message": None},
)
PASSED = tool_call(
    "Verdicts", {"verdicts": [{"step": 1, "passed": True, "reason": "it looks painted", "new_prompt": None}]}
)
REFUSAL = text("I'm sorry, but I can't help with that.")
SHORT_TIMEOUT = {"timeout": 0.3, "retries": 1}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def llm_editor(tmp_path, llm, **kwargs) -> Editor:
    return Editor(
        models="tiny", planner="llm", llm=llm, data_dir=tmp_path / "data", settings=FAST, max_attempts=1, **kwargs
    )


# ---- the LLM -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A scripted LLM misbehaviour and what the turn report must say about it."""

    script: list[Reply]
    planner: str = "llm"
    """Who made the plan: the LLM (after retries) or the rules planner (fallback)."""
    note: str | None = None
    """Words of the report's planner_note (None: no note)."""
    calls: int = 3
    """LLM requests of the turn, retries included."""
    judge: str = "llm"
    """Who judged the step: the LLM, or the model checks (fallback)."""
    settings: dict = field(default_factory=dict)


def unknown_category() -> Reply:
    return tool_call("Plan", {"steps": [{"category": "recolor", "target": "cup", "prompt": "a red cup"}]})


LLM_FAULTS = {
    "plan-timeout-then-answer": Fault([delay(30, PLAN), PLAN, PASSED], settings=SHORT_TIMEOUT),
    "plan-timeout-every-time": Fault(
        [delay(30, PLAN), delay(30, PLAN), PASSED], "rules", "timed out", settings=SHORT_TIMEOUT
    ),
    "plan-http-429-then-answer": Fault([error(429, "slow down"), PLAN, PASSED]),
    "plan-http-500-until-retries-run-out": Fault([error(500)] * 3 + [PASSED], "rules", "HTTP 500", calls=4),
    "plan-connection-dropped-then-answer": Fault([drop(), PLAN, PASSED]),
    "plan-malformed-json-then-answer": Fault([tool_call("Plan", "{not json"), PLAN, PASSED]),
    "plan-malformed-json-twice": Fault(
        [tool_call("Plan", "{not json"), tool_call("Plan", '{"steps": [{"category": '), PASSED],
        "rules",
        "not valid JSON",
    ),
    "plan-unknown-category-twice": Fault(
        [unknown_category(), unknown_category(), PASSED], "rules", "unknown category 'recolor'"
    ),
    "plan-empty-twice": Fault(
        [tool_call("Plan", {"steps": []}), tool_call("Plan", {"steps": [], "message": " "}), PASSED],
        "rules",
        "neither steps nor a message",
    ),
    "plan-refusal-twice": Fault([REFUSAL, REFUSAL, PASSED], "rules", "text instead of a call"),
    "judge-malformed-json-twice": Fault(
        [PLAN, tool_call("Verdicts", "{oops"), tool_call("Verdicts", "[1, 2")], judge="model checks"
    ),
    "judge-http-500-until-retries-run-out": Fault([PLAN] + [error(500)] * 3, calls=4, judge="model checks"),
    "judge-timeout-every-time": Fault(
        [PLAN, delay(30, PASSED), delay(30, PASSED)], judge="model checks", settings=SHORT_TIMEOUT
    ),
    "judge-refusal-twice": Fault([PLAN, REFUSAL, REFUSAL], judge="model checks"),
    "judge-verdict-for-another-step": Fault(
        [PLAN] + [tool_call("Verdicts", {"verdicts": [{"step": 7, "passed": True, "reason": "fine"}]})] * 2,
        judge="model checks",
    ),
}


@pytest.mark.parametrize("name", list(LLM_FAULTS), ids=list(LLM_FAULTS))
def test_llm_fault_in_a_whole_turn(name, fake_llm, tmp_path):
    fault = LLM_FAULTS[name]
    fake_llm.script(fault.script)
    photo_path = tmp_path / "secret-holiday-photo.png"
    PHOTO.save(photo_path)
    editor = llm_editor(tmp_path, make_chat_model(llm_settings(fake_llm, **fault.settings)))
    turn = editor.session().send(WATERCOLOR, image=str(photo_path))

    report = turn.report
    assert turn.image.size == PHOTO.size and report["version"] == 1
    assert report["planner"] == fault.planner
    if fault.note is None:
        assert report["planner_note"] is None
    else:
        assert "LLM planner failed" in report["planner_note"] and fault.note in report["planner_note"]
    assert report["llm_calls"] == fault.calls == len(fake_llm.requests)
    assert fake_llm.remaining == 0
    attempt = report["steps"][0]["attempts"][0]
    assert attempt["judge"] == fault.judge
    assert (attempt["judge_note"] is not None) == (fault.judge == "model checks")
    # The model sees pixels and words only: no path of this machine, not even the photo's file name.
    for body in map(json.dumps, fake_llm.requests):
        assert str(tmp_path) not in body and "secret-holiday-photo" not in body and ".sqlite" not in body


def test_an_unreachable_llm_falls_back_to_rules_and_model_checks(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = LLMSettings(base_url=f"http://127.0.0.1:{port}/v1", api_key="test", retries=2, backoff=0.01, timeout=5)
    turn = llm_editor(tmp_path, make_chat_model(settings)).session().send(WATERCOLOR, image=PHOTO)
    assert turn.report["planner"] == "rules" and "could not reach the LLM server" in turn.report["planner_note"]
    assert turn.report["llm_calls"] == 6  # plan and judge: one request and two retries each
    attempt = turn.report["steps"][0]["attempts"][0]
    assert attempt["judge"] == "model checks" and "could not reach" in attempt["judge_note"]
    assert turn.image.size == PHOTO.size


@pytest.mark.parametrize(
    "box, expected",
    [([-40, -30, 40, 30], [0, 0, 40, 30]), ([500, 400, 700, 600], None)],
    ids=["partly-outside-clamped", "wholly-outside-placed-by-geometry"],
)
def test_llm_boxes_outside_the_image(box, expected, fake_llm, tmp_path):
    add = {"category": "add", "prompt": "a red balloon", "instruction": "add a red balloon", "box": box}
    fake_llm.script([tool_call("Plan", {"steps": [add]}), PASSED])
    events = []
    editor = llm_editor(tmp_path, make_chat_model(llm_settings(fake_llm)))
    turn = editor.session().send("add a red balloon", image=PHOTO, on_event=events.append)
    assert turn.report["planner"] == "llm" and turn.report["llm_calls"] == 2
    located = next(e["box"] for e in events if e["event"] == "located")
    if expected is not None:
        assert [round(v) for v in located] == expected
    x0, y0, x1, y1 = located
    assert 0 <= x0 < x1 <= PHOTO.width and 0 <= y0 < y1 <= PHOTO.height
    mask = editor.store.get_mask(turn.report["steps"][0]["mask"]) > 0
    assert mask.any()
    outside = ~mask
    assert np.array_equal(np.asarray(turn.image)[outside], np.asarray(PHOTO)[outside])


# ---- GPU out of memory -------------------------------------------------------------------------


class RunsOutOfMemory:
    """A diffusers pipeline that raises torch.OutOfMemoryError on its first `failures` calls, then works.

    Records the working size of every call, so a test can see the retry was smaller.
    """

    def __init__(self, pipe, failures: int = 1):
        self.pipe = pipe
        self.failures = failures
        self.sizes: list[tuple[int, int]] = []

    def __getattr__(self, name):
        return getattr(self.pipe, name)

    def __call__(self, **kwargs):
        self.sizes.append(kwargs["image"].size)
        if len(self.sizes) <= self.failures:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.pipe(**kwargs)


def oom_toolbox(failures: int = 1) -> Toolbox:
    """Gives back tiny-model tools whose two diffusion pipelines each run out of memory `failures` times."""
    real = get_models("tiny", "cpu")
    models = types.SimpleNamespace(
        detector=real.detector,
        segmenter=real.segmenter,
        inpainter=RunsOutOfMemory(real.inpainter, failures),
        global_editor=RunsOutOfMemory(real.global_editor, failures),
        family=real.family,
        finder=real.finder,
        report=real.report,
    )
    return Toolbox(models, FAST)


def oom_editor(tmp_path, toolbox: Toolbox, **kwargs) -> Editor:
    return Editor(
        models="tiny", planner="rules", data_dir=tmp_path / "data", toolbox=toolbox, max_attempts=1, seed=1, **kwargs
    )


@pytest.fixture
def freed(monkeypatch) -> list[int]:
    """Counts calls to torch.cuda.empty_cache (the memory is handed back before the retry)."""
    calls: list[int] = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append(1))
    return calls


def smaller(sizes: list[tuple[int, int]]) -> bool:
    return len(sizes) == 2 and sizes[1][0] < sizes[0][0] and sizes[1][1] <= sizes[0][1]


@pytest.mark.parametrize("instruction, pipe", [(WATERCOLOR, "global_editor"), ("add a red balloon", "inpainter")])
def test_out_of_memory_once_is_retried_smaller_and_reported(instruction, pipe, tmp_path, freed):
    toolbox = oom_toolbox()
    turn = oom_editor(tmp_path, toolbox).session().send(instruction, image=PHOTO)
    assert turn.image.size == PHOTO.size and turn.report["version"] == 1
    assert turn.report["steps"][0]["attempts"][0]["oom_retry"] == "smaller size"
    assert smaller(getattr(toolbox.models, pipe).sizes)
    assert freed


def test_out_of_memory_is_reported_through_the_cli_and_the_server(tmp_path, monkeypatch, freed):
    photo_path = tmp_path / "photo.png"
    PHOTO.save(photo_path)
    monkeypatch.setattr(common, "make_editor", lambda config: oom_editor(tmp_path, oom_toolbox()))
    result = CliRunner().invoke(cli.app, ["edit", str(photo_path), WATERCOLOR, "-o", str(tmp_path / "o.png"), "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["steps"][0]["attempts"][0]["oom_retry"] == "smaller size"

    http = TestClient(create_app(oom_editor(tmp_path, oom_toolbox()), ServerSettings()))
    parts = [{"type": "text", "text": WATERCOLOR}, {"type": "image_url", "image_url": {"url": to_data_url(PHOTO)}}]
    reply = http.post(
        "/v1/chat/completions", json={"model": "chatedit", "messages": [{"role": "user", "content": parts}]}
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["chatedit"]["report"]["steps"][0]["attempts"][0]["oom_retry"] == "smaller size"


def test_a_turn_without_memory_trouble_reports_no_retry(tmp_path):
    turn = oom_editor(tmp_path, oom_toolbox(failures=0)).session().send(WATERCOLOR, image=PHOTO)
    assert turn.report["steps"][0]["attempts"][0]["oom_retry"] is False


def test_out_of_memory_twice_says_what_to_do_and_the_session_goes_on(tmp_path, freed):
    toolbox = oom_toolbox(failures=2)
    session = oom_editor(tmp_path, toolbox).session()
    session.send("", image=PHOTO)
    with pytest.raises(ChatEditError, match="ran out of memory even at a reduced size"):
        session.send(WATERCOLOR)
    assert [v.instruction for v in session.history()] == ["uploaded"]
    turn = session.send(WATERCOLOR)  # the pipeline works again: the same session simply goes on
    assert turn.report["version"] == 1 and turn.report["steps"][0]["attempts"][0]["oom_retry"] is False


def test_the_report_says_how_the_planner_and_the_judge_were_asked(fake_llm, tmp_path):
    """A model that cannot call tools plans and judges by JSON, and the turn report names both modes."""
    no_tools = "registry.ollama.ai/library/llava:latest does not support tools"
    plan = {"steps": [{"category": "global", "prompt": "a watercolor painting", "instruction": WATERCOLOR}]}
    verdicts = {"verdicts": [{"step": 1, "passed": True, "reason": "it looks painted"}]}
    fake_llm.script([error(400, no_tools), text(json.dumps(plan)), text(json.dumps(verdicts))])
    editor = llm_editor(tmp_path, make_chat_model(llm_settings(fake_llm, model="llava-modes-in-report")))
    report = editor.session().send(WATERCOLOR, image=PHOTO).report
    assert (report["planner"], report["planner_mode"], report["judge_mode"]) == ("llm", "json", "json")
    assert report["steps"][0]["attempts"][0]["judge"] == "llm"
    without = Editor(models="tiny", planner="rules", data_dir=tmp_path / "rules", settings=FAST, max_attempts=1)
    assert without.session().send(WATERCOLOR, image=PHOTO).report["judge_mode"] is None
