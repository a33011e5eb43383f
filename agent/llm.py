"""The vision LLM that plans a turn, judges its result and answers questions about the image.

Any OpenAI-compatible chat model with vision works (OpenAI, vLLM, Ollama), and so does an in-process
one (agent/local_llm.py). Each function below is ONE logical call; how it is asked, retried and
counted is agent/llm_ask.py, and what a usable plan or verdict is, agent/llm_replies.py. When a call
fails, the result holds no value and says why, and the caller falls back (rules planner, model checks).

The model only ever receives pixels and text: images go as JPEG data URLs, and file paths are
blanked out of the history and evidence it is shown.
"""

from __future__ import annotations

import base64
import io
import json
import re
from typing import Optional

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from PIL import Image
from pydantic import SecretStr

from chatedit import prompts
from chatedit.agent.config import BACKOFF, RETRIES, LLMSettings
from chatedit.agent.llm_ask import LLMResult, Unusable, ask, ask_for, clip
from chatedit.agent.llm_replies import Verdict, Verdicts, plan_from, verdicts_from
from chatedit.agent.plan import Plan
from chatedit.tools.errors import InputError

__all__ = [
    "LLMResult",
    "LLMSettings",
    "Verdict",
    "Verdicts",
    "answer_with_llm",
    "configured_chat_model",
    "image_part",
    "judge_with_llm",
    "make_chat_model",
    "plan_with_llm",
    "text_with_llm",
]

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


def plan_with_llm(
    llm: BaseChatModel,
    image: Optional[Image.Image],
    instruction: str,
    history: list[str],
    *,
    image_size: Optional[tuple[int, int]] = None,
) -> LLMResult:
    """Gives back the Plan for `instruction` on `image`, made by the LLM through the `Plan` tool.

    Boxes in the plan come back in pixels of an image of `image_size`, clamped to it; a box with
    nothing inside the image is dropped. A plan that is not usable (agent/llm_replies.py) is asked
    for again once. An in-process model gets the short prompt (`plan_local`): the grammar holds its
    reply to the schema, and a small model follows a short prompt with examples better.

    Args:
        llm: the chat model (from `make_chat_model`; any LangChain chat model with tools works).
        image: the current picture; None for a model that plans from the words alone (no boxes).
        instruction: what the user asked this turn.
        history: earlier turns as short lines, oldest first (earlier instructions, what was edited where).
        image_size: (width, height) the plan's boxes refer to; None: `image.size`.
    """
    if image is None:
        text = _history_text(history) + f"Instruction: {instruction}"
        return ask_for(llm, _plan_messages(llm, text), Plan, lambda args: plan_from(args, None, None))
    size = image_size or image.size
    shown = _shown_size(image.size, IMAGE_SIDE)
    text = (
        _history_text(history)
        + f"The image is {shown[0]}x{shown[1]} pixels (x to the right, y down, from the top-left corner).\n"
        + f"Instruction: {instruction}"
    )
    messages = _plan_messages(llm, [{"type": "text", "text": text}, image_part(image)])
    return ask_for(llm, messages, Plan, lambda args: plan_from(args, shown, size))


def _plan_messages(llm: BaseChatModel, content) -> list:
    """Gives back the messages that ask for a plan: the long prompt, or for an in-process model the short one and examples.

    The examples (prompts/plan_examples.txt: an instruction, then its plan as JSON) are written into
    the short prompt: on SmolLM2-135M that was fully right more often than the same examples given as
    earlier turns of the chat, or the long prompt with the schema (BENCHMARKS.md).
    """
    if not getattr(llm, "constrained", False):
        return [SystemMessage(prompts.load("plan")), HumanMessage(content)]
    examples = prompts.load("plan_examples").strip().replace("\n{", "\n-> {")
    prompt = prompts.load("plan_local") + "\nExamples (instruction -> plan):\n" + examples
    return [SystemMessage(prompt), HumanMessage(content)]


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
    return ask_for(llm, messages, Verdicts, lambda args: verdicts_from(args, steps))


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
            raise Unusable("the reply was empty.")
        return answer

    return ask(llm, (llm, llm), messages, parse)


def text_with_llm(llm: BaseChatModel, prompt: str) -> LLMResult:
    """Gives back the LLM's plain-text reply to `prompt` (a frontend's title or tags request, say)."""

    def parse(reply: AIMessage) -> str:
        text = reply.text.strip()
        if not text:
            raise Unusable("the reply was empty.")
        return text

    return ask(llm, (llm, llm), [HumanMessage(prompt)], parse)


def _shown_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """Gives back `size` shrunk, keeping its aspect, so that its larger side is at most `max_side`."""
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _history_text(history: list[str]) -> str:
    """Gives back the latest history lines as text for the model, file paths blanked out."""
    lines = [clip(_without_paths(line), 300) for line in history[-HISTORY_LINES:]]
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
