"""Loading the vision models: tiny profile saved once and loaded back, default profile offline, random-full."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from transformers import GroundingDinoForObjectDetection, SamModel

import chatedit.tools.vision_models as vision_models
from chatedit.tools.errors import ModelUnavailableError
from chatedit.tools.models import Checkpoints, ModelSet
from tests.helpers import run_in_threads

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models-cache")


@pytest.fixture(scope="module")
def tiny(cache_dir) -> ModelSet:
    return ModelSet("tiny", "cpu", cache_dir=cache_dir)


def _spy_from_pretrained(monkeypatch, model_class) -> list[str]:
    sources: list[str] = []
    original = model_class.from_pretrained.__func__

    def spy(cls, source, *args, **kwargs):
        sources.append(str(source))
        return original(cls, source, *args, **kwargs)

    monkeypatch.setattr(model_class, "from_pretrained", classmethod(spy))
    return sources


def test_tiny_profile_is_saved_then_loaded_through_from_pretrained(monkeypatch, tmp_path):
    detector_sources = _spy_from_pretrained(monkeypatch, GroundingDinoForObjectDetection)
    segmenter_sources = _spy_from_pretrained(monkeypatch, SamModel)
    models = ModelSet("tiny", "cpu", cache_dir=tmp_path)

    detector, segmenter = models.detector, models.segmenter

    assert detector_sources == [str(tmp_path / "tiny" / "detector")]
    assert segmenter_sources == [str(tmp_path / "tiny" / "segmenter")]
    for role in ("detector", "segmenter"):
        saved = {path.name for path in (tmp_path / "tiny" / role).iterdir()}
        assert {"config.json", "model.safetensors", "processor_config.json"} <= saved
    assert "tokenizer.json" in {path.name for path in (tmp_path / "tiny" / "detector").iterdir()}
    # Nothing half-written is left beside the finished folders.
    assert sorted(path.name for path in (tmp_path / "tiny").iterdir()) == ["detector", "segmenter"]
    for bundle in (detector, segmenter):
        assert not bundle.model.training
        assert bundle.device == CPU and bundle.dtype == torch.float32
        assert {p.device for p in bundle.model.parameters()} == {CPU}
        assert {p.dtype for p in bundle.model.parameters()} == {torch.float32}
    assert detector.model.config.decoder_layers >= 2
    assert segmenter.processor.image_processor.size["longest_edge"] == segmenter.model.config.vision_config.image_size


def test_second_model_set_reuses_the_saved_folder(monkeypatch, tiny, cache_dir):
    first = tiny.detector

    def no_rebuild(folder):
        raise AssertionError(f"rebuilt {folder}")

    monkeypatch.setattr(vision_models, "_save_tiny_detector", no_rebuild)
    second = ModelSet("tiny", "cpu", cache_dir=cache_dir).detector

    assert second is not first
    for (name, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_tiny_models_are_deterministic(tmp_path):
    for role, loader in (("detector", vision_models.load_detector), ("segmenter", vision_models.load_segmenter)):
        a, b = (
            loader(weights="tiny", checkpoint="unused", device=CPU, dtype=torch.float32, cache_dir=tmp_path / name)
            for name in ("a", "b")
        )
        state_a, state_b = a.model.state_dict(), b.model.state_dict()
        assert state_a.keys() == state_b.keys()
        assert all(torch.equal(state_a[key], state_b[key]) for key in state_a), role


def test_concurrent_first_builds_leave_one_complete_folder(tmp_path):
    def load():
        return vision_models.load_segmenter(
            weights="tiny", checkpoint="unused", device=CPU, dtype=torch.float32, cache_dir=tmp_path
        )

    bundles, errors = run_in_threads(load, 4)
    assert errors == [] and len(bundles) == 4
    assert [path.name for path in (tmp_path / "tiny").iterdir()] == ["segmenter"]


def test_model_set_loads_a_role_once_when_threads_ask_together(monkeypatch, tiny, cache_dir):
    calls = []
    original = vision_models.load_segmenter

    def slow_loader(**kwargs):
        calls.append(kwargs)
        time.sleep(0.2)  # widen the window in which the other threads ask
        return original(**kwargs)

    monkeypatch.setattr(vision_models, "load_segmenter", slow_loader)
    models = ModelSet("tiny", "cpu", cache_dir=cache_dir)
    results, errors = run_in_threads(lambda: models.segmenter, 6)

    assert len(calls) == 1
    assert errors == [] and len(results) == 6 and all(result is results[0] for result in results)
    assert models.loaded() == ["segmenter"]


def test_default_profile_offline_without_cache_raises_one_clear_error(tmp_path):
    script = (
        "from chatedit.tools.models import ModelSet\n"
        "from chatedit.tools.errors import ModelUnavailableError\n"
        "models = ModelSet('default', 'cpu')\n"
        "for role in ('detector', 'segmenter'):\n"
        "    try:\n"
        "        getattr(models, role)\n"
        "    except ModelUnavailableError as exc:\n"
        "        print('ERROR', exc)\n"
        "    else:\n"
        "        print('LOADED', role)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": str(REPO)}
    env.pop("HF_HUB_CACHE", None)
    env.pop("TRANSFORMERS_CACHE", None)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )

    errors = [line for line in result.stdout.splitlines() if line.startswith("ERROR")]
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(errors) == 2, result.stdout
    assert "'IDEA-Research/grounding-dino-tiny'" in errors[0] and "--models tiny" in errors[0]
    assert "'facebook/sam-vit-base'" in errors[1] and "--models tiny" in errors[1]
    assert "Traceback" not in result.stderr


def test_default_profile_with_unreachable_hub_does_not_try_to_download(monkeypatch, tmp_path):
    attempts = []
    original = vision_models._load

    def spy(*args, local_files_only, **kwargs):
        attempts.append(local_files_only)
        return original(*args, local_files_only=local_files_only, **kwargs)

    monkeypatch.setattr(vision_models, "_load", spy)
    monkeypatch.setattr(vision_models, "hub_reachable", lambda: False)
    checkpoints = Checkpoints(detector="chatedit-tests/no-such-detector", segmenter="chatedit-tests/no-such-sam")
    models = ModelSet("default", "cpu", checkpoints=checkpoints, cache_dir=tmp_path)

    with pytest.raises(ModelUnavailableError, match="no-such-detector.*--models tiny"):
        _ = models.detector
    with pytest.raises(ModelUnavailableError, match="no-such-sam.*--models tiny"):
        _ = models.segmenter
    assert attempts == [True, True]  # cache only, never the network
    assert models.loaded() == []


def test_random_full_configs_match_the_real_architectures():
    sam = vision_models.full_segmenter_config()
    assert (sam.vision_config.hidden_size, sam.vision_config.num_hidden_layers) == (768, 12)
    assert sam.vision_config.num_attention_heads == 12 and sam.vision_config.image_size == 1024
    assert list(sam.vision_config.global_attn_indexes) == [2, 5, 8, 11]
    assert sam.vision_config.output_channels == sam.prompt_encoder_config.hidden_size == 256

    dino = vision_models.full_detector_config()
    assert list(dino.backbone_config.depths) == [2, 2, 6, 2] and dino.backbone_config.embed_dim == 96
    assert list(dino.backbone_config.num_heads) == [3, 6, 12, 24]
    assert (dino.text_config.hidden_size, dino.text_config.num_hidden_layers) == (768, 12)
    assert dino.text_config.vocab_size == 30522
    assert (dino.d_model, dino.encoder_layers, dino.decoder_layers, dino.num_queries) == (256, 6, 6, 900)

    # Built on the meta device (no memory, no compute): the parameter counts of the published
    # checkpoints, 93.7M for sam-vit-base and 172M for grounding-dino-tiny.
    with torch.device("meta"):
        sam_params = sum(p.numel() for p in SamModel(sam).parameters())
        dino_params = sum(p.numel() for p in GroundingDinoForObjectDetection(dino).parameters())
    assert 93.5e6 < sam_params < 94.0e6
    assert 171.5e6 < dino_params < 173.0e6


def test_random_full_profile_builds_on_the_target_device(tmp_path):
    meta = torch.device("meta")  # stands in for the GPU: the model is built where it will run
    detector = vision_models.load_detector(
        weights="random", checkpoint="unused", device=meta, dtype=torch.float16, cache_dir=tmp_path
    )
    segmenter = vision_models.load_segmenter(
        weights="random", checkpoint="unused", device=meta, dtype=torch.float16, cache_dir=tmp_path
    )

    for bundle in (detector, segmenter):
        assert {p.device.type for p in bundle.model.parameters()} == {"meta"}
        assert {p.dtype for p in bundle.model.parameters()} == {torch.float16}
        assert not bundle.model.training
    assert detector.model.config.text_config.vocab_size == 30522
    assert len(detector.processor.tokenizer.get_vocab()) < 1000
    assert detector.processor.image_processor.size["shortest_edge"] == 800
    assert segmenter.processor.image_processor.size["longest_edge"] == 1024
    assert {path.name for path in (tmp_path / "random-full").iterdir()} == {"detector", "segmenter"}
    assert not (tmp_path / "random-full" / "detector" / "model.safetensors").exists()
