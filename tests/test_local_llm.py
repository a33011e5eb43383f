"""The in-process brain: the editor's own text encoder, or a local transformers model, plans, judges and answers.

Tiny random Qwen3 and Qwen2.5-VL models (the tiny editors' encoders, and small ones saved to a folder)
run the real path: chat template, greedy decoding with the KV cache, xgrammar's logits processor, the
same pydantic types. Random weights say nothing sensible, but their replies must always parse.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from langchain_core.messages import HumanMessage, SystemMessage
from PIL import Image

from chatedit import prompts
from chatedit.agent import Editor
from chatedit.agent.bench import llm_extra_weight_bytes
from chatedit.agent.brain import llm_choice, llm_line
from chatedit.agent.config import LLMSettings, Settings
from chatedit.agent.grammar import Limits, bounded, limits_for, longest_reply
from chatedit.agent.llm import Verdicts, image_part, judge_with_llm, plan_with_llm, text_with_llm
from chatedit.agent.local_llm import LocalChatModel
from chatedit.agent.local_models import editor_chat_model, local_chat_model, local_dtype
from chatedit.agent.plan import Plan
from chatedit.agent.regions import Found, find_region
from chatedit.tools.detect import Detection
from chatedit.tools.editor_models import small_qwen_tokenizer
from chatedit.tools.errors import InputError
from chatedit.tools.models import get_models
from tests.test_families import SeeingToolbox


@pytest.fixture(scope="module")
def max_models():
    return get_models("max:tiny", "cpu")


@pytest.fixture(scope="module")
def modern_models():
    return get_models("modern:tiny", "cpu")


def _plan_messages(image: Image.Image, instruction: str) -> list:
    return [
        SystemMessage(prompts.load("plan")),
        HumanMessage([{"type": "text", "text": f"Instruction: {instruction}"}, image_part(image)]),
    ]


# ---- constrained decoding ---------------------------------------------------------------------------


def test_the_decoding_schema_bounds_every_string_list_and_number_and_asks_for_every_field():
    schema = bounded(Plan.model_json_schema(), Limits(text=40, items=3))
    step = schema["$defs"]["Step"]
    assert schema["required"] == ["steps", "message"]
    assert schema["properties"]["steps"]["maxItems"] == 3
    assert set(step["required"]) == set(step["properties"])
    # Plain text without escapes: each character one character of JSON.
    assert step["properties"]["prompt"]["pattern"] == "^[ !#-\\[\\]-~]{0,40}$"
    # The schema's own limits stay: a box is four whole numbers, each bounded.
    box = next(option for option in step["properties"]["box"]["anyOf"] if option.get("type") == "array")
    assert (box["minItems"], box["maxItems"]) == (4, 4)
    assert box["items"] == {"type": "integer", "minimum": 0, "maximum": 10_000}
    # Enumerations are left as they are.
    assert "pattern" not in step["properties"]["category"]


@pytest.mark.parametrize("schema", [Plan, Verdicts])
@pytest.mark.parametrize("budget", [256, 512, 1024, 4096])
def test_the_longest_reply_the_grammar_allows_fits_the_token_budget(schema, budget):
    json_schema = schema.model_json_schema()
    limits = limits_for(json_schema, budget)
    assert longest_reply(bounded(json_schema, limits)) <= budget
    # The limits are the longest that fit: one more character per string would not.
    if limits.text < 200:
        assert longest_reply(bounded(json_schema, Limits(limits.text + 1, limits.items))) > budget


def test_the_longest_reply_counts_what_the_grammar_writes():
    schema = bounded(
        {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "boolean"}}}, Limits(3, 1)
    )
    assert longest_reply(schema) == len('{"a": "xyz", "b": false}')


def test_a_budget_too_small_for_any_plan_is_refused_with_what_to_set():
    with pytest.raises(InputError, match="CHATEDIT_LLM_MAX_TOKENS"):
        limits_for(Plan.model_json_schema(), 16)


def test_random_weights_give_a_schema_valid_plan_through_the_plan_tool(max_models, coffee):
    chat = editor_chat_model(max_models)
    chat.text_limit, chat.items_limit = 12, 2
    reply = chat.bind_tools([Plan], tool_choice="Plan").invoke(_plan_messages(coffee, "remove the cup"))
    assert reply.response_metadata["finish_reason"] == "stop", reply
    [call] = reply.tool_calls
    assert call["name"] == "Plan"
    plan = Plan.model_validate(call["args"])
    assert len(plan.steps) <= 2
    assert reply.usage_metadata["output_tokens"] > 0


def test_random_weights_give_schema_valid_verdicts(modern_models):
    chat = editor_chat_model(modern_models)
    chat.text_limit, chat.items_limit = 6, 1
    messages = [SystemMessage(prompts.load("judge")), HumanMessage('Judge step 1: {"category": "global"}')]
    reply = chat.bind_tools([Verdicts], tool_choice="Verdicts").invoke(messages)
    [call] = reply.tool_calls
    verdicts = Verdicts.model_validate(call["args"]).verdicts
    assert len(verdicts) <= 1 and reply.response_metadata["finish_reason"] == "stop"


def test_with_the_budget_s_own_limits_random_weights_always_give_a_plan_that_parses(max_models, coffee):
    chat = editor_chat_model(max_models, max_new_tokens=256)
    reply = chat.bind_tools([Plan], tool_choice="Plan").invoke(_plan_messages(coffee, "remove the cup"))
    assert reply.usage_metadata["output_tokens"] <= 256
    assert reply.response_metadata["finish_reason"] == "stop" and reply.tool_calls, reply


def test_a_reply_that_runs_out_of_tokens_says_so():
    from chatedit.agent.llm_ask import Unusable, _tool_arguments
    from chatedit.agent.local_llm import _tool_call_message

    metadata = {"finish_reason": "length"}
    usage = {"input_tokens": 10, "output_tokens": 64, "total_tokens": 74}
    reply = _tool_call_message("Plan", '{"steps": [{"cat', usage, metadata, 64)
    with pytest.raises(Unusable, match="ran out of tokens \\(a budget of 64\\)") as caught:
        _tool_arguments(reply, "Plan")
    assert "not valid JSON" not in str(caught.value)


def test_a_budget_too_small_falls_back_with_what_to_set(max_models, coffee):
    chat = editor_chat_model(max_models, max_new_tokens=16)
    result = plan_with_llm(chat, coffee, "remove the cup", [])
    assert result.value is None and "CHATEDIT_LLM_MAX_TOKENS" in result.error


# ---- the editor's own encoder ------------------------------------------------------------------------


def test_the_editor_llm_is_the_pipelines_own_text_encoder(max_models, modern_models):
    for models in (max_models, modern_models):
        chat = editor_chat_model(models)
        pipe = models.global_editor
        assert chat.lm.model is pipe.text_encoder and chat.lm.tokenizer is pipe.tokenizer
        assert llm_extra_weight_bytes(models, chat) == 0
    assert editor_chat_model(max_models).sees_images and not editor_chat_model(modern_models).sees_images


def test_planning_leaves_the_prompt_embeddings_the_diffusion_model_gets_unchanged(modern_models, coffee):
    pipe = modern_models.global_editor
    before, _ = pipe.encode_prompt("make it winter", device=torch.device("cpu"), max_sequence_length=64)
    weights = {name: p.clone() for name, p in pipe.text_encoder.named_parameters()}
    config = pipe.text_encoder.config.to_dict()
    generation = pipe.text_encoder.generation_config.to_dict()
    chat = editor_chat_model(modern_models, max_new_tokens=24)
    plan_with_llm(chat, coffee, "remove the cup and make it sunset", ["earlier: make it brighter"])
    after, _ = pipe.encode_prompt("make it winter", device=torch.device("cpu"), max_sequence_length=64)
    assert torch.equal(before, after)
    assert all(torch.equal(p, weights[name]) for name, p in pipe.text_encoder.named_parameters())
    assert pipe.text_encoder.config.to_dict() == config
    assert pipe.text_encoder.generation_config.to_dict() == generation
    assert not pipe.text_encoder.training


def test_the_classic_family_has_no_encoder_to_plan_with(tmp_path):
    with pytest.raises(InputError, match="modern.*max"):
        Editor(models="tiny", llm="editor", data_dir=tmp_path)


def test_an_unknown_llm_choice_is_refused_with_the_choices(tmp_path):
    with pytest.raises(InputError, match="editor, local:MODEL, server"):
        Editor(models="tiny", llm="gpt-5", data_dir=tmp_path)


@pytest.mark.parametrize(
    "family, device, planner, server, given, expected",
    [
        ("modern", "cuda", "auto", False, None, "editor"),
        ("max", "cuda", "auto", False, None, "editor"),
        ("modern", "cpu", "auto", False, None, None),
        ("classic", "cuda", "auto", False, None, None),
        ("modern", "cpu", "llm", False, None, "editor"),
        ("modern", "cuda", "auto", True, None, "server"),
        ("modern", "cuda", "rules", True, "editor", None),
        ("classic", "cpu", "auto", False, "local:some/model", "local:some/model"),
    ],
)
def test_who_plans_by_default(family, device, planner, server, given, expected):
    language_model = LLMSettings(base_url="http://127.0.0.1:9/v1" if server else None, api_key=None)
    config = Settings(planner=planner, llm=given, language_model=language_model)
    models = SimpleNamespace(family=family, device=torch.device(device))
    assert llm_choice(config, models) == expected


# ---- whole turns -------------------------------------------------------------------------------------


def test_a_turn_planned_by_max_s_encoder_uses_its_plan(tmp_path, coffee, one_torch_thread):
    photo = coffee.resize((160, 120))
    editor = Editor(
        models="max:tiny", llm="editor", data_dir=tmp_path, toolbox=SeeingToolbox("max", {}), max_attempts=1
    )
    editor.llm.text_limit, editor.llm.items_limit = 12, 1
    try:
        turn = editor.session().send("remove the cup", image=photo)
    finally:
        editor.close()
    report = turn.report
    assert report["planner"] == "llm" and report["planner_mode"] == "local", report.get("planner_note")
    assert report["llm"] == {"source": "editor", "model": editor.llm.name, "sees_images": True}
    assert report["llm_tokens"] > 0 and report["timings_ms"]["plan"] > 0
    assert "Planner:" in llm_line(editor.llm) and "in-process" in llm_line(editor.llm)


def test_a_turn_whose_plan_runs_past_the_budget_completes_with_the_rules(tmp_path, coffee, monkeypatch):
    monkeypatch.setenv("CHATEDIT_LLM_MAX_TOKENS", "16")  # too small for any plan
    photo = coffee.resize((128, 96))
    editor = Editor(
        models="modern:tiny",
        llm="editor",
        data_dir=tmp_path,
        toolbox=SeeingToolbox("modern", {}),
        max_attempts=1,
    )
    try:
        turn = editor.session().send("make it winter", image=photo)
    finally:
        editor.close()
    report = turn.report
    assert report["planner"] == "rules" and "CHATEDIT_LLM_MAX_TOKENS" in report["planner_note"]
    assert report["llm"]["source"] == "editor" and not report["llm"]["sees_images"]
    assert [s["category"] for s in report["steps"]] == ["global"]
    # A text-only model cannot see the result: the model checks judged it.
    assert report["steps"][0]["attempts"][0]["judge"] == "model checks"
    assert not np.array_equal(np.asarray(turn.image), np.asarray(photo))


def test_a_turn_whose_generation_raises_completes_with_the_rules(tmp_path, coffee, monkeypatch):
    def broken(self, messages, schema, *scale):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(LocalChatModel, "_reply", broken)
    editor = Editor(
        models="max:tiny", llm="editor", data_dir=tmp_path, toolbox=SeeingToolbox("max", {}), max_attempts=1
    )
    try:
        turn = editor.session().send("remove the cup", image=coffee.resize((128, 96)))
    finally:
        editor.close()
    assert turn.report["planner"] == "rules"
    assert "illegal memory access" in turn.report["planner_note"]
    assert [s["category"] for s in turn.report["steps"]] == ["remove"]


# ---- a local model from a folder -------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_vlm(tmp_path_factory):
    """A tiny Qwen2.5-VL with the stock processor, saved as a model folder is on the hub."""
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2VLImageProcessor, Qwen2VLProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    from chatedit.tools.editor_models import QWEN_CHAT_TEMPLATE, tiny_qwen_vl_config

    folder = tmp_path_factory.mktemp("local-vlm")
    tokenizer = small_qwen_tokenizer()
    config = tiny_qwen_vl_config(tokenizer)
    torch.manual_seed(0)
    Qwen2_5_VLForConditionalGeneration(config).save_pretrained(folder)
    processor = Qwen2VLProcessor(
        Qwen2VLImageProcessor(), tokenizer, Qwen2VLVideoProcessor(), chat_template=QWEN_CHAT_TEMPLATE
    )
    processor.save_pretrained(folder)
    return folder


def test_a_local_vlm_from_a_folder_plans_a_whole_turn_and_loads_once(local_vlm, tmp_path, coffee):
    chosen = f"local:{local_vlm}"
    editor = Editor(models="max:tiny", llm=chosen, data_dir=tmp_path, toolbox=SeeingToolbox("max", {}), max_attempts=1)
    editor.llm.text_limit, editor.llm.items_limit = 10, 1
    try:
        turn = editor.session().send("remove the cup", image=coffee.resize((128, 96)))
    finally:
        editor.close()
    report = turn.report
    assert report["llm"]["source"] == chosen and report["llm"]["sees_images"]
    assert report["planner_mode"] == "local" and report["llm_tokens"] > 0
    again = local_chat_model(str(local_vlm), torch.device("cpu"), local_dtype(torch.device("cpu")))
    assert again.lm is editor.llm.lm  # one copy per process
    assert llm_extra_weight_bytes(editor.toolbox.models, editor.llm) > 0


def test_a_local_model_answers_side_requests_and_judges_before_and_after(local_vlm, coffee):
    chat = local_chat_model(str(local_vlm), torch.device("cpu"), torch.float32, max_new_tokens=12)
    answer = text_with_llm(chat, 'Generate a concise title. Answer as JSON {"title": ...}')
    assert answer.value and answer.tokens <= 24
    chat.max_new_tokens, chat.text_limit, chat.items_limit = 200, 6, 1
    plan = Plan.model_validate({"steps": [{"category": "global", "prompt": "winter", "instruction": "winter"}]})
    verdicts = judge_with_llm(chat, coffee, coffee.rotate(180), plan, [{"step": 1, "checks": {}}])
    assert verdicts.mode == "local" and verdicts.tokens > 0
    assert verdicts.value is not None or "unusable" in verdicts.error


# ---- seeing: the planner's box picks one of several ------------------------------------------------


class ThreeCups:
    """A finder that sees three cups, the likeliest on the right, and segments boxes as boxes."""

    settings = SimpleNamespace(ask_when_ambiguous=True)
    cups = [(10.0, 40.0, 50.0, 90.0), (80.0, 40.0, 120.0, 90.0), (150.0, 40.0, 190.0, 90.0)]

    def detect(self, image, phrases):
        scores = [0.5, 0.52, 0.55]
        return {p: [Detection(p, box, s) for box, s in zip(self.cups, scores, strict=True)] for p in phrases}

    def segment_box(self, image, box):
        mask = np.zeros((image.height, image.width), bool)
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        mask[y0:y1, x0:x1] = True
        return mask


@pytest.mark.parametrize("which", [0, 1, 2])
def test_the_planners_box_picks_the_one_it_points_at(which):
    image = Image.new("RGB", (200, 120))
    x0, y0, x1, y1 = ThreeCups.cups[which]
    pointed = [x0 - 4, y0 + 3, x1 + 2, y1 - 5]  # a VLM's box is near, not exact
    step = {"category": "remove", "target": "cup", "prompt": "table", "box": pointed}
    found = find_region(step, image, ThreeCups(), words="remove the cup")
    assert isinstance(found, Found) and found.box == list(ThreeCups.cups[which])
    # Without the box the three equally likely cups are a question for the user.
    step.pop("box")
    assert not isinstance(find_region(step, image, ThreeCups(), words="remove the cup"), Found)


def test_with_nothing_detected_where_the_planner_points_it_segments_the_box():
    image = Image.new("RGB", (200, 120))
    step = {"category": "remove", "target": "cup", "prompt": "table", "box": [60, 5, 100, 30]}
    found = find_region(step, image, ThreeCups(), words="remove the cup")
    assert isinstance(found, Found) and found.box == [60, 5, 100, 30]
    assert found.mask[10:25, 65:95].all() and not found.mask[60:, :].any()


def test_the_plan_prompt_asks_for_the_box_of_the_one_meant():
    prompt = prompts.load("plan")
    assert "singles out one of several" in prompt
    schema = json.dumps(Plan.model_json_schema())
    assert "singles out one of several" in schema


# ---- the CLI -------------------------------------------------------------------------------------------


def test_the_cli_says_who_plans_and_refuses_classic_s_encoder(tmp_path, coffee, monkeypatch):
    from typer.testing import CliRunner

    from chatedit.agent.cli import app

    monkeypatch.setenv("CHATEDIT_DATA_DIR", str(tmp_path / "data"))
    source = tmp_path / "in.png"
    coffee.resize((128, 96)).save(source)
    args = ["edit", str(source), "make it winter", "-o", str(tmp_path / "out.png"), "--device", "cpu"]
    refused = CliRunner().invoke(app, [*args, "--models", "tiny", "--llm", "editor"])
    assert refused.exit_code == 2 and "CLIP encoder cannot write text" in refused.stderr
    monkeypatch.setenv("CHATEDIT_LLM_MAX_TOKENS", "200")
    result = CliRunner().invoke(
        app, [*args, "--models", "modern", "--weights", "tiny", "--llm", "editor", "--max-attempts", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Planner:")]
    assert lines == [
        "Planner: black-forest-labs/FLUX.2-klein-4B text encoder (tiny Qwen3), in-process (editor, text only)"
    ]
    report = json.loads(result.stdout)
    assert report["llm"]["source"] == "editor" and report["llm_tokens"] > 0


def test_plan_prints_a_local_model_s_plan(local_vlm, tmp_path, coffee):
    from typer.testing import CliRunner

    from chatedit.agent.cli import app

    picture = tmp_path / "in.png"
    coffee.resize((128, 96)).save(picture)
    result = CliRunner().invoke(
        app, ["plan", "remove the cup", "--planner", "llm", "--llm", f"local:{local_vlm}", "--image", str(picture)]
    )
    # Random weights: the model's plan, or the rules' with the reason; never a crash.
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    Plan.model_validate(row)
    assert row["planner_mode"] == "local" and row["llm_tokens"] > 0 and row["seconds"] > 0
    assert row["planner"] == "llm" or "LLM planner failed" in row["planner_note"]


def test_a_local_model_that_cannot_be_had_stops_the_start_with_the_models_error(tmp_path, monkeypatch):
    from chatedit.tools.errors import ModelUnavailableError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError, match="'someone/absent-vlm'.*chatedit models download"):
        Editor(models="tiny", llm="local:someone/absent-vlm", data_dir=tmp_path)
