"""The in-process brain: a transformers chat LLM or VLM as a LangChain chat model, no server needed.

`LocalChatModel` plans, judges and answers through the same functions as a server model
(agent/llm.py): it is a LangChain `BaseChatModel` whose `bind_tools` and `response_format` are kept
by constrained decoding. When a JSON schema is asked for (the `Plan` or `Verdicts` tool), xgrammar's
logits processor lets through only the tokens that keep the reply valid for that schema, so the reply
always parses; the same pydantic types then validate it. Decoding is greedy, with the KV cache, up to
a token budget. The model's own chat template renders the messages.

Where the model comes from (`--llm editor`, `--llm local:MODEL`) is agent/local_models.py; the grammar's
bounds, derived from the token budget so that every reply ends and parses, are agent/grammar.py.

Generation never changes the module: no weight, config or generation setting is written, so the
prompt embeddings the diffusion model gets are the same before and after a plan.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Sequence

import torch
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from PIL import Image
from pydantic import ConfigDict, PrivateAttr

from chatedit import prompts
from chatedit.agent.grammar import Limits, bounded, limits_for
from chatedit.tools.errors import InputError

logger = logging.getLogger(__name__)

MAX_NEW_TOKENS = 1024
"""Default token budget of one reply: a five-step plan takes about 400 tokens."""
EDITOR_SOURCE = "editor"
LOCAL_PREFIX = "local:"


@dataclass(eq=False)
class LoadedLM:
    """A causal LM or VLM with what turns messages into its inputs."""

    model: Any
    """The transformers module (`generate` and `get_output_embeddings`)."""
    tokenizer: Any
    """Its tokenizer."""
    processor: Any = None
    """A VLM's processor (pictures and text); None for a text-only model."""
    description: str = ""
    """What it is and where it came from, for the models line and the report."""
    template_options: Optional[dict] = None
    """Extra variables for the chat template (`enable_thinking=False` for Qwen3)."""

    @property
    def sees_images(self) -> bool:
        """True for a VLM: it is shown the pictures."""
        return self.processor is not None and getattr(self.processor, "image_processor", None) is not None


