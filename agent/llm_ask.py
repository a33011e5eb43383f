"""Asking a chat model for one thing: one call, retries on transport failures, one more try on an unusable answer.

Plans and verdicts come back through a tool call; a model that answers it cannot call tools (Ollama's
HTTP 400 "MODEL does not support tools") is asked for the same JSON in its reply instead, and
remembered, so later calls go straight to JSON. An in-process model is asked by its tool directly: a
grammar keeps its decoding to the schema. Transport failures (timeout, refused connection, HTTP 429
and 5xx) are retried with bounded exponential backoff (tenacity); an answer that cannot be used gets
one more try, told what was wrong (never shown its own reply again: a model copies it back), and an
in-process model's second try gets shorter strings, since greedy decoding would repeat itself.
Every request is counted, retries included.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from chatedit import prompts
from chatedit.agent.config import BACKOFF, RETRIES

logger = logging.getLogger(__name__)

MAX_BACKOFF = 8.0
"""Longest wait between two retries, in seconds."""

RETRY_TEXT_SCALE = 0.5
"""An in-process model's second try: its strings may be this share of the first try's length."""


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


class Unusable(ValueError):
    """The model answered, but with nothing usable: the message says why, for the model and the report.

    Args:
        problem: what was wrong, as a sentence the model is told on its second try.
        said: what the reply held, for the report only.
    """

    def __init__(self, problem: str, said: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.said = said

    def __str__(self) -> str:
        return f"{self.problem} The reply: {clip(self.said)!r}." if self.said else self.problem


def _model_key(llm: BaseChatModel) -> tuple[str, str]:
    """Gives back what names a model for remembering its abilities: its server and its name."""
    server = getattr(llm, "openai_api_base", None) or ""
    return str(server), str(getattr(llm, "model_name", None) or getattr(llm, "model", "") or type(llm).__name__)


def ask_for(
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
        # Greedy decoding gives the same reply to the same words: the second try has shorter strings.
        chats = (
            llm.bind_tools([schema], tool_choice=name),
            llm.bind_tools([schema], tool_choice=name, text_scale=RETRY_TEXT_SCALE),
        )
        result = ask(llm, chats, messages, lambda reply: parse_args(_tool_arguments(reply, name)))
        result.mode = "local"
        return result
    if key not in _JSON_MODELS:
        chat = llm.bind_tools([schema], tool_choice=name)
        how = f"by calling the {name} tool"
        result = ask(llm, (chat, chat), messages, lambda reply: parse_args(_tool_arguments(reply, name)), how)
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
    result = ask(llm, (chat, chat), asked, lambda reply: parse_args(_json_arguments(reply, name)), how)
    result.calls += calls
    result.tokens += tokens
    result.mode = "json"
    return result


def ask(
    llm: BaseChatModel,
    chats: tuple[Any, Any],
    messages: list[BaseMessage],
    parse: Callable[[AIMessage], Any],
    answer_as: str = "",
) -> LLMResult:
    """Gives back the parsed answer to `messages`: one call, plus retries, all counted.

    `chats` are the runnables of the first try and of the one more try an unusable answer gets;
    `answer_as` says how to answer when the model is asked again ("by calling the Plan tool").
    """
    # Chat models not made by make_chat_model get the default policy.
    retries = getattr(llm, "retries", RETRIES)
    backoff = getattr(llm, "backoff", BACKOFF)
    calls = 0
    problem = told = ""
    # The answer, and one more try, told what was wrong, when the answer is unusable.
    tokens = 0
    for chat in chats:
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
                raise Unusable(f"the reply could not be read ({type(reply).__name__}: {clip(str(reply))}).")
            return LLMResult(parse(reply), calls, tokens=tokens)
        except Unusable as exc:
            problem = str(exc)
            logger.warning("LLM answer unusable: %s", problem)
            # Told what was wrong, not shown its reply: a model shown its reply copies it back.
            told = exc.problem
        again = " ".join(filter(None, (f"Your previous reply could not be used: {told} Answer again", answer_as)))
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
        return f"could not reach the LLM server ({clip(str(cause) or type(cause).__name__)})"
    if isinstance(exc, openai.APIStatusError):
        # The client unwraps OpenAI's {"error": {"message": ...}}; other servers nest it differently.
        body = exc.body if isinstance(exc.body, dict) else {}
        nested = body.get("error")
        if isinstance(nested, dict):
            nested = nested.get("message")
        message = body.get("message") or nested or exc.message
        return f"the LLM server answered HTTP {exc.status_code}: {clip(str(message))}"
    return f"the LLM server's answer could not be read ({clip(str(exc))})"


def _tool_arguments(reply: AIMessage, tool: str) -> dict:
    """Gives back the arguments of the reply's call to `tool`, or raises Unusable saying what came instead."""
    for call in reply.tool_calls:
        if call["name"] == tool:
            return call["args"]
    for call in reply.invalid_tool_calls:
        if call.get("name") == tool:
            said = call.get("args") or ""
            if reply.response_metadata.get("finish_reason") == "length":
                raise Unusable(f"the {tool} call {call.get('error') or 'ran out of tokens'}.", said)
            raise Unusable(f"the arguments of the {tool} call are not valid JSON.", said)
    if reply.tool_calls or reply.invalid_tool_calls:
        names = ", ".join(sorted({str(c.get("name")) for c in [*reply.tool_calls, *reply.invalid_tool_calls]}))
        raise Unusable(f"the reply called {names} instead of the {tool} tool.")
    said = reply.additional_kwargs.get("refusal") or reply.text
    raise Unusable(f"the reply was text instead of a call to the {tool} tool.", said)


def _json_arguments(reply: AIMessage, name: str) -> dict:
    """Gives back the JSON object a reply holds (bare or in a code fence), or raises Unusable."""
    said = reply.additional_kwargs.get("refusal") or reply.text
    start, end = said.find("{"), said.rfind("}")
    try:
        value = json.loads(said[start : end + 1]) if 0 <= start < end else None
    except json.JSONDecodeError as exc:
        raise Unusable(f"the reply is not valid JSON ({exc.msg}).", said) from None
    if not isinstance(value, dict):
        raise Unusable(f"the reply holds no JSON object for {name}.", said)
    return value


def clip(text: str, limit: int = 200) -> str:
    """Gives back `text` cut to `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
