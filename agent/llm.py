"""The vision LLM that plans a turn, judges its result and answers questions about the image.

Any OpenAI-compatible chat model with vision works (OpenAI, vLLM, Ollama). Plans and verdicts come
back through a tool call; a model that answers it cannot call tools (Ollama's HTTP 400 "MODEL does
not support tools") is asked for the same JSON in its reply instead, validated against the same
schema, and remembered, so later calls go straight to JSON. Each function below is ONE logical call.
Transport failures (timeout, refused connection, HTTP 429 and 5xx) are retried with bounded
exponential backoff (tenacity); an answer that cannot be used (malformed arguments, a refusal, a
plan that fails validation) gets one more try, told what was wrong. When that fails too, the result
holds no value and says why, and the caller falls back (rules planner, model checks). Every HTTP
request is counted, retries included.

The model only ever receives pixels and text: images go as JPEG data URLs, and file paths are
blanked out of the history and evidence it is shown.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from PIL import Image
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic.dataclasses import dataclass as schema_dataclass
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from chatedit import prompts
from chatedit.agent.config import BACKOFF, RETRIES, LLMSettings
from chatedit.agent.plan import CATEGORIES, Plan
from chatedit.tools.errors import InputError

logger = logging.getLogger(__name__)

MAX_BACKOFF = 8.0
"""Longest wait between two retries, in seconds."""

IMAGE_SIDE = 768
"""Largest side, in pixels, of an image sent to the LLM."""

HISTORY_LINES = 8
"""How many of the latest history lines the LLM sees."""

# A path on disk: /a/b, ~/a/b, C:\a\b, file:///a/b; not a/b in prose, nor a web URL.
_PATH = re.compile(r"(?<![\w.~:/\\])(?:file://)?(?:~|[A-Za-z]:)?[/\\][^\s\"'<>|()\[\]{},;]*[/\\][^\s\"'<>|()\[\]{},;]*")


class ChatModel(ChatOpenAI):
    """ChatOpenAI that carries chatedit's retry policy.

    The OpenAI client underneath never retries on its own: the functions of this module do, with
    bounded backoff, so that every request is counted in the turn report.
    """

    retries: int = RETRIES
    """Retries of a request after a transport failure."""
    backoff: float = BACKOFF
    """Seconds before the first retry; doubles with each retry, up to MAX_BACKOFF."""


def configured_chat_model(settings: Optional[LLMSettings] = None) -> Optional[ChatModel]:
    """Gives back the chat model the settings (default: CHATEDIT_LLM_*, else OPENAI_*) configure, or None."""
    settings = settings or LLMSettings()
    return make_chat_model(settings) if settings.configured else None


def make_chat_model(settings: LLMSettings) -> ChatModel:
    """Gives back a deterministic chat model client for `settings` (a ChatOpenAI).

    Raises:
        InputError: no LLM is configured.
    """
    if not settings.configured:
        raise InputError(
            "No LLM is configured: set CHATEDIT_LLM_BASE_URL and/or CHATEDIT_LLM_API_KEY "
            "(or OPENAI_API_KEY), or use the rules planner."
        )
    return ChatModel(
        model=settings.model,
        base_url=settings.base_url,
        # Local servers (vLLM, Ollama) ignore the key, but the OpenAI client refuses to start without one.
        api_key=settings.api_key or SecretStr("none"),
        temperature=0,
        timeout=settings.timeout,
        max_retries=0,
        # Chat Completions is what every OpenAI-compatible server speaks.
        use_responses_api=False,
        retries=settings.retries,
        backoff=settings.backoff,
    )


def image_part(image: Image.Image, max_side: int = IMAGE_SIDE) -> dict:
    """Gives back an OpenAI `image_url` content part holding `image` as a JPEG data URL.

    Args:
        image: the picture; never upscaled.
        max_side: largest side in pixels of the picture sent.
    """
    size = _shown_size(image.size, max_side)
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": url}}


@dataclass
class LLMResult:
    """What one logical LLM call gave back, and what it cost."""

    value: Any
    """The Plan, the list of Verdicts or the answer text; None when the call failed."""
    calls: int
    """HTTP requests made, retries included."""
    error: Optional[str] = None
    """Why the call failed (for the turn report); None when it succeeded."""
    mode: Optional[str] = None
    """How a Plan or Verdicts were asked for: "tools" (a tool call), "json" (JSON in the reply) or "local"
    (an in-process model, its decoding constrained to the schema)."""
    tools_refused: bool = False
    """The server answered that the model cannot call tools."""
    tokens: int = 0
    """Tokens the model generated, retries included (0 when the server does not say)."""


_JSON_MODELS: set[tuple[str, str]] = set()
"""(base URL, model) of the models that cannot call tools: they are asked for JSON in the reply."""

_NO_TOOLS = re.compile(r"does not support tools|tools? (?:are|is) not supported|not support(?:ed)? tool", re.I)


@schema_dataclass
class Verdict:
    """The judgement of one step of the plan."""

    step: int = Field(description="The step's number in the plan, from 1.")
    passed: bool = Field(description="True when the after image carries out the step well.")
    reason: str = Field(description="One sentence: what you see that makes the step pass or fail.")
    new_prompt: Optional[str] = Field(
        default=None,
        description="When failing: a better prompt for the generator for the next attempt, with the same "
        "meaning as the step's prompt field. Null when passing.",
    )

    @field_validator("new_prompt", mode="before")
    @classmethod
    def _blank_is_none(cls, value):
        if isinstance(value, str) and not value.strip():
            return None
        return value


class Verdicts(BaseModel):
    """Pass or fail for each judged step of the plan, with reasons."""

    verdicts: list[Verdict] = Field(description="One verdict per judged step.")


def plan_with_llm(
    llm: BaseChatModel,
    image: Image.Image,
    instruction: str,
    history: list[str],
    *,
    image_size: Optional[tuple[int, int]] = None,
) -> LLMResult:
    """Gives back the Plan for `instruction` on `image`, made by the LLM through the `Plan` tool.

    Boxes in the plan come back in pixels of an image of `image_size`, clamped to it; a box with
    nothing inside the image is dropped. A plan with an unknown category, a step without its target,
    or neither steps nor message is not usable and is asked for again once.

    Args:
        llm: the chat model (from `make_chat_model`; any LangChain chat model with tools works).
        image: the current picture.
        instruction: what the user asked this turn.
        history: earlier turns as short lines, oldest first (earlier instructions, what was edited where).
        image_size: (width, height) the plan's boxes refer to; None: `image.size`.
    """
    image_size = image_size or image.size
    shown = _shown_size(image.size, IMAGE_SIDE)
    text = (
        _history_text(history)
        + f"The image is {shown[0]}x{shown[1]} pixels (x to the right, y down, from the top-left corner).\n"
        + f"Instruction: {instruction}"
    )
    messages = [
        SystemMessage(prompts.load("plan")),
        HumanMessage([{"type": "text", "text": text}, image_part(image)]),
    ]
    return _ask_for(llm, messages, Plan, lambda args: _plan_from(args, shown, image_size))


def judge_with_llm(
    llm: BaseChatModel,
    before: Image.Image,
    after: Image.Image,
    plan: Plan,
    evidence: list[dict],
) -> LLMResult:
    """Gives back a Verdict for each judged step, sorted by step, from one look at before and after.

    Args:
        llm: the chat model.
        before: the picture before this turn's edits.
        after: the picture with the edits of this attempt.
        plan: the turn's plan.
        evidence: one dict per step to judge, holding the model checks' findings; its "step" key
            (1-based) says which step, else the position in the list does. Only these steps get
            verdicts; a verdict the LLM gives for another step is ignored.
    """
    checks: dict[int, dict] = {}
    for number, item in enumerate(evidence, 1):
        item = dict(item)
        checks.setdefault(int(item.pop("step", number)), {}).update(item)
    steps = sorted(number for number in checks if 0 < number <= len(plan.steps))
    if not steps:
        return LLMResult([], 0)
    shown = [
        {"step": number, **plan.steps[number - 1].model_dump(exclude_none=True), "checks": checks[number]}
        for number in steps
    ]
    text = (
        f"The plan has {len(plan.steps)} step(s); boxes are in pixels of the full image "
        f"({before.width}x{before.height}). Judge these steps:\n"
        + json.dumps(_without_paths(shown), indent=1, default=_plain)
    )
    content = [
        {"type": "text", "text": text},
        {"type": "text", "text": "Before:"},
        image_part(before),
        {"type": "text", "text": "After:"},
        image_part(after),
    ]
    messages = [SystemMessage(prompts.load("judge")), HumanMessage(content)]
    return _ask_for(llm, messages, Verdicts, lambda args: _verdicts_from(args, steps))


def answer_with_llm(llm: BaseChatModel, image: Image.Image, question: str, history: list[str]) -> LLMResult:
    """Gives back the LLM's answer (text) to a question about `image`.

    Args:
        llm: the chat model.
        image: the current picture.
        question: what the user asked.
        history: earlier turns as short lines, oldest first.
    """
    text = _history_text(history) + f"Question: {question}"
    messages = [
        SystemMessage(prompts.load("answer")),
        HumanMessage([{"type": "text", "text": text}, image_part(image)]),
    ]

    def parse(reply: AIMessage) -> str:
        answer = reply.text.strip()
        if not answer:
            raise _Unusable("the reply was empty.")
        return answer

    return _ask(llm, llm, messages, parse)


def text_with_llm(llm: BaseChatModel, prompt: str) -> LLMResult:
    """Gives back the LLM's plain-text reply to `prompt` (a frontend's title or tags request, say)."""

    def parse(reply: AIMessage) -> str:
        text = reply.text.strip()
        if not text:
            raise _Unusable("the reply was empty.")
        return text

    return _ask(llm, llm, [HumanMessage(prompt)], parse)


class _Unusable(ValueError):
    """The model answered, but with nothing usable; the message says why, for the model and the report."""


def _model_key(llm: BaseChatModel) -> tuple[str, str]:
    """Gives back what names a model for remembering its abilities: its server and its name."""
    server = getattr(llm, "openai_api_base", None) or ""
    return str(server), str(getattr(llm, "model_name", None) or getattr(llm, "model", "") or type(llm).__name__)


def _ask_for(
    llm: BaseChatModel, messages: list[BaseMessage], schema: type[BaseModel], parse_args: Callable[[dict], Any]
) -> LLMResult:
    """Gives back the parsed `schema` object the model gives: by a tool call, else as JSON in its reply.

    A model whose server answers that it cannot call tools is remembered (per server and model name)
    and asked for the JSON straight away from then on; the result's `mode` says which way was used.
    """
    name = schema.__name__
    key = _model_key(llm)
    calls = tokens = 0
    if getattr(llm, "constrained", False):
        # An in-process model: the tool's JSON schema constrains its decoding, so the reply always parses.
        chat = llm.bind_tools([schema], tool_choice=name)
        result = _ask(llm, chat, messages, lambda reply: parse_args(_tool_arguments(reply, name)))
        result.mode = "local"
        return result
    if key not in _JSON_MODELS:
        chat = llm.bind_tools([schema], tool_choice=name)
        how = f"by calling the {name} tool"
        result = _ask(llm, chat, messages, lambda reply: parse_args(_tool_arguments(reply, name)), how)
        if not result.tools_refused:
            result.mode = "tools"
            return result
        logger.warning("The LLM %s cannot call tools; asking it for JSON instead.", key[1])
        _JSON_MODELS.add(key)
        calls, tokens = result.calls, result.tokens
    json_schema = schema.model_json_schema()
    chat = llm.bind(response_format={"type": "json_schema", "json_schema": {"name": name, "schema": json_schema}})
    asked = [*messages, HumanMessage(prompts.load("json_reply").format(name=name, schema=json.dumps(json_schema)))]
    how = f"with the {name} JSON object only"
    result = _ask(llm, chat, asked, lambda reply: parse_args(_json_arguments(reply, name)), how)
    result.calls += calls
    result.tokens += tokens
    result.mode = "json"
    return result


def _ask(
    llm: BaseChatModel,
    chat,
    messages: list[BaseMessage],
    parse: Callable[[AIMessage], Any],
    answer_as: str = "",
) -> LLMResult:
    """Gives back the parsed answer of `chat` to `messages`: one call, plus retries, all counted.

    `answer_as` says how to answer when the model is asked again ("by calling the Plan tool").
    """
    # Chat models not made by make_chat_model get the default policy.
    retries = getattr(llm, "retries", RETRIES)
    backoff = getattr(llm, "backoff", BACKOFF)
    calls = 0
    problem = ""
    # The answer, and one more try, told what was wrong, when the answer is unusable.
    tokens = 0
    for _ in range(2):
        reply, made = _send(chat, messages, retries, backoff)
        calls += made
        if isinstance(reply, AIMessage) and reply.usage_metadata:
            tokens += reply.usage_metadata.get("output_tokens", 0)
        if isinstance(reply, openai.APIError):
            refused = isinstance(reply, openai.BadRequestError) and bool(_NO_TOOLS.search(_describe(reply)))
            return LLMResult(
                None, calls, f"{_describe(reply)} (after {calls} request(s))", tools_refused=refused, tokens=tokens
            )
        try:
            if isinstance(reply, Exception):
                raise _Unusable(f"the reply could not be read ({type(reply).__name__}: {_clip(str(reply))}).")
            return LLMResult(parse(reply), calls, tokens=tokens)
        except _Unusable as exc:
            problem = str(exc)
            logger.warning("LLM answer unusable: %s", problem)
        again = " ".join(filter(None, (f"Your previous reply could not be used: {problem} Answer again", answer_as)))
        messages = [*messages, HumanMessage(again + ".")]
    return LLMResult(None, calls, f"the LLM's answer was unusable twice: {problem}", tokens=tokens)


def _send(chat, messages: list[BaseMessage], retries: int, backoff: float) -> tuple[Any, int]:
    """Gives back the reply to `messages`, or the exception that ended the tries, and the requests made.

    Transient failures are tried again up to `retries` times, `backoff` seconds before the first
    retry, doubling each time up to MAX_BACKOFF.
    """
    calls = 0

    def request():
        nonlocal calls
        calls += 1
        return chat.invoke(messages)

    attempts = Retrying(
        stop=stop_after_attempt(retries + 1),
        wait=wait_exponential(multiplier=backoff, max=MAX_BACKOFF),
        retry=retry_if_exception(_transient),
        before_sleep=_log_retry,
        reraise=True,
    )
    try:
        return attempts(request), calls
    # The client could not even turn the reply into a message (tool arguments that are JSON but not
    # an object, a body of the wrong shape): a malformed answer, not a crash.
    except Exception as exc:
        return exc, calls


def _log_retry(state: RetryCallState) -> None:
    wait = state.next_action.sleep if state.next_action else 0.0
    logger.warning("LLM request failed (%s); retrying in %.2f s", _describe(state.outcome.exception()), wait)


def _transient(exc: Exception) -> bool:
    """True for failures a later request may not meet: timeouts, lost connections, 408/409/429, 5xx."""
    if isinstance(exc, openai.APIConnectionError):
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code in (408, 409, 429) or exc.status_code >= 500)


def _describe(exc: Exception) -> str:
    """Gives back a short sentence fragment saying why a request failed."""
    if isinstance(exc, openai.APITimeoutError):
        return "the LLM request timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return f"could not reach the LLM server ({_clip(str(cause) or type(cause).__name__)})"
    if isinstance(exc, openai.APIStatusError):
        # The client unwraps OpenAI's {"error": {"message": ...}}; other servers nest it differently.
        body = exc.body if isinstance(exc.body, dict) else {}
        nested = body.get("error")
        if isinstance(nested, dict):
            nested = nested.get("message")
        message = body.get("message") or nested or exc.message
        return f"the LLM server answered HTTP {exc.status_code}: {_clip(str(message))}"
    return f"the LLM server's answer could not be read ({_clip(str(exc))})"


def _tool_arguments(reply: AIMessage, tool: str) -> dict:
    """Gives back the arguments of the reply's call to `tool`, or raises _Unusable saying what came instead."""
    for call in reply.tool_calls:
        if call["name"] == tool:
            return call["args"]
    for call in reply.invalid_tool_calls:
        if call.get("name") == tool:
            sent = _clip(call.get("args") or "")
            raise _Unusable(f"the arguments of the {tool} call are not valid JSON: {sent!r}.")
    if reply.tool_calls or reply.invalid_tool_calls:
        names = ", ".join(sorted({str(c.get("name")) for c in [*reply.tool_calls, *reply.invalid_tool_calls]}))
        raise _Unusable(f"the reply called {names} instead of the {tool} tool.")
    said = reply.additional_kwargs.get("refusal") or reply.text
    raise _Unusable(f"the reply was text instead of a call to the {tool} tool: {_clip(said)!r}.")