class LocalChatModel(BaseChatModel):
    """A transformers chat model run in this process, loaded on first use.

    Args:
        load: gives back the model (`LoadedLM`); called once, on the first reply.
        source: `editor` or `local:<id>` (for the report).
        name: the model's name (for the report), e.g. "Qwen3ForCausalLM".
        max_new_tokens: the token budget of one reply; the grammar's limits are derived from it, so
            that the longest reply it allows fits.
        vision: whether the model sees pictures (None: found out on loading).
        text_limit: a tighter limit on a constrained reply's strings, in characters (None: the budget's).
        items_limit: a tighter limit on the items of its lists (None: the budget's).
        schema_prompt: whether the tool's JSON schema is also put in the words, after the messages
            (the grammar holds the reply to it either way; a small model reads a short prompt better).
        threads: CPU threads while generating (None: half the cores, at most 4; decoding is bound by
            memory, and more threads on busy cores only wait on each other).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    load: Callable[[], LoadedLM]
    source: str
    name: str = ""
    max_new_tokens: int = MAX_NEW_TOKENS
    vision: Optional[bool] = None
    text_limit: Optional[int] = None
    items_limit: Optional[int] = None
    schema_prompt: bool = False
    threads: Optional[int] = None
    constrained: bool = True
    """Replies asked for a JSON schema keep to it (agent/llm.py asks such a model by its tool directly)."""

    _loaded: Optional[LoadedLM] = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _grammars: dict = PrivateAttr(default_factory=dict)
    _compiler: Any = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "chatedit-local"

    @property
    def lm(self) -> LoadedLM:
        """The loaded model, loading it on first use."""
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded = self.load()
                    self.vision = self._loaded.sees_images
        return self._loaded

    @property
    def sees_images(self) -> bool:
        """True when the model is shown pictures (a VLM); a text-only model plans from the words alone."""
        return self.lm.sees_images if self.vision is None else self.vision

    def describe(self) -> dict[str, Any]:
        """Gives back what plans and where it came from: {"source", "model", "sees_images"} (JSON-ready)."""
        return {"source": self.source, "model": self.name, "sees_images": bool(self.vision)}

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Optional[str] = None, **kwargs: Any):
        """Gives back this model bound to `tools`: its reply is a call to `tool_choice` (else the first tool)."""
        return self.bind(tools=[convert_to_openai_tool(tool) for tool in tools], tool_choice=tool_choice, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: Optional[list[str]] = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        tool = _chosen_tool(kwargs.get("tools"), kwargs.get("tool_choice"))
        schema = tool["parameters"] if tool else _response_schema(kwargs.get("response_format"))
        if tool is not None and self.schema_prompt:
            ask = prompts.load("json_reply").format(name=tool["name"], schema=json.dumps(schema))
            messages = [*messages, SystemMessage(ask)]
        text, usage, seconds, finished = self._reply(messages, schema, kwargs.get("text_scale", 1.0))
        metadata = {
            "model_name": self.name,
            "finish_reason": "stop" if finished else "length",
            "seconds": round(seconds, 3),
        }
        if tool is None:
            message = AIMessage(content=text, usage_metadata=usage, response_metadata=metadata)
        else:
            message = _tool_call_message(tool["name"], text, usage, metadata, self.max_new_tokens)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _reply(
        self, messages: list[BaseMessage], schema: Optional[dict], text_scale: float = 1.0
    ) -> tuple[str, dict, float, bool]:
        """Gives back the reply's text, its token usage, the seconds it took and whether it ended by itself.

        `text_scale` shortens the strings a constrained reply may hold (a second try).
        """
        lm = self.lm
        started = time.perf_counter()
        with self._lock, torch.inference_mode(), _cpu_threads(_device_of(lm.model), self.threads):
            inputs = _inputs(lm, messages)
            stops = _stop_ids(lm.tokenizer)
            processors = [self._grammar_processor(schema, stops, text_scale)] if schema is not None else []
            device = _device_of(lm.model)
            inputs = {k: v.to(device) if hasattr(v, "to") else v for k, v in inputs.items()}
            prompt_tokens = int(inputs["input_ids"].shape[-1])
            output = lm.model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                num_beams=1,
                use_cache=True,
                logits_processor=processors,
                eos_token_id=stops,
                pad_token_id=lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else stops[0],
                temperature=None,
                top_p=None,
                top_k=None,
            )
        new = output[0, prompt_tokens:].tolist()
        finished = bool(new) and new[-1] in stops
        text = lm.tokenizer.decode(new, skip_special_tokens=True).strip()
        usage = {"input_tokens": prompt_tokens, "output_tokens": len(new), "total_tokens": prompt_tokens + len(new)}
        return text, usage, time.perf_counter() - started, finished

    def limits(self, schema: dict, text_scale: float = 1.0) -> Limits:
        """Gives back the limits of a constrained reply to `schema`: the budget's, or tighter ones set here."""
        limits = limits_for(schema, self.max_new_tokens)
        text = min(limits.text, self.text_limit or limits.text)
        return Limits(max(1, int(text * text_scale)), min(limits.items, self.items_limit or limits.items))

    def _grammar_processor(self, schema: dict, stops: list[int], text_scale: float = 1.0):
        """Gives back a fresh xgrammar logits processor for `schema` (compiled once per schema and limits)."""
        import xgrammar

        limits = self.limits(schema, text_scale)
        key = json.dumps([schema, limits.text, limits.items], sort_keys=True)
        compiled = self._grammars.get(key)
        if compiled is None:
            if self._compiler is None:
                model = self.lm.model
                info = xgrammar.TokenizerInfo.from_huggingface(
                    self.lm.tokenizer, vocab_size=model.get_output_embeddings().weight.shape[0], stop_token_ids=stops
                )
                self._compiler = xgrammar.GrammarCompiler(info)
            compiled = self._compiler.compile_json_schema(json.dumps(bounded(schema, limits)), any_whitespace=False)
            self._grammars[key] = compiled
        return xgrammar.contrib.hf.LogitsProcessor(compiled)


