"""Tests for agent/bench.py: the shape of `chatedit bench`'s results (not the speed)."""

from __future__ import annotations

import pytest

from chatedit.agent.bench import run_bench
from chatedit.agent.llm import make_chat_model
from chatedit.agent.toolbox import EditSettings
from tests.fake_llm import llm_settings, tool_call

STAGES = [
    "plan",
    "detect",
    "segment",
    "inpaint",
    "global_edit",
    "verify",
    "store_checkpoint",
    "model",
    "overhead",
    "turn",
]


@pytest.fixture(scope="module")
def result():
    with pytest.MonkeyPatch.context() as env:
        env.delenv("CHATEDIT_CHANNELS_LAST", raising=False)
        env.delenv("CHATEDIT_COMPILE_MODE", raising=False)
        return run_bench("tiny", "cpu", (96, 64), 1, settings=EditSettings(inpaint_steps=2, global_steps=2))


def test_every_stage_has_a_median_min_and_max_in_ms(result):
    assert list(result["stages_ms"]) == STAGES
    for stage, row in result["stages_ms"].items():
        assert set(row) == {"median", "min", "max"}, stage
        assert all(isinstance(value, float) and value >= 0.0 for value in row.values()), stage
        assert row["min"] <= row["median"] <= row["max"], stage
    stages = result["stages_ms"]
    assert stages["turn"]["median"] == pytest.approx(stages["model"]["median"] + stages["overhead"]["median"], abs=0.1)


def test_the_run_is_described(result):
    assert result["models"] == "tiny" and result["device"] == "cpu" and result["device_name"] == "cpu"
    assert result["dtype"] == result["editor_dtype"] == "float32"
    assert result["size"] == [96, 64] and result["repeat"] == 1
    assert result["instruction"] == "remove the cup and make it sunset"
    assert isinstance(result["target_found"], bool)
    assert isinstance(result["load_ms"], float) and result["load_ms"] > 0
    assert result["gpu_memory_resident_gib"] is None and result["gpu_memory_peak_gib"] is None
    assert result["planner"] == "rules"
    assert result["llm_calls_warm_up"] == 0 and result["llm_calls_per_turn"] == [0]
    assert result["steps"] == {"inpaint": 2, "global_edit": 2}
    assert result["acceleration"] == {"channels_last": False, "compile_mode": ""}
    assert set(result["attention"]) == {"inpainter", "global_editor", "detector", "segmenter"}
    assert result["attention"]["inpainter"] == result["attention"]["global_editor"] == "sdpa"
    assert set(result["versions"]) == {"torch", "diffusers", "transformers", "langgraph"}
    assert all(isinstance(v, str) for v in result["versions"].values())


def test_llm_calls_are_counted_from_the_turns_with_a_scripted_llm(fake_llm):
    plan = {
        "steps": [
            {"category": "remove", "target": "cup", "prompt": "wooden table", "instruction": "remove the cup"},
            {"category": "global", "prompt": "make it sunset", "instruction": "make it sunset"},
        ],
        "message": None,
    }
    verdicts = {
        "verdicts": [
            {"step": 1, "passed": True, "reason": "gone", "new_prompt": None},
            {"step": 2, "passed": True, "reason": "warm", "new_prompt": None},
        ]
    }
    fake_llm.script([tool_call("Plan", plan), tool_call("Verdicts", verdicts)] * 3)
    llm = make_chat_model(llm_settings(fake_llm))
    result = run_bench(
        "tiny", "cpu", (96, 64), 2, settings=EditSettings(inpaint_steps=1, global_steps=1), planner="llm", llm=llm
    )
    assert result["planner"] == "llm"
    assert all(calls >= 1 for calls in result["llm_calls_per_turn"])
    assert result["llm_calls_warm_up"] + sum(result["llm_calls_per_turn"]) == len(fake_llm.requests)


def test_a_modern_run_reports_the_steps_its_editor_ran():
    result = run_bench("modern:tiny", "cpu", (96, 64), 1, settings=EditSettings(editor_steps=1))
    assert result["models_run"]["family"] == "modern"
    assert result["steps"] == {"editor": 1}
