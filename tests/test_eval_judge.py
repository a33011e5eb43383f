"""The VIEScore-style judge through the scripted OpenAI-compatible server."""

from __future__ import annotations

import math

import pytest

from chatedit.agent.config import Settings
from chatedit.agent.eval.judge import Judge, make_judge
from chatedit.agent.llm import make_chat_model
from chatedit.tools.errors import InputError
from tests.fake_llm import llm_settings, text, tool_call

SC = {"editing_success": 8, "over_editing": 6, "reasoning": "The cup is red; the saucer changed too."}
PQ = {"naturalness": 9, "artifacts": 7, "reasoning": "A faint seam by the handle."}


def test_the_judge_gives_sc_pq_and_their_geometric_mean(fake_llm, small_photo):
    fake_llm.script([tool_call("SemanticConsistency", SC), tool_call("PerceptualQuality", PQ)])
    judge = Judge(make_chat_model(llm_settings(fake_llm)))

    scored = judge.score(small_photo, small_photo.rotate(180), "make the cup red")

    assert (scored["sc"], scored["pq"]) == (6, 7)
    assert scored["overall"] == pytest.approx(math.sqrt(42), abs=1e-3)
    assert scored["calls"] == 2 and "seam" in scored["pq_reasoning"]
    sent = fake_llm.requests[0]
    assert sent["tools"][0]["function"]["name"] == "SemanticConsistency"
    parts = sent["messages"][1]["content"]
    assert "make the cup red" in parts[0]["text"] and sum(p["type"] == "image_url" for p in parts) == 2
    assert "GEdit-Bench" in sent["messages"][0]["content"]


def test_a_score_out_of_range_is_asked_again_and_a_failed_judge_says_why(fake_llm, small_photo):
    fake_llm.script(
        [
            tool_call("SemanticConsistency", {**SC, "editing_success": 12}),
            tool_call("SemanticConsistency", SC),
            tool_call("PerceptualQuality", PQ),
        ]
    )
    judge = Judge(make_chat_model(llm_settings(fake_llm, retries=0)))
    assert judge.score(small_photo, small_photo, "make the cup red")["sc"] == 6
    assert "0 to 10" in str(fake_llm.requests[1]["messages"])

    fake_llm.script([text("no tools here"), text("still none"), tool_call("PerceptualQuality", PQ)])
    failed = judge.score(small_photo, small_photo, "make the cup red")
    assert "sc" not in failed and failed["error"]


def test_a_judge_url_is_a_server_and_an_unknown_one_is_refused(fake_llm):
    judge = make_judge(fake_llm.base_url, Settings(), None)
    assert judge is not None and judge.llm.openai_api_base == fake_llm.base_url
    assert make_judge(None, Settings(), None) is None
    with pytest.raises(InputError, match="local:MODEL"):
        make_judge("gpt-judge", Settings(), None)