@contextlib.contextmanager
def _cpu_threads(device: torch.device, threads: Optional[int]) -> Iterator[None]:
    """Runs the block with `threads` CPU threads (None: half the cores, at most 4) when the model is on the CPU."""
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads or min(4, max(1, (os.cpu_count() or 2) // 2)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _chosen_tool(tools: Optional[list[dict]], choice: Any) -> Optional[dict]:
    """Gives back the function (name, parameters) of the tool the reply must call, or None without tools."""
    if not tools:
        return None
    functions = [tool["function"] for tool in tools]
    if isinstance(choice, dict):
        choice = choice.get("function", {}).get("name") or choice.get("name")
    for function in functions:
        if function["name"] == choice:
            return function
    return functions[0]


def _response_schema(response_format: Any) -> Optional[dict]:
    """Gives back the JSON schema of an OpenAI `response_format`, or None when it asks for none."""
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        return response_format["json_schema"]["schema"]
    return None


def _tool_call_message(name: str, text: str, usage: dict, metadata: dict, budget: int) -> AIMessage:
    """Gives back the reply as a call to `name`; JSON that does not parse is an invalid tool call."""
    error: Optional[str] = None
    try:
        # A weak model may put control characters in a string: still one reading of its JSON.
        args = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        args = None
        error = (
            f"ran out of tokens (a budget of {budget}) before its JSON was complete"
            if metadata["finish_reason"] == "length"
            else f"the reply is not valid JSON ({exc.msg})"
        )
    if error is None and not isinstance(args, dict):
        error = "the arguments are not a JSON object"
    call_id = f"call_{name}"
    if error is None:
        calls = [{"name": name, "args": args, "id": call_id, "type": "tool_call"}]
        return AIMessage(content="", tool_calls=calls, usage_metadata=usage, response_metadata=metadata)
    invalid = [{"name": name, "args": text, "id": call_id, "error": error, "type": "invalid_tool_call"}]
    return AIMessage(content="", invalid_tool_calls=invalid, usage_metadata=usage, response_metadata=metadata)


def _inputs(lm: LoadedLM, messages: list[BaseMessage]) -> dict:
    """Gives back the model inputs for `messages`, rendered with the model's own chat template."""
    chat, pictures = _conversation(messages, lm.sees_images)
    renderer = lm.processor if lm.sees_images else lm.tokenizer
    text = _render(renderer, chat, lm.template_options or {})
    if lm.sees_images:
        return dict(lm.processor(text=[text], images=pictures or None, return_tensors="pt"))
    return dict(lm.tokenizer(text, return_tensors="pt", add_special_tokens=False))


def _render(renderer: Any, chat: list[dict], options: dict) -> str:
    """Gives back the chat rendered as the model's prompt; a template without a system role gets it in the user's turn."""
    try:
        return renderer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True, **options)
    except Exception as exc:  # jinja's TemplateError: "System role not supported" and the like
        if not any(turn["role"] == "system" for turn in chat):
            raise
        logger.debug("Chat template refused the system role (%s); folding it into the user's turn.", exc)
        return renderer.apply_chat_template(
            _without_system(chat), tokenize=False, add_generation_prompt=True, **options
        )


def _without_system(chat: list[dict]) -> list[dict]:
    """Gives back the chat with system turns put at the start of the next user turn."""
    out: list[dict] = []
    held: list[Any] = []
    for turn in chat:
        if turn["role"] == "system":
            held.append(turn["content"])
            continue
        if held and turn["role"] == "user":
            turn = {"role": "user", "content": _joined([*held, turn["content"]])}
            held = []
        out.append(turn)
    return out


def _joined(contents: list[Any]) -> Any:
    """Gives back several turns' contents as one: text joined, or content parts listed in order."""
    if all(isinstance(c, str) for c in contents):
        return "\n\n".join(contents)
    parts: list[dict] = []
    for content in contents:
        parts.extend([{"type": "text", "text": content}] if isinstance(content, str) else content)
    return parts


def _conversation(messages: list[BaseMessage], vision: bool) -> tuple[list[dict], list[Image.Image]]:
    """Gives back the messages as a transformers chat, and the pictures in the order they appear.

    A VLM gets content parts ({"type": "image"} where a picture goes); a text-only model gets the text.
    """
    roles = {"system": "system", "human": "user", "ai": "assistant", "tool": "user"}
    chat: list[dict] = []
    pictures: list[Image.Image] = []
    for message in messages:
        role = roles.get(message.type, "user")
        parts = message.content if isinstance(message.content, list) else [message.content]
        content: list[dict] = []
        for part in parts:
            if isinstance(part, str):
                content.append({"type": "text", "text": part})
            elif part.get("type") == "text":
                content.append({"type": "text", "text": part["text"]})
            elif part.get("type") == "image_url" and vision:
                pictures.append(_picture(part["image_url"]["url"]))
                content.append({"type": "image"})
        if isinstance(message, AIMessage) and message.tool_calls:
            content.append({"type": "text", "text": json.dumps(message.tool_calls[0]["args"])})
        if isinstance(message, ToolMessage):
            content = [{"type": "text", "text": str(message.content)}]
        if vision and any(part["type"] == "image" for part in content):
            chat.append({"role": role, "content": content})
        else:
            chat.append({"role": role, "content": "\n".join(p["text"] for p in content if p["type"] == "text")})
    return chat, pictures


def _picture(url: str) -> Image.Image:
    """Gives back the picture of a data URL (the only kind chatedit sends a model)."""
    if not url.startswith("data:"):
        raise InputError("The in-process model only reads pictures sent as data URLs.")
    data = base64.b64decode(url.split(",", 1)[1])
    return Image.open(io.BytesIO(data)).convert("RGB")


def _stop_ids(tokenizer: Any) -> list[int]:
    """Gives back the ids that end a reply: the end-of-turn and end-of-text tokens the tokenizer knows."""
    ids: list[int] = []
    for token in (tokenizer.eos_token, "<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<end_of_turn>"):
        if token is None:
            continue
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id not in ids:
            ids.append(token_id)
    if not ids:
        raise InputError("The model's tokenizer names no end-of-text token, so its replies would never end.")
    return ids


def _device_of(model: Any) -> torch.device:
    """Gives back the device of the model's first weights (where its inputs go)."""
    return next(model.parameters()).device
