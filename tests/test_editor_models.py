"""Loading the modern and max editors: tiny builds through from_pretrained, one set of weights for two roles."""

from __future__ import annotations

import json

import huggingface_hub.constants
import pytest
import torch
from diffusers import (
    Flux2KleinInpaintPipeline,
    Flux2KleinPipeline,
    QwenImageEditInpaintPipeline,
    QwenImageEditPlusPipeline,
)

from chatedit.tools.editor_models import QwenPictureProcessor, load_max_editor, load_modern_editor, small_qwen_tokenizer
from chatedit.tools.errors import InputError, ModelUnavailableError
from chatedit.tools.models import Checkpoints, ModelSet, resolve_family

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("editor-models")


@pytest.mark.parametrize(
    "family, editor_cls, region_cls, folder",
    [
        ("modern", Flux2KleinPipeline, Flux2KleinInpaintPipeline, "modern_editor"),
        ("max", QwenImageEditPlusPipeline, QwenImageEditInpaintPipeline, "max_editor"),
    ],
)
def test_tiny_editor_is_saved_then_loaded_and_shared_by_both_roles(cache_dir, family, editor_cls, region_cls, folder):
    models = ModelSet(family, "cpu", cache_dir=cache_dir, weights="tiny")
    editor, region = models.global_editor, models.inpainter
    saved = cache_dir / "tiny" / folder
    assert json.loads((saved / "model_index.json").read_text())["_class_name"] == editor_cls.__name__
    assert editor.config._name_or_path == str(saved)
    assert isinstance(editor, editor_cls) and isinstance(region, region_cls)
    # from_pipe shares the modules: the second role costs no memory.
    assert region.transformer is editor.transformer and region.vae is editor.vae
    assert region.text_encoder is editor.text_encoder
    assert editor._progress_bar_config == {"disable": True} == region._progress_bar_config
    assert models.report() == {
        "family": family,
        "weights": "tiny",
        "finder": "dino-sam",
        "quantize": "none",
        "offload": "none",
        "device": "cpu",
        "roles": {
            "detector": "IDEA-Research/grounding-dino-tiny",
            "segmenter": "facebook/sam-vit-base",
            "inpainter": getattr(Checkpoints(), f"{family}_editor"),
            "global_editor": getattr(Checkpoints(), f"{family}_editor"),
        },
    }


def test_tiny_max_editor_uses_the_picture_processor(cache_dir):
    editor = ModelSet("max", "cpu", cache_dir=cache_dir, weights="tiny").global_editor
    assert isinstance(editor.processor, QwenPictureProcessor)
    assert type(editor.processor.image_processor).__name__.startswith("Qwen2VLImageProcessor")
    image_token = editor.text_encoder.config.image_token_id
    assert editor.tokenizer.convert_ids_to_tokens(image_token) == "<|image_pad|>"


def test_small_qwen_tokenizer_encodes_any_text_and_keeps_control_tokens():
    tokenizer = small_qwen_tokenizer()
    ids = tokenizer("<|im_start|>user\nmake the sign say ÖFFNEN 🙂<|im_end|>").input_ids
    assert ids[0] == tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert ids[-1] == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert tokenizer.decode(ids[1:-1]) == "user\nmake the sign say ÖFFNEN 🙂"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True, enable_thinking=False
    )
    assert text.startswith("<|im_start|>user\nhi<|im_end|>") and "<think>" in text


@pytest.mark.parametrize(
    "choice, weights, expected",
    [
        ("tiny", None, ("classic", "tiny")),
        ("random-full", None, ("classic", "random")),
        ("default", None, ("classic", "real")),
        ("auto", "random", ("classic", "random")),
        ("modern", "tiny", ("modern", "tiny")),
        ("max", None, ("max", "real")),
    ],
)
def test_model_choices_resolve_to_a_family_and_weights_on_cpu(choice, weights, expected):
    assert resolve_family(choice, weights, CPU) == expected


def test_auto_picks_the_family_by_the_gpus_free_memory(monkeypatch):
    from chatedit.tools import memory

    gib = 2**30
    figures = {
        "totals": {"classic": {"none": 3 * gib}, "modern": {q: 9 * gib for q in ("none", "int8", "fp8", "nf4")}},
        "activations": {"classic": gib, "modern": 3 * gib, "max": 0},
    }
    figures["totals"]["max"] = {q: 90 * gib for q in ("none", "int8", "fp8", "nf4")}
    free = {"bytes": 24 * gib}
    monkeypatch.setattr(memory, "table", lambda: figures)
    monkeypatch.setattr(memory, "free_bytes", lambda device: free["bytes"])
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 9))
    assert resolve_family("auto", None, torch.device("cuda")) == ("modern", "real")
    free["bytes"] = 8 * gib  # other programs hold the rest of the card
    assert resolve_family("auto", None, torch.device("cuda")) == ("classic", "real")


def test_conflicting_choices_are_refused_with_what_to_do():
    with pytest.raises(InputError, match="--models classic --weights random"):
        resolve_family("tiny", "random", CPU)
    with pytest.raises(InputError, match="Unknown weights"):
        resolve_family("modern", "huge", CPU)
    with pytest.raises(InputError, match="Unknown model choice"):
        ModelSet("newest", "cpu")


@pytest.mark.parametrize("family", ["modern", "max"])
def test_checkpoints_are_overridable_and_missing_ones_say_so(monkeypatch, tmp_path, family):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv(f"CHATEDIT_{family.upper()}_EDITOR", "chatedit-tests/no-such-editor")
    models = ModelSet(family, "cpu", cache_dir=tmp_path)
    assert models.roles()["global_editor"] == "chatedit-tests/no-such-editor" == models.roles()["inpainter"]
    with pytest.raises(ModelUnavailableError, match="no-such-editor.*--models tiny"):
        _ = models.inpainter


@pytest.mark.parametrize(
    "loader, transformer_b, text_encoder_b",
    # FLUX.2 klein 4B: a 3.9 B transformer beside Qwen3-4B (4.0 B); Qwen-Image-Edit: 20.4 B beside Qwen2.5-VL-7B (8.3 B).
    [(load_modern_editor, 3.88, 4.02), (load_max_editor, 20.43, 8.29)],
)
def test_random_full_builds_the_published_sizes_in_bf16_on_the_device(tmp_path, loader, transformer_b, text_encoder_b):
    pipe = loader(
        weights="random", checkpoint="unused", device=torch.device("meta"), dtype=torch.float16, cache_dir=tmp_path
    )

    def billions(module) -> float:
        return sum(p.numel() for p in module.parameters()) / 1e9

    assert billions(pipe.transformer) == pytest.approx(transformer_b, abs=0.01)
    assert billions(pipe.text_encoder) == pytest.approx(text_encoder_b, abs=0.01)
    assert pipe.transformer.dtype == torch.bfloat16 == pipe.text_encoder.dtype
    assert torch.get_default_dtype() == torch.float32
    assert not any(tmp_path.iterdir())