def _json_arguments(reply: AIMessage, name: str) -> dict:
    """Gives back the JSON object a reply holds (bare or in a code fence), or raises _Unusable."""
    said = reply.additional_kwargs.get("refusal") or reply.text
    start, end = said.find("{"), said.rfind("}")
    try:
        value = json.loads(said[start : end + 1]) if 0 <= start < end else None
    except json.JSONDecodeError as exc:
        raise _Unusable(f"the reply is not valid JSON ({exc.msg}): {_clip(said)!r}.") from None
    if not isinstance(value, dict):
        raise _Unusable(f"the reply holds no JSON object for {name}: {_clip(said)!r}.")
    return value


def _plan_from(args: dict, shown: tuple[int, int], image_size: tuple[int, int]) -> Plan:
    """Gives back the validated Plan in `args`, boxes mapped to `image_size`, or raises _Unusable."""
    args = dict(args)
    steps = args.get("steps") or []
    if not isinstance(steps, list):
        raise _Unusable("steps must be a list of step objects.")
    args["steps"] = [dict(step) if isinstance(step, dict) else step for step in steps]
    for number, step in enumerate(args["steps"], 1):
        if isinstance(step, dict) and isinstance(step.get("category"), str):
            step["category"] = step["category"].strip().lower()
            if step["category"] not in CATEGORIES:
                raise _Unusable(
                    f"step {number} has the unknown category {step['category']!r}; use one of {', '.join(CATEGORIES)}."
                )
    try:
        plan = Plan.model_validate(args)
    except ValidationError as exc:
        raise _Unusable(f"the plan does not follow the tool's schema ({_errors(exc)}).") from None
    if not plan.steps and not (plan.message and plan.message.strip()):
        raise _Unusable(
            "the plan has neither steps nor a message; give the edit steps, or a message that answers or asks."
        )
    for number, step in enumerate(plan.steps, 1):
        if step.category in ("remove", "replace", "local", "move") and not step.target:
            raise _Unusable(f"step {number} ({step.category}) has no target; name the object to find.")
        if step.box is not None:
            step.box = _fit_box(step.box, shown, image_size)
    return plan


