"""The in-process brain: a transformers chat LLM or VLM as a LangChain chat model, no server needed.

`LocalChatModel` plans, judges and answers through the same functions as a server model
(agent/llm.py): it is a LangChain `BaseChatModel` whose `bind_tools` and `response_format` are kept
by constrained decoding. When a JSON schema is asked for (the `Plan` or `Verdicts` tool), xgrammar's
logits processor lets through only the tokens that keep the reply valid for that schema, so the reply
always parses; the same pydantic types then validate it. Decoding is greedy, with the KV cache, up to
a token budget. The model's own chat template renders the messages.

Where the model comes from (`--llm` / CHATEDIT_LLM / `Editor(llm=...)`):

- `editor`: the loaded family's text encoder, the very module the diffusion pipeline encodes prompts
  with (no second copy): modern's Qwen3 (text only), max's Qwen2.5-VL (sees pictures).
- `local:<model id or folder>`: any transformers chat LLM or VLM (Qwen2.5-VL, Qwen3-VL, SmolVLM,
  LLaVA, ...), loaded once per process on the editors' device and dtype.

Generation never changes the module: no weight, config or generation setting is written, so the
prompt embeddings the diffusion model gets are the same before and after a plan.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from PIL import Image
from pydantic import ConfigDict, PrivateAttr

from chatedit import prompts
from chatedit.tools.errors import InputError

logger = logging.getLogger(__name__)

MAX_NEW_TOKENS = 1024
"""Default token budget of one reply: a five-step plan takes about 400 tokens."""
TEXT_LIMIT = 200
"""Longest string field, in characters, a constrained reply may hold (the schemas' own limits win)."""
ITEMS_LIMIT = 6
"""Most items of a list field a constrained reply may hold (the schemas' own limits win)."""
NUMBER_LIMIT = 100_000
"""Largest size of a number a constrained reply may hold (pixels, step numbers; the schemas' own limits win)."""
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
        max_new_tokens: the token budget of one reply.
        vision: whether the model sees pictures (None: found out on loading).
        text_limit: longest string a constrained reply may hold, in characters.
        items_limit: most items of a list in a constrained reply.

    The token budget should cover the longest reply the limits allow; a reply cut by the budget does
    not parse, and the caller falls back (rules planner, model checks) as for any failed LLM call.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    load: Callable[[], LoadedLM]
    source: str
    name: str = ""
    max_new_tokens: int = MAX_NEW_TOKENS
    vision: Optional[bool] = None
    text_limit: int = TEXT_LIMIT
    items_limit: int = ITEMS_LIMIT
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
        if tool is not None:
            # The schema goes into the words too: the model should know what each field means.
            ask = prompts.load("json_reply").format(name=tool["name"], schema=json.dumps(schema))
            messages = [*messages, SystemMessage(ask)]
        text, usage, seconds, finished = self._reply(messages, schema)
        metadata = {
            "model_name": self.name,
            "finish_reason": "stop" if finished else "length",
            "seconds": round(seconds, 3),
        }
        if tool is None:
            message = AIMessage(content=text, usage_metadata=usage, response_metadata=metadata)
        else:
            message = _tool_call_message(tool["name"], text, usage, metadata)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _reply(self, messages: list[BaseMessage], schema: Optional[dict]) -> tuple[str, dict, float, bool]:
        """Gives back the reply's text, its token usage, the seconds it took and whether it ended by itself."""
        lm = self.lm
        started = time.perf_counter()
        with self._lock, torch.inference_mode():
            inputs = _inputs(lm, messages)
            stops = _stop_ids(lm.tokenizer)
            processors = [self._grammar_processor(schema, stops)] if schema is not None else []
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

    def _grammar_processor(self, schema: dict, stops: list[int]):
        """Gives back a fresh xgrammar logits processor for `schema` (compiled once per schema)."""
        import xgrammar

        key = json.dumps(schema, sort_keys=True)
        compiled = self._grammars.get(key)
        if compiled is None:
            if self._compiler is None:
                model = self.lm.model
                info = xgrammar.TokenizerInfo.from_huggingface(
                    self.lm.tokenizer, vocab_size=model.get_output_embeddings().weight.shape[0], stop_token_ids=stops
                )
                self._compiler = xgrammar.GrammarCompiler(info)
            compiled = self._compiler.compile_json_schema(
                json.dumps(bounded(schema, self.text_limit, self.items_limit)), any_whitespace=False
            )
            self._grammars[key] = compiled
        return xgrammar.contrib.hf.LogitsProcessor(compiled)


def bounded(schema: Any, text_limit: int = TEXT_LIMIT, items_limit: int = ITEMS_LIMIT) -> Any:
    """Gives back a copy of a JSON schema for decoding: strings, lists and numbers are bounded, every field is written.

    A grammar without limits lets a weak model write one string until the token budget runs out;
    with them, every reply ends. Limits the schema already sets are kept. Every property is required
    (optional ones are nullable already), as in OpenAI's strict mode, so that a reply cannot stop at
    `{}`: it says null where it means nothing.
    """
    if isinstance(schema, list):
        return [bounded(item, text_limit, items_limit) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: bounded(value, text_limit, items_limit) for key, value in schema.items()}
    if out.get("type") == "string" and "enum" not in out and "const" not in out:
        out.setdefault("maxLength", text_limit)
    if out.get("type") == "array":
        out.setdefault("maxItems", items_limit)
    if out.get("type") in ("number", "integer"):
        out.setdefault("minimum", -NUMBER_LIMIT)
        out.setdefault("maximum", NUMBER_LIMIT)
    if isinstance(out.get("properties"), dict):
        out["required"] = list(out["properties"])
    return out


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


def _tool_call_message(name: str, text: str, usage: dict, metadata: dict) -> AIMessage:
    """Gives back the reply as a call to `name`; JSON that does not parse is an invalid tool call."""
    error: Optional[str] = None
    try:
        # A weak model may put control characters in a string: still one reading of its JSON.
        args = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        args, error = None, f"{exc.msg} (the reply ended: {metadata['finish_reason']})"
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


# ---- where the model comes from ------------------------------------------------------------------

ENCODER_FAMILIES = ("modern", "max")
"""The families whose text encoder is a chat model: modern's Qwen3 and max's Qwen2.5-VL."""

_LOCAL: dict[tuple[str, str, str], LoadedLM] = {}
"""Local models loaded in this process, by (model id, device, dtype)."""


def editor_chat_model(models: Any, max_new_tokens: int = MAX_NEW_TOKENS) -> LocalChatModel:
    """Gives back the chat model over the family's own text encoder: the same module, no copy.

    Args:
        models: the `ModelSet` whose instruction editor holds the encoder (loaded on the first reply).
        max_new_tokens: the token budget of one reply.

    Raises:
        InputError: the family's text encoder cannot generate text (classic's CLIP).
    """
    family = models.family
    if family not in ENCODER_FAMILIES:
        raise InputError(
            f"--llm editor plans with the family's own text encoder, and the {family} family's CLIP encoder "
            "cannot write text. Use --models modern (Qwen3) or --models max (Qwen2.5-VL), --llm local:MODEL "
            "for a transformers chat model, or an LLM server (CHATEDIT_LLM_BASE_URL)."
        )
    checkpoint = models.checkpoints.for_role(family, "global_editor")

    def load() -> LoadedLM:
        pipe = models.global_editor
        processor = getattr(pipe, "processor", None)
        return LoadedLM(
            pipe.text_encoder,
            pipe.tokenizer,
            processor,
            description=f"{family}'s text encoder",
            template_options={"enable_thinking": False},
        )

    return LocalChatModel(
        load=load,
        source=EDITOR_SOURCE,
        name=f"{checkpoint} text encoder ({'tiny ' if models.weights == 'tiny' else ''}"
        f"{'Qwen2.5-VL' if family == 'max' else 'Qwen3'})",
        max_new_tokens=max_new_tokens,
        vision=family == "max",
    )


def local_chat_model(
    model_id: str, device: torch.device, dtype: torch.dtype, max_new_tokens: int = MAX_NEW_TOKENS
) -> LocalChatModel:
    """Gives back the chat model over a transformers LLM or VLM (hub id or folder), loaded once per process.

    Raises (on the first reply):
        ModelUnavailableError: the model is neither cached nor downloadable.
    """

    _check_available(model_id)

    def load() -> LoadedLM:
        from chatedit.tools.models import LOAD_LOCK

        key = (model_id, str(device), str(dtype))
        with LOAD_LOCK:
            if key not in _LOCAL:
                _LOCAL[key] = _load_local(model_id, device, dtype)
            return _LOCAL[key]

    return LocalChatModel(load=load, source=LOCAL_PREFIX + model_id, name=model_id, max_new_tokens=max_new_tokens)


def _check_available(model_id: str) -> None:
    """Raises ModelUnavailableError at once when the model is neither a folder, cached, nor downloadable."""
    from pathlib import Path

    from chatedit.tools.models import cached, hub_unreachable, unavailable

    # Not cached is fine when the hub answers: the first reply downloads it.
    if not Path(model_id).is_dir() and not cached(model_id) and hub_unreachable(timeout=5.0):
        raise unavailable(model_id, "planner")


class _AutoChatModel:
    """Loads a chat model with the auto class its config calls for: image-text-to-text (VLM) or causal LM."""

    @staticmethod
    def from_pretrained(source: str, **kwargs: Any):
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText
        from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING

        config = AutoConfig.from_pretrained(source, local_files_only=kwargs.get("local_files_only", False))
        auto = (
            AutoModelForImageTextToText
            if type(config) in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING
            else AutoModelForCausalLM
        )
        return auto.from_pretrained(source, config=config, **kwargs)


def _auto_processor(source: str, **kwargs: Any):
    """Gives back the model's processor (a VLM's) or tokenizer (a text-only model's)."""
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(source, **kwargs)


def _load_local(model_id: str, device: torch.device, dtype: torch.dtype) -> LoadedLM:
    """Loads a local chat model through the same cache-first, download-once path as the other models."""
    from chatedit.tools.loading import quiet_loading
    from chatedit.tools.vision_models import _from_pretrained

    with quiet_loading():
        model, processor = _from_pretrained(_AutoChatModel, _auto_processor, model_id, "planner", device, dtype)
    tokenizer = getattr(processor, "tokenizer", None) or processor
    vision = getattr(processor, "image_processor", None) is not None
    if getattr(tokenizer, "chat_template", None) is None and getattr(processor, "chat_template", None) is None:
        raise InputError(
            f"{model_id} has no chat template, so it cannot be talked to as a chat model; "
            "pick an instruction-tuned (chat) model."
        )
    return LoadedLM(
        model,
        tokenizer,
        processor if vision else None,
        description=model_id,
        template_options={"enable_thinking": False},
    )
