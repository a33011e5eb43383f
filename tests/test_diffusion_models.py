"""Loading the diffusion pipelines: tiny models through from_pretrained, SD 1.5 shapes, clear offline errors."""

from __future__ import annotations

import json

import huggingface_hub.constants
import pytest
import torch
from diffusers import (
    DPMSolverMultistepScheduler,
    StableDiffusionInpaintPipeline,
    StableDiffusionInstructPix2PixPipeline,
)
from diffusers.models.attention_processor import AttnProcessor2_0

from chatedit.tools import diffusion_models
from chatedit.tools.diffusion_models import (
    EDIT_IN_CHANNELS,
    INPAINT_IN_CHANNELS,
    build_random_full,
    build_tiny,
    load_global_editor,
    load_inpainter,
    small_tokenizer,
)
from chatedit.tools.diffusion_utils import native_resolution
from chatedit.tools.errors import InputError, ModelUnavailableError

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def inpainter(cache_dir):
    return load_inpainter(weights="tiny", checkpoint="unused", device=CPU, dtype=torch.float32, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def editor(cache_dir):
    return load_global_editor(weights="tiny", checkpoint="unused", device=CPU, dtype=torch.float32, cache_dir=cache_dir)


def test_tiny_inpainter_is_loaded_back_from_its_saved_folder(inpainter, cache_dir):
    folder = cache_dir / "tiny" / "inpainter"
    assert json.loads((folder / "model_index.json").read_text())["_class_name"] == "StableDiffusionInpaintPipeline"
    assert inpainter.config._name_or_path == str(folder)
    assert isinstance(inpainter, StableDiffusionInpaintPipeline)
    assert inpainter.unet.config.in_channels == INPAINT_IN_CHANNELS
    assert native_resolution(inpainter) == 64


def test_tiny_editor_is_loaded_back_from_its_saved_folder(editor, cache_dir):
    folder = cache_dir / "tiny" / "global_editor"
    assert editor.config._name_or_path == str(folder)
    assert isinstance(editor, StableDiffusionInstructPix2PixPipeline)
    assert editor.unet.config.in_channels == EDIT_IN_CHANNELS


def test_tiny_models_are_built_once_then_read_from_disk(inpainter, cache_dir, monkeypatch):
    def must_not_build(*args):
        raise AssertionError("the tiny inpainter was rebuilt although it is saved")

    monkeypatch.setattr(diffusion_models, "build_tiny", must_not_build)
    again = load_inpainter(weights="tiny", checkpoint="unused", device=CPU, dtype=torch.float32, cache_dir=cache_dir)
    for name, weight in inpainter.unet.state_dict().items():
        assert torch.equal(weight, again.unet.state_dict()[name]), name


def test_tiny_models_are_the_same_on_every_build():
    first = build_tiny(StableDiffusionInpaintPipeline, INPAINT_IN_CHANNELS)
    second = build_tiny(StableDiffusionInpaintPipeline, INPAINT_IN_CHANNELS)
    for name, weight in first.unet.state_dict().items():
        assert torch.equal(weight, second.unet.state_dict()[name]), name


def test_a_save_that_loses_the_race_keeps_the_winners_folder(tmp_path):
    folder = tmp_path / "tiny" / "inpainter"

    def build_while_another_process_finishes_first():
        pipe = build_tiny(StableDiffusionInpaintPipeline, INPAINT_IN_CHANNELS)
        pipe.save_pretrained(folder)
        return pipe

    found = diffusion_models._saved_once(tmp_path, "inpainter", build_while_another_process_finishes_first)
    assert found == folder
    assert (folder / "model_index.json").exists()
    assert sorted(path.name for path in folder.parent.iterdir()) == ["inpainter"]


@pytest.mark.parametrize("fixture", ["inpainter", "editor"])
def test_pipelines_are_ready_to_call(fixture, request):
    pipe = request.getfixturevalue(fixture)
    assert isinstance(pipe.scheduler, DPMSolverMultistepScheduler)
    assert pipe.scheduler.config.algorithm_type == "dpmsolver++"
    assert pipe.safety_checker is None
    assert pipe.config.requires_safety_checker is False
    assert pipe._progress_bar_config == {"disable": True}
    assert pipe.device == CPU and pipe.unet.dtype == torch.float32
    assert not any(module.training for module in (pipe.unet, pipe.vae, pipe.text_encoder))
    assert all(isinstance(p, AttnProcessor2_0) for p in pipe.unet.attn_processors.values())


def test_half_precision_falls_back_to_full_files_cast_to_fp16(inpainter, cache_dir):
    pipe = load_inpainter(weights="tiny", checkpoint="unused", device=CPU, dtype=torch.float16, cache_dir=cache_dir)
    assert pipe.unet.dtype == torch.float16
    assert pipe.text_encoder.dtype == torch.float16


@pytest.mark.parametrize(("loader", "role"), [(load_inpainter, "inpainter"), (load_global_editor, "global_editor")])
def test_default_profile_offline_names_the_missing_checkpoint(loader, role, monkeypatch, tmp_path):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    checkpoint = "chatedit-tests/not-a-real-checkpoint"
    with pytest.raises(ModelUnavailableError) as raised:
        loader(weights="real", checkpoint=checkpoint, device=CPU, dtype=torch.float16, cache_dir=tmp_path)
    message = str(raised.value)
    assert checkpoint in message and role in message and "--models tiny" in message


def test_small_tokenizer_encodes_any_text_within_77_tokens():
    tokenizer = small_tokenizer()
    ids = tokenizer("A red café, 3 chairs & a dog's bowl! " * 20, truncation=True, max_length=77).input_ids
    assert len(ids) == 77
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.unk_token_id not in ids[1:-1]
    assert max(ids) < len(tokenizer) == 514


@pytest.mark.parametrize(
    ("pipeline_cls", "in_channels", "unet_parameters"),
    # SD 1.5's UNet has 859,520,964 parameters; the extra input channels add 320 x 9 weights each.
    [
        (StableDiffusionInpaintPipeline, INPAINT_IN_CHANNELS, 859_520_964 + 5 * 320 * 9),
        (StableDiffusionInstructPix2PixPipeline, EDIT_IN_CHANNELS, 859_520_964 + 4 * 320 * 9),
    ],
)
def test_random_full_has_stable_diffusion_15s_architecture(pipeline_cls, in_channels, unet_parameters):
    # The meta device builds the shapes without allocating a byte.
    pipe = build_random_full(pipeline_cls, in_channels, "meta")

    def count(module):
        return sum(p.numel() for p in module.parameters())

    assert pipe.unet.device.type == "meta"
    assert count(pipe.unet) == unet_parameters
    assert count(pipe.vae) == 83_653_863
    assert count(pipe.text_encoder) == 123_060_480
    assert native_resolution(pipe) == 512
    assert pipe.unet.config.cross_attention_dim == pipe.text_encoder.config.hidden_size == 768
    assert pipe.text_encoder.config.max_position_embeddings == pipe.tokenizer.model_max_length == 77
    assert len(pipe.tokenizer) <= pipe.text_encoder.config.vocab_size == 49408


def _load(cache_dir):
    return load_inpainter(weights="tiny", checkpoint="unused", device=CPU, dtype=torch.float32, cache_dir=cache_dir)


def test_acceleration_is_off_unless_set(monkeypatch, cache_dir):
    monkeypatch.delenv("CHATEDIT_CHANNELS_LAST", raising=False)
    monkeypatch.delenv("CHATEDIT_COMPILE_MODE", raising=False)
    pipe = _load(cache_dir)
    weight = pipe.unet.conv_in.weight
    assert weight.is_contiguous() and not isinstance(pipe.unet, torch._dynamo.eval_frame.OptimizedModule)


def test_channels_last_setting_stores_unet_and_vae_weights_nhwc(monkeypatch, cache_dir):
    monkeypatch.setenv("CHATEDIT_CHANNELS_LAST", "1")
    monkeypatch.delenv("CHATEDIT_COMPILE_MODE", raising=False)
    pipe = _load(cache_dir)
    for conv in (pipe.unet.conv_in, pipe.vae.decoder.conv_in):
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
        assert not conv.weight.is_contiguous()


def test_compile_setting_compiles_the_unet_for_static_shapes(monkeypatch, cache_dir):
    calls = []

    def fake_compile(module, **kwargs):
        calls.append(kwargs)
        return module

    monkeypatch.setenv("CHATEDIT_COMPILE_MODE", "reduce-overhead")
    monkeypatch.setattr(torch, "compile", fake_compile)
    _load(cache_dir)
    assert calls == [{"mode": "reduce-overhead", "dynamic": False}]


def test_an_unknown_compile_mode_is_refused_with_the_choices(monkeypatch, cache_dir):
    monkeypatch.setenv("CHATEDIT_COMPILE_MODE", "fastest")
    with pytest.raises(InputError, match="reduce-overhead"):
        _load(cache_dir)


def test_a_tiny_pipeline_saved_by_an_older_build_is_built_again(tmp_path):
    from chatedit.tools.diffusion_models import BUILD_FILE, TINY_BUILD, _saved_once

    class Built:
        def save_pretrained(self, folder):
            (folder / "model_index.json").write_text('{"built": "now"}')

    old = tmp_path / "tiny" / "max_editor"
    old.mkdir(parents=True)
    (old / "model_index.json").write_text('{"built": "before"}')
    folder = _saved_once(tmp_path, "max_editor", Built)
    assert folder == old and json.loads((folder / "model_index.json").read_text()) == {"built": "now"}
    assert (folder / BUILD_FILE).read_text() == str(TINY_BUILD)
    # The current build is loaded as it is, not built again.
    (folder / "model_index.json").write_text('{"built": "kept"}')
    assert json.loads((_saved_once(tmp_path, "max_editor", Built) / "model_index.json").read_text()) == {
        "built": "kept"
    }
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == ["max_editor"]
