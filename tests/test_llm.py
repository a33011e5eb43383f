"""The LLM layer through the real ChatOpenAI client against the scripted server in tests/fake_llm.py."""

from __future__ import annotations

import base64
import io
import json
import socket

import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from PIL import Image

from chatedit import prompts
from chatedit.agent.llm import (
    LLMSettings,
    Verdict,
    answer_with_llm,
    image_part,
    judge_with_llm,
    make_chat_model,
    plan_with_llm,
)
from chatedit.agent.plan import CATEGORIES, Plan, Step
from chatedit.agent.planner import make_plan
from chatedit.tools.errors import InputError
from tests.fake_llm import delay, drop, error, llm_settings, text, tool_call
from tests.helpers import random_image

REMOVE_DOG = {
    "steps": [{"category": "remove", "target": "dog", "prompt": "grass lawn", "instruction": "remove the dog"}],
    "message": None,
}


def _add(box):
    return {
        "steps": [
            {
                "category": "add",
                "prompt": "a small boat",
                "instruction": "add a boat",
                "anchor": "water",
                "relation": "on",
                "box": box,
            }
        ]
    }


@pytest.fixture
def llm(fake_llm):
    return make_chat_model(llm_settings(fake_llm))


@pytest.fixture
def photo(odd_photo):
    return odd_photo  # 601x403: shown to the LLM at 601x403 (under the 768 limit)


