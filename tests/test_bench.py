"""Tests for agent/bench.py: the shape of `chatedit bench`'s results (not the speed)."""

from __future__ import annotations

import pytest

from chatedit.agent.bench import run_bench
from chatedit.agent.toolbox import EditSettings

STAGES = ["plan", "detect", "segment", "inpaint", "global_edit", "verify", "store_checkpoint", "model", "overhead", "turn"]


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
    assert result["dtype"] == "float32" and result["size"] == [96, 64] and result["repeat"] == 1
    assert result["instruction"] == "remove the cup and make it sunset"
    assert isinstance(result["target_found"], bool)
    assert isinstance(result["load_ms"], float) and result["load_ms"] > 0
    assert result["gpu_memory_resident_gib"] is None and result["gpu_memory_peak_gib"] is None
    assert result["llm_calls_with_llm"] == 2
    assert result["steps"] == {"inpaint": 2, "global_edit": 2}
    assert result["acceleration"] == {"channels_last": False, "compile_mode": ""}
    assert set(result["attention"]) == {"inpainter", "global_editor", "detector", "segmenter"}
    assert result["attention"]["inpainter"] == result["attention"]["global_editor"] == "sdpa"
    assert set(result["versions"]) == {"torch", "diffusers", "transformers", "langgraph"}
    assert all(isinstance(v, str) for v in result["versions"].values())
