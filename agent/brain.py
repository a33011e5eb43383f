"""Which LLM plans, judges and answers: a server, the editor's own text encoder, a local model, or none.

One setting chooses (`--llm` / CHATEDIT_LLM / `Editor(llm=...)`):

- `editor`: the loaded family's text encoder, in-process (modern: Qwen3, text only; max: Qwen2.5-VL).
- `local:MODEL`: a transformers chat LLM or VLM, in-process.
- `server`, or an http(s) URL: an OpenAI-compatible server (CHATEDIT_LLM_BASE_URL, _API_KEY, _MODEL).
- unset (`auto`): a configured server; else, on a GPU, the modern and max families plan with their
  encoder; else (a CPU, or the classic family) the rules plan, since a 4B model on two cores takes
  minutes a turn.

`--planner rules` turns every LLM off; `--planner llm` insists on one (the editor's encoder counts
when no server is configured, on a CPU too).
"""

from __future__ import annotations

from typing import Any, Optional

from chatedit.agent.config import Settings
from chatedit.tools.errors import InputError


def planner_llm(config: Settings, models: Any, chat_model: Any = None) -> Optional[Any]:
    """Gives back the chat model that plans, judges and answers; None when the rules plan.

    Args:
        config: the run's settings (`planner`, `llm`, `language_model`).
        models: the `ModelSet` (family, weights, device) the editors run with.
        chat_model: a LangChain chat model given directly (tests, custom deployments): used as is.

    Raises:
        InputError: the chosen LLM cannot be had (no server configured, classic's encoder).
    """
    if config.planner == "rules":
        return None
    if chat_model is not None:
        return chat_model
    choice = llm_choice(config, models)
    if choice is None:
        if config.planner == "llm":
            raise InputError(
                "--planner llm needs an LLM: --llm editor (with --models modern or max), --llm local:MODEL, "
                "or a server (CHATEDIT_LLM_BASE_URL and/or CHATEDIT_LLM_API_KEY); or use --planner rules."
            )
        return None
    language_model = config.language_model
    if choice == "editor":
        from chatedit.agent.local_models import editor_chat_model

        return editor_chat_model(models, language_model.max_tokens)
    if choice.startswith("local:"):
        from chatedit.agent.local_models import local_chat_model, local_dtype

        dtype = local_dtype(models.device)
        return local_chat_model(choice.removeprefix("local:"), models.device, dtype, language_model.max_tokens)
    from chatedit.agent.llm import make_chat_model

    if choice.startswith(("http://", "https://")):
        language_model = language_model.model_copy(update={"base_url": choice})
    if not language_model.configured:
        raise InputError(
            "--llm server needs a server: set CHATEDIT_LLM_BASE_URL and/or CHATEDIT_LLM_API_KEY (or "
            "OPENAI_API_KEY), or use --llm editor or --llm local:MODEL."
        )
    return make_chat_model(language_model)


def llm_choice(config: Settings, models: Any) -> Optional[str]:
    """Gives back which LLM the settings pick (`editor`, `local:MODEL`, `server` or a URL); None: the rules.

    Resolves `auto` (no `llm` set) without loading anything: a configured server, else the family's
    encoder on a GPU (or when `--planner llm` asks for an LLM), else none.
    """
    from chatedit.agent.local_models import ENCODER_FAMILIES

    if config.planner == "rules":
        return None
    if config.llm is not None:
        return config.llm
    if config.language_model.configured:
        return "server"
    has_encoder = models.family in ENCODER_FAMILIES
    if has_encoder and (models.device.type == "cuda" or config.planner == "llm"):
        return "editor"
    return None


def llm_line(chat_model: Any) -> str:
    """Gives back the one line that says who plans (printed beside the models line)."""
    if chat_model is None:
        return "Planner: rules (no LLM: --llm editor, --llm local:MODEL or a server to plan with one)"
    describe = getattr(chat_model, "describe", None)
    if describe is not None:
        about = describe()
        sight = "sees the picture" if about.get("sees_images") else "text only"
        return f"Planner: {about['model']}, in-process ({about['source']}, {sight})"
    name = getattr(chat_model, "model_name", None) or type(chat_model).__name__
    server = getattr(chat_model, "openai_api_base", None) or "OpenAI"
    return f"Planner: {name} at {server}"


def llm_report(chat_model: Any) -> Optional[dict]:
    """Gives back {"source", "model"} of the chat model for the turn report (None: the rules plan)."""
    if chat_model is None:
        return None
    describe = getattr(chat_model, "describe", None)
    if describe is not None:
        return describe()
    name = getattr(chat_model, "model_name", None) or type(chat_model).__name__
    return {"source": "server", "model": str(name), "server": getattr(chat_model, "openai_api_base", None)}