def _decoded(part: dict) -> Image.Image:
    """Gives back the picture inside an image_url content part."""
    url = part["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def _images(request: dict) -> list[Image.Image]:
    """Gives back the images attached to the first user message of a request body."""
    content = next(m["content"] for m in request["messages"] if m["role"] == "user")
    return [_decoded(part) for part in content if part["type"] == "image_url"]


def test_settings_read_chatedit_variables_then_openai_ones(monkeypatch):
    for name in ("BASE_URL", "API_KEY", "MODEL"):
        monkeypatch.delenv(f"CHATEDIT_LLM_{name}", raising=False)
        monkeypatch.delenv(f"OPENAI_{name}", raising=False)
    assert not LLMSettings().configured
    with pytest.raises(InputError, match="No LLM is configured"):
        make_chat_model(LLMSettings())

    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://openai.example/v1")
    settings = LLMSettings()
    assert settings.configured and settings.api_key.get_secret_value() == "sk-openai"
    assert settings.base_url == "http://openai.example/v1" and settings.model == "gpt-4o-mini"

    monkeypatch.setenv("CHATEDIT_LLM_BASE_URL", "http://vllm.local:8000/v1")
    monkeypatch.setenv("CHATEDIT_LLM_API_KEY", "sk-chatedit")
    monkeypatch.setenv("CHATEDIT_LLM_MODEL", "Qwen/Qwen2.5-VL-7B-Instruct")
    monkeypatch.setenv("CHATEDIT_LLM_RETRIES", "5")
    settings = LLMSettings()
    assert settings.base_url == "http://vllm.local:8000/v1" and settings.api_key.get_secret_value() == "sk-chatedit"
    assert settings.model == "Qwen/Qwen2.5-VL-7B-Instruct" and settings.retries == 5 and settings.timeout == 60

    model = make_chat_model(settings)
    assert (
        isinstance(model, ChatOpenAI)
        and model.temperature == 0
        and model.root_client.max_retries == 0
        and model.retries == 5
    )


def test_settings_with_only_a_base_url_are_configured(monkeypatch):
    for name in ("CHATEDIT_LLM_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CHATEDIT_LLM_BASE_URL", "http://localhost:11434/v1")
    settings = LLMSettings()
    assert settings.configured and settings.api_key is None
    assert make_chat_model(settings).openai_api_base == "http://localhost:11434/v1"


def test_image_part_is_a_downscaled_jpeg_data_url(astronaut):
    big = astronaut.resize((1200, 900))
    part = image_part(big)
    assert part["type"] == "image_url"
    decoded = _decoded(part)
    assert decoded.format == "JPEG" and decoded.size == (768, 576)
    assert _decoded(image_part(random_image(50, 30).convert("RGBA"))).size == (50, 30)  # never upscaled


def test_plan_request_carries_the_image_and_offers_the_plan_tool(fake_llm, llm, photo):
    fake_llm.script([tool_call("Plan", REMOVE_DOG)])
    result = plan_with_llm(llm, photo, "remove the dog", ["make it sunset"], image_size=photo.size)

    assert result.error is None and result.calls == 1
    expected = Step(category="remove", target="dog", prompt="grass lawn", instruction="remove the dog")
    assert result.value == Plan(steps=[expected])
    request = fake_llm.requests[0]
    assert request["temperature"] == 0 and request["model"] == "fake-vlm"
    assert request["messages"][0] == {"role": "system", "content": prompts.load("plan")}
    (sent,) = _images(request)
    assert sent.size == photo.size
    user_text = request["messages"][1]["content"][0]["text"]
    assert "remove the dog" in user_text and "make it sunset" in user_text and "601x403" in user_text
    (tool,) = request["tools"]
    assert tool["function"]["name"] == "Plan"
    assert tool["function"]["parameters"]["properties"]["steps"]["items"]["properties"]["category"]["enum"] == list(
        CATEGORIES
    )
    assert request["tool_choice"] == {"type": "function", "function": {"name": "Plan"}}


def test_plan_with_only_a_message_is_valid(fake_llm, llm, photo):
    fake_llm.script([tool_call("Plan", {"steps": [], "message": "Which dog: the left or the right one?"})])
    result = plan_with_llm(llm, photo, "remove the dog", [], image_size=photo.size)
    assert result.value.steps == [] and result.value.message == "Which dog: the left or the right one?"


def test_malformed_json_is_retried_once_with_the_reason(fake_llm, llm, photo):
    fake_llm.script([tool_call("Plan", '{"steps": [{"category": "remove", '), tool_call("Plan", REMOVE_DOG)])
    result = plan_with_llm(llm, photo, "remove the dog", [], image_size=photo.size)

    assert result.calls == 2 and result.error is None
    assert result.value.steps[0].target == "dog"
    retry = fake_llm.requests[1]["messages"]
    assert retry[:2] == fake_llm.requests[0]["messages"]
    assert "not valid JSON" in retry[-1]["content"] and "Plan tool" in retry[-1]["content"]


def test_malformed_json_twice_gives_no_plan_and_says_why(fake_llm, llm, photo):
    fake_llm.script([tool_call("Plan", "{not json"), tool_call("Plan", "[1, 2]")])
    result = plan_with_llm(llm, photo, "remove the dog", [], image_size=photo.size)
    assert result.value is None and result.calls == 2
    assert "not valid JSON" in fake_llm.requests[1]["messages"][-1]["content"]
    assert "unusable twice" in result.error and "could not be read" in result.error
    assert fake_llm.remaining == 0


def test_rate_limit_is_retried_with_backoff_and_counted(fake_llm, llm, photo):
    fake_llm.script([error(429, "Rate limit reached")] * 2 + [tool_call("Plan", REMOVE_DOG)])
    result = plan_with_llm(llm, photo, "remove the dog", [], image_size=photo.size)
    assert result.calls == 3 and result.error is None and result.value.steps[0].category == "remove"


def test_server_errors_until_retries_run_out(fake_llm, photo):
    llm = make_chat_model(llm_settings(fake_llm, retries=3))
    fake_llm.script([error(500, "upstream exploded")] * 4 + [tool_call("Plan", REMOVE_DOG)])
    result = plan_with_llm(llm, photo, "remove the dog", [], image_size=photo.size)
    assert result.value is None and result.calls == 4
    assert "HTTP 500" in result.error and "upstream exploded" in result.error
    assert fake_llm.remaining == 1


def test_client_errors_are_not_retried(fake_llm, llm, photo):
    fake_llm.script([error(401, "Incorrect API key provided"), tool_call("Plan", REMOVE_DOG)])
    result = plan_with_llm(llm, photo, "remove the dog", [], image_size=photo.size)
    assert result.value is None and result.calls == 1
    assert "HTTP 401" in result.error and "Incorrect API key" in result.error


def test_timeout_is_retried_then_reported(fake_llm, photo):
    llm = make_chat_model(llm_settings(fake_llm, timeout=0.2, retries=1))
    fake_llm.script([delay(30, tool_call("Plan", REMOVE_DOG)), delay(30, tool_call("Plan", REMOVE_DOG))])
    result = plan_with_llm(llm, photo, "remove the dog", [], image_size=photo.size)
    assert result.value is None and result.calls == 2 and "timed out" in result.error


def test_timeout_then_answer(fake_llm, photo):
    llm = make_chat_model(llm_settings(fake_llm, timeout=0.2))
    fake_llm.script([delay(30), tool_call("Plan", REMOVE_DOG)])
    result = plan_with_llm(llm, photo, "remove the dog", [], image_size=photo.size)
    assert result.calls == 2 and result.value.steps[0].target == "dog"


def test_dropped_connection_is_retried(fake_llm, llm, photo):
    fake_llm.script([drop(), tool_call("Plan", REMOVE_DOG)])
    result = plan_with_llm(llm, photo, "remove the dog", [], image_size=photo.size)
    assert result.calls == 2 and result.value.steps[0].target == "dog"


def test_connection_refused(photo):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = LLMSettings(base_url=f"http://127.0.0.1:{port}/v1", api_key="test", retries=2, backoff=0.01, timeout=5)
    result = plan_with_llm(make_chat_model(settings), photo, "remove the dog", [], image_size=photo.size)
    assert result.value is None and result.calls == 3
    assert "could not reach the LLM server" in result.error


def test_refusal_in_plain_text_is_retried_then_reported(fake_llm, llm, photo):
    fake_llm.script([text("I'm sorry, I can't help with that."), text("I'm sorry, I can't help with that.")])
    result = plan_with_llm(llm, photo, "remove the dog", [], image_size=photo.size)
    assert result.value is None and result.calls == 2
    assert "text instead of a call to the Plan tool" in result.error and "can't help" in result.error


def test_unknown_category_is_invalid(fake_llm, llm, photo):
    step = {"target": "car", "prompt": "a red car", "instruction": "make the car red"}
    bad = {"steps": [{**step, "category": "recolor"}]}
    good = {"steps": [{**step, "category": "Local"}]}
    fake_llm.script([tool_call("Plan", bad), tool_call("Plan", good)])
    result = plan_with_llm(llm, photo, "make the car red", [], image_size=photo.size)
    assert result.calls == 2 and result.value.steps[0].category == "local"
    assert "unknown category 'recolor'" in fake_llm.requests[1]["messages"][-1]["content"]


def test_step_without_its_target_is_invalid(fake_llm, llm, photo):
    no_target = {"steps": [{"category": "remove", "prompt": "grass", "instruction": "remove it"}]}
    fake_llm.script([tool_call("Plan", no_target)] * 2)
    result = plan_with_llm(llm, photo, "remove it", [], image_size=photo.size)
    assert result.value is None and "has no target" in result.error


def test_schema_violation_is_invalid(fake_llm, llm, photo):
    fake_llm.script([tool_call("Plan", {"steps": [{"category": "remove", "target": "dog"}]})] * 2)
    result = plan_with_llm(llm, photo, "remove the dog", [], image_size=photo.size)
    assert result.value is None and "schema" in result.error and "prompt" in result.error


def test_empty_plan_is_invalid(fake_llm, llm, photo):
    fake_llm.script([tool_call("Plan", {"steps": [], "message": None}), tool_call("Plan", {"steps": []})])
    result = plan_with_llm(llm, photo, "do something", [], image_size=photo.size)
    assert result.value is None and result.calls == 2 and "neither steps nor a message" in result.error


@pytest.mark.parametrize(
    "box, expected",
    [
        ([100, 50, 200, 150], [100, 50, 200, 150]),  # inside: unchanged
        ([550, 350, 700, 500], [550, 350, 601, 403]),  # partly outside: clamped
        ([-40, 10, 30, 60], [0, 10, 30, 60]),
        ([200, 150, 100, 50], [100, 50, 200, 150]),  # corners given in the wrong order
        ([0.5, 0.5, 1.0, 1.0], [300, 201, 601, 403]),  # 0-1 fractions of the image
        ([700, 500, 800, 600], None),  # fully outside: dropped
        ([100, 100, 100, 180], None),  # no width: dropped
    ],
)
def test_add_boxes_are_clamped_or_dropped(fake_llm, llm, photo, box, expected):
    fake_llm.script([tool_call("Plan", _add(box))])
    result = plan_with_llm(llm, photo, "add a boat", [], image_size=photo.size)
    (step,) = result.value.steps
    assert step.box == expected and step.anchor == "water" and result.calls == 1


def test_boxes_map_from_the_shown_image_to_the_full_one(fake_llm, llm, astronaut):
    # 512x512 shown as is; the plan refers to the 1024x1024 original.
    fake_llm.script([tool_call("Plan", _add([100, 200, 300, 400]))])
    result = plan_with_llm(llm, astronaut, "add a boat", [], image_size=(1024, 1024))
    assert result.value.steps[0].box == [200, 400, 600, 800]


def test_judge_returns_verdicts_for_the_judged_steps(fake_llm, llm, photo):
    plan = Plan(
        steps=[
            Step(category="remove", target="dog", prompt="grass lawn", instruction="remove the dog"),
            Step(category="global", prompt="make it sunset", instruction="make it sunset"),
        ]
    )
    after = random_image(*photo.size, seed=1)
    verdicts = {
        "verdicts": [
            {"step": 2, "passed": True, "reason": "Warm sunset light everywhere.", "new_prompt": ""},
            {"step": 1, "passed": False, "reason": "A blurred dog shape remains.", "new_prompt": "empty green lawn"},
        ]
    }
    fake_llm.script([tool_call("Verdicts", verdicts)])
    evidence = [{"step": 1, "changed_inside": 0.4, "target_still_found": True}, {"step": 2, "changed": 0.8}]
    result = judge_with_llm(llm, photo, after, plan, evidence)

    assert result.calls == 1 and result.error is None
    assert result.value == [
        Verdict(step=1, passed=False, reason="A blurred dog shape remains.", new_prompt="empty green lawn"),
        Verdict(step=2, passed=True, reason="Warm sunset light everywhere.", new_prompt=None),
    ]
    request = fake_llm.requests[0]
    assert request["messages"][0]["content"] == prompts.load("judge")
    assert request["tools"][0]["function"]["name"] == "Verdicts"
    before_sent, after_sent = _images(request)
    assert before_sent.size == after_sent.size == photo.size
    shown = request["messages"][1]["content"][0]["text"]
    assert "target_still_found" in shown and "grass lawn" in shown


def test_judge_needs_a_verdict_for_each_judged_step(fake_llm, llm, photo):
    plan = Plan(steps=[Step(category="remove", target="dog", prompt="grass", instruction="remove the dog")] * 3)
    only_step_1 = {"verdicts": [{"step": 1, "passed": True, "reason": "gone"}]}
    both = {"verdicts": [*only_step_1["verdicts"], {"step": 3, "passed": False, "reason": "still there"}]}
    fake_llm.script([tool_call("Verdicts", only_step_1), tool_call("Verdicts", both)])
    result = judge_with_llm(llm, photo, photo, plan, [{"step": 3, "changed_inside": 0.01}])

    assert result.calls == 2
    assert [(v.step, v.passed) for v in result.value] == [(3, False)]
    assert "no verdict for step(s) 3" in fake_llm.requests[1]["messages"][-1]["content"]


def test_judge_failure_gives_no_verdicts(fake_llm, llm, photo):
    plan = Plan(steps=[Step(category="global", prompt="make it sunset", instruction="make it sunset")])
    fake_llm.script([error(503, "overloaded")] * 3)
    result = judge_with_llm(llm, photo, photo, plan, [{"changed": 0.5}])
    assert result.value is None and result.calls == 3 and "HTTP 503" in result.error


def test_answer_returns_text(fake_llm, llm, photo):
    fake_llm.script([text("A cup of coffee on a saucer.")])
    result = answer_with_llm(llm, photo, "what is in the picture?", ["remove the spoon"])
    assert result.value == "A cup of coffee on a saucer." and result.calls == 1
    request = fake_llm.requests[0]
    assert "tools" not in request and request["messages"][0]["content"] == prompts.load("answer")
    assert len(_images(request)) == 1 and "what is in the picture?" in json.dumps(request)


def test_answer_streams_too(fake_llm, llm, photo):
    fake_llm.script([text("Two cats.")])
    chunks = list(llm.stream([HumanMessage([{"type": "text", "text": "how many cats?"}, image_part(photo)])]))
    assert "".join(chunk.text for chunk in chunks) == "Two cats." and fake_llm.requests[0]["stream"] is True


def test_no_request_carries_a_file_path(fake_llm, llm, tmp_path, photo):
    path = tmp_path / "photos" / "input.png"
    path.parent.mkdir()
    photo.save(path)
    image = Image.open(path)
    mask = str(tmp_path / "store" / "mask.png")
    plan = Plan(steps=[Step(category="remove", target="dog", prompt="grass", instruction="remove the dog")])
    passed = {"verdicts": [{"step": 1, "passed": True, "reason": "ok"}]}
    fake_llm.script([tool_call("Plan", REMOVE_DOG), tool_call("Verdicts", passed), text("A dog.")])

    history = [f"removed the cat (mask {mask})", f"opened {path}"]
    assert plan_with_llm(llm, image, "remove the dog", history, image_size=image.size).value is not None
    evidence = [{"step": 1, "mask": mask, "checks": [{"debug": str(path)}]}]
    assert judge_with_llm(llm, image, image, plan, evidence).value
    assert answer_with_llm(llm, image, "what is this?", history).value == "A dog."

    bodies = [json.dumps(request) for request in fake_llm.requests]
    assert len(bodies) == 3
    for body in bodies:
        assert str(tmp_path) not in body and str(tmp_path).replace("/", "\\/") not in body
        assert "input.png" not in body and "mask.png" not in body
    assert "removed the cat (mask [file])" in bodies[0]


NO_TOOLS = "registry.ollama.ai/library/llava:latest does not support tools"


def test_tool_calls_are_the_first_way_and_the_result_says_so(fake_llm, llm, photo):
    fake_llm.script([tool_call("Plan", REMOVE_DOG)])
    result = plan_with_llm(llm, photo, "remove the dog", [], image_size=photo.size)
    assert result.mode == "tools" and result.value.steps[0].target == "dog"
    assert "response_format" not in fake_llm.requests[0]


def test_a_model_without_tools_is_asked_for_json_once_and_remembered(fake_llm, photo):
    llm = make_chat_model(llm_settings(fake_llm, model="llava-json-plan"))
    fenced = "Here is the plan:\n```json\n" + json.dumps(REMOVE_DOG) + "\n```"
    fake_llm.script([error(400, NO_TOOLS), text(json.dumps(REMOVE_DOG)), text(fenced)])

    first = plan_with_llm(llm, photo, "remove the dog", [], image_size=photo.size)
    assert (first.mode, first.calls, first.error) == ("json", 2, None)
    assert first.value == Plan.model_validate(REMOVE_DOG)
    asked = fake_llm.requests[1]
    assert "tools" not in asked and asked["response_format"]["json_schema"]["name"] == "Plan"
    assert "Do not call a tool" in asked["messages"][-1]["content"] and '"steps"' in asked["messages"][-1]["content"]
    assert len(_images(asked)) == 1

    second = plan_with_llm(llm, photo, "remove the dog", [], image_size=photo.size)
    assert (second.mode, second.calls) == ("json", 1) and second.value.steps[0].category == "remove"
    assert "tools" not in fake_llm.requests[2] and fake_llm.remaining == 0


def test_json_plans_are_validated_against_the_same_schema(fake_llm, photo):
    llm = make_chat_model(llm_settings(fake_llm, model="llava-json-check"))
    bad = {"steps": [{"category": "explode", "prompt": "x", "instruction": "x"}]}
    fake_llm.script([error(400, NO_TOOLS), text(json.dumps(bad)), text("no idea")])
    result = plan_with_llm(llm, photo, "remove the dog", [], image_size=photo.size)
    assert result.value is None and result.calls == 3 and result.mode == "json"
    retry = fake_llm.requests[2]["messages"][-1]["content"]
    assert "unknown category 'explode'" in retry and "Plan JSON object only" in retry
    assert "holds no JSON object" in result.error


def test_a_judge_without_tools_gives_verdicts_as_json(fake_llm, photo):
    llm = make_chat_model(llm_settings(fake_llm, model="llava-json-judge"))
    plan = Plan(steps=[Step(category="remove", target="dog", prompt="grass", instruction="remove the dog")])
    fail = {"verdicts": [{"step": 1, "passed": False, "reason": "still there", "new_prompt": "empty lawn"}]}
    fake_llm.script([error(400, NO_TOOLS), text('{"verdicts": []}'), text(json.dumps(fail))])
    result = judge_with_llm(llm, photo, photo, plan, [{"step": 1, "changed_inside": 0.01}])
    assert result.mode == "json" and result.calls == 3
    assert result.value == [Verdict(step=1, passed=False, reason="still there", new_prompt="empty lawn")]
    assert fake_llm.requests[1]["response_format"]["json_schema"]["name"] == "Verdicts"
    assert "no verdict for step(s) 1" in fake_llm.requests[2]["messages"][-1]["content"]


def test_other_bad_requests_do_not_switch_to_json(fake_llm, photo):
    llm = make_chat_model(llm_settings(fake_llm, model="vlm-bad-request"))
    fake_llm.script([error(400, "image too large"), tool_call("Plan", REMOVE_DOG)])
    first = plan_with_llm(llm, photo, "remove the dog", [], image_size=photo.size)
    assert first.value is None and first.calls == 1 and first.mode == "tools" and "image too large" in first.error
    second = plan_with_llm(llm, photo, "remove the dog", [], image_size=photo.size)
    assert second.mode == "tools" and second.value.steps[0].target == "dog"
    assert fake_llm.requests[1]["tools"][0]["function"]["name"] == "Plan"


def test_the_planner_reports_which_way_the_llm_was_asked(fake_llm, photo):
    llm = make_chat_model(llm_settings(fake_llm, model="llava-json-planner"))
    fake_llm.script([error(400, NO_TOOLS), text(json.dumps(REMOVE_DOG))])
    planned = make_plan("remove the dog", photo, [], [], llm=llm)
    assert (planned.planner, planned.mode, planned.calls) == ("llm", "json", 2)


def test_the_plan_prompt_teaches_coordination_and_the_plan_keeps_each_value(fake_llm, llm, photo):
    both = {
        "steps": [
            {"category": "local", "target": "door", "prompt": "a red door", "instruction": "paint the door red"},
            {"category": "local", "target": "fence", "prompt": "a green fence", "instruction": "the fence green"},
        ]
    }
    fake_llm.script([tool_call("Plan", both)])
    result = plan_with_llm(llm, photo, "paint the door red and the fence green", [], image_size=photo.size)
    system = fake_llm.requests[0]["messages"][0]["content"]
    assert "# Coordination" in system and "paint the door red and the fence green" in system
    assert '"her" is the woman, not the earrings' in system
    assert [(s.target, s.prompt) for s in result.value.steps] == [("door", "a red door"), ("fence", "a green fence")]


def test_tools_are_remembered_missing_per_server_and_model(fake_llm, photo):
    """One model that cannot call tools does not make another model, or the same name elsewhere, ask for JSON."""
    no_tools = make_chat_model(llm_settings(fake_llm, model="llava-remembered-alone"))
    fake_llm.script([error(400, NO_TOOLS), text(json.dumps(REMOVE_DOG))])
    assert plan_with_llm(no_tools, photo, "remove the dog", [], image_size=photo.size).mode == "json"
    other_model = make_chat_model(llm_settings(fake_llm, model="qwen-with-tools"))
    fake_llm.script([tool_call("Plan", REMOVE_DOG)])
    assert plan_with_llm(other_model, photo, "remove the dog", [], image_size=photo.size).mode == "tools"
    settings = llm_settings(fake_llm, model="llava-remembered-alone")
    elsewhere = make_chat_model(
        settings.model_copy(update={"base_url": settings.base_url.replace("127.0.0.1", "localhost")})
    )
    fake_llm.script([tool_call("Plan", REMOVE_DOG)])
    assert plan_with_llm(elsewhere, photo, "remove the dog", [], image_size=photo.size).mode == "tools"


def test_a_plan_made_of_the_schema_s_descriptions_or_repeated_steps_is_refused():
    from chatedit.agent.llm_ask import Unusable
    from chatedit.agent.llm_replies import plan_from

    described = Plan.model_json_schema()["$defs"]["Step"]["properties"]["target"]["description"]
    echo = {"category": "remove", "target": described[:60], "prompt": "grass", "instruction": "remove the dog"}
    with pytest.raises(Unusable, match="copies the schema's description"):
        plan_from({"steps": [echo]}, None, None)
    step = {"category": "remove", "target": "dog", "prompt": "grass lawn", "instruction": "remove the dog"}
    with pytest.raises(Unusable, match="steps 1 and 2 are the same edit"):
        plan_from({"steps": [step, dict(step)]}, None, None)
    # The schema's quoted examples are fine answers.
    meant = {**step, "target": "second cup from the right", "prompt": "empty wooden table"}
    assert plan_from({"steps": [meant]}, None, None).steps[0].target == "second cup from the right"
