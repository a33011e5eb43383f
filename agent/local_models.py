"""Where an in-process chat model comes from: the family's own text encoder, or a transformers model by id or folder.

- `editor`: the loaded family's text encoder, the very module the diffusion pipeline encodes prompts
  with (no second copy): modern's Qwen3 (text only), max's Qwen2.5-VL (sees pictures).
- `local:<model id or folder>`: any transformers chat LLM or VLM (Qwen2.5-VL, Qwen3-VL, SmolVLM,
  SmolLM2, LLaVA, ...), loaded once per process on the editors' device, in bfloat16 (on a CPU too,
  where it prefills several times faster than float32).
"""

from __future__ import annotations

from typing import Any

import torch

from chatedit.agent.local_llm import EDITOR_SOURCE, LOCAL_PREFIX, MAX_NEW_TOKENS, LoadedLM, LocalChatModel
from chatedit.tools.errors import InputError

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


def local_dtype(device: torch.device) -> torch.dtype:
    """Gives back the dtype a local chat model runs in on `device`: bfloat16, float16 on Apple's GPUs."""
    return torch.float16 if device.type == "mps" else torch.bfloat16


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