def _fit_box(box: list[float], shown: tuple[int, int], image_size: tuple[int, int]) -> Optional[list[float]]:
    """Gives back `box` in pixels of `image_size`, clamped to the image; None when nothing of it is inside.

    The model gives pixels of the picture it was shown (`shown`), or 0-1 fractions, which the Step
    schema also allows.
    """
    if not all(math.isfinite(v) for v in box):
        return None
    width, height = image_size
    scale_x: float
    scale_y: float
    if all(0 <= v <= 1 for v in box):
        scale_x, scale_y = width, height
    else:
        scale_x, scale_y = width / shown[0], height / shown[1]
    x0, x1 = sorted((box[0] * scale_x, box[2] * scale_x))
    y0, y1 = sorted((box[1] * scale_y, box[3] * scale_y))
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return [math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)]


def _verdicts_from(args: dict, steps: list[int]) -> list[Verdict]:
    """Gives back one Verdict per step in `steps`, sorted, or raises _Unusable."""
    try:
        verdicts = Verdicts.model_validate(args).verdicts
    except ValidationError as exc:
        raise _Unusable(f"the verdicts do not follow the tool's schema ({_errors(exc)}).") from None
    kept = {v.step: v for v in verdicts if v.step in steps}
    missing = [step for step in steps if step not in kept]
    if missing:
        listed = ", ".join(map(str, missing))
        raise _Unusable(f"there is no verdict for step(s) {listed}; give one verdict per judged step.")
    return [kept[step] for step in steps]


def _shown_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """Gives back `size` shrunk, keeping its aspect, so that its larger side is at most `max_side`."""
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _history_text(history: list[str]) -> str:
    """Gives back the latest history lines as text for the model, file paths blanked out."""
    lines = [_clip(_without_paths(line), 300) for line in history[-HISTORY_LINES:]]
    if not lines:
        return ""
    return "Earlier in this conversation (oldest first):\n" + "".join(f"- {line}\n" for line in lines)


def _without_paths(value):
    """Gives back `value` (text, or lists and dicts of it) with file paths replaced by "[file]"."""
    if isinstance(value, str):
        return _PATH.sub("[file]", value)
    if isinstance(value, dict):
        return {key: _without_paths(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_without_paths(item) for item in value]
    return value


def _plain(value):
    """Gives back a JSON-ready stand-in for numpy numbers and arrays, else the text of `value`."""
    for method in ("item", "tolist"):
        if hasattr(value, method):
            return getattr(value, method)()
    return str(value)


def _errors(exc: ValidationError) -> str:
    """Gives back pydantic's errors as one short line: where, and what is wrong."""
    parts = [".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors()[:3]]
    return "; ".join(parts)


def _clip(text: str, limit: int = 200) -> str:
    """Gives back `text` cut to `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
