"""SAM 3 on its tiny build: saved in facebook/sam3's layout, loaded by both models, finding and outlining."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from transformers import Sam3Model, Sam3TrackerModel

from chatedit.tools import sam3
from chatedit.tools.errors import InputError
from chatedit.tools.sam3_models import Sam3Bundle, load_sam3, small_clip_tokenizer

CPU = torch.device("cpu")
LOW = 0.2
"""A score floor the tiny random SAM 3's instances (scores near 0.25) pass."""

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("sam3-cache")


@pytest.fixture(scope="module")
def bundle(cache_dir) -> Sam3Bundle:
    return load_sam3(weights="tiny", checkpoint="unused", device=CPU, dtype=torch.float32, cache_dir=cache_dir)


def _spy_from_pretrained(monkeypatch, model_class) -> list[str]:
    sources: list[str] = []
    original = model_class.from_pretrained.__func__

    def spy(cls, source, *args, **kwargs):
        sources.append(str(source))
        return original(cls, source, *args, **kwargs)

    monkeypatch.setattr(model_class, "from_pretrained", classmethod(spy))
    return sources


def test_the_tiny_build_has_facebook_sam3s_layout_and_both_models_load_their_part(monkeypatch, tmp_path):
    concept_sources = _spy_from_pretrained(monkeypatch, Sam3Model)
    tracker_sources = _spy_from_pretrained(monkeypatch, Sam3TrackerModel)
    loaded = load_sam3(weights="tiny", checkpoint="unused", device=CPU, dtype=torch.float32, cache_dir=tmp_path)

    folder = tmp_path / "tiny" / "sam3"
    assert concept_sources == tracker_sources == [str(folder)]
    with safe_open(folder / "model.safetensors", "pt") as weights:
        names = set(weights.keys())
        assert {name.split(".")[0] for name in names} == {"detector_model", "tracker_model", "tracker_neck"}
        # The tracker's own weights reached Sam3TrackerModel through transformers' sam3_tracker conversion.
        saved = weights.get_tensor("tracker_model.mask_decoder.iou_token.weight")
        neck = weights.get_tensor("tracker_neck.fpn_layers.0.proj1.weight")
    assert torch.equal(loaded.tracker.mask_decoder.iou_token.weight, saved)
    assert torch.equal(loaded.tracker.vision_encoder.neck.fpn_layers[0].proj1.weight, neck)
    # One backbone for both models: the tracker holds the concept model's.
    assert loaded.tracker.vision_encoder.backbone is loaded.model.vision_encoder.backbone
    assert not loaded.model.training and not loaded.tracker.training
    assert loaded.processor.tokenizer.model_max_length == 77


def test_the_tiny_tokenizer_reads_any_lowercase_phrase_without_unknown_tokens():
    tokenizer = small_clip_tokenizer()
    ids = tokenizer("a red coffee cup")["input_ids"]
    assert tokenizer.unk_token_id not in ids[1:-1] and len(ids) == len("a red coffee cup") - 3 + 2


def test_find_gives_each_phrase_its_instances_with_masks(bundle, small_photo):
    found = sam3.find(bundle, small_photo, ["the Cup", "a dog"], threshold=LOW)

    assert set(found) == {"the Cup", "a dog"}
    for phrase, detections in found.items():
        assert detections, phrase
        assert [d.score for d in detections] == sorted((d.score for d in detections), reverse=True)
        for detection in detections:
            assert detection.label == phrase and detection.score > LOW
            x0, y0, x1, y1 = detection.box
            assert 0 <= x0 < x1 <= small_photo.width and 0 <= y0 < y1 <= small_photo.height
            assert detection.mask is not None and detection.mask.dtype == np.bool_
            assert detection.mask.shape == (small_photo.height, small_photo.width) and detection.mask.any()


def test_find_encodes_a_picture_once_for_every_phrase_and_call(bundle, coffee, monkeypatch):
    picture = coffee.resize((80, 60))
    calls = []
    original = bundle.model.get_vision_features

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(bundle.model, "get_vision_features", counted)
    sam3.find(bundle, picture, ["cup", "spoon"], threshold=LOW)
    sam3.find(bundle, picture, ["table"], threshold=LOW)
    assert len(calls) == 1


def test_find_keeps_nothing_under_the_threshold_and_refuses_empty_phrases(bundle, small_photo):
    assert sam3.find(bundle, small_photo, ["cup"], threshold=0.99) == {"cup": []}
    with pytest.raises(InputError, match="at least one phrase"):
        sam3.find(bundle, small_photo, [])
    with pytest.raises(InputError, match="names nothing"):
        sam3.find(bundle, small_photo, [" . "])


def test_a_phrase_longer_than_sam3_reads_is_cut_not_refused(bundle, small_photo):
    long = "the small white porcelain coffee cup on the saucer on the left"
    assert set(sam3.find(bundle, small_photo, [long], threshold=LOW)) == {long}


def test_the_tracker_outlines_a_box_clicks_or_both_as_one_object(bundle, small_photo, monkeypatch):
    prompts = []
    original = type(bundle.tracker).forward

    def spy(self, *args, **kwargs):
        prompts.append({name: tuple(value.shape) for name, value in kwargs.items() if name.startswith("input_")})
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(bundle.tracker), "forward", spy)
    for prompt in (
        {"box": (10, 8, 60, 50)},
        {"points": [(30, 30), (40, 20)]},
        {"box": (10, 8, 60, 50), "points": [(30, 30)]},
    ):
        mask = sam3.segment_object(bundle, small_photo, **prompt)
        assert mask.shape == (small_photo.height, small_photo.width) and mask.dtype == np.bool_
    # Each call is one object: a box, two clicks on it, or a box with a click inside.
    assert prompts == [
        {"input_boxes": (1, 1, 4)},
        {"input_points": (1, 1, 2, 2), "input_labels": (1, 1, 2)},
        {"input_points": (1, 1, 1, 2), "input_labels": (1, 1, 1), "input_boxes": (1, 1, 4)},
    ]
    with pytest.raises(InputError, match="box or at least one point"):
        sam3.segment_object(bundle, small_photo)


def test_candidates_are_distinct_picture_sized_masks(bundle, small_photo):
    candidates = sam3.segment_candidates(bundle, small_photo, points_per_side=4)
    assert candidates
    assert all(mask.shape == (64, 96) and mask.any() for mask in candidates)
    digests = {mask.tobytes() for mask in candidates}
    assert len(digests) == len(candidates)


def test_the_embedding_of_a_picture_is_shared_by_its_prompts(bundle, coffee, monkeypatch):
    picture = coffee.resize((72, 48), Image.Resampling.BICUBIC)
    calls = []
    original = bundle.tracker.get_image_embeddings

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(bundle.tracker, "get_image_embeddings", counted)
    sam3.segment_object(bundle, picture, box=(5, 5, 40, 40))
    sam3.segment_object(bundle, picture, points=[(20, 20)])
    sam3.segment_candidates(bundle, picture, points_per_side=2)
    assert len(calls) == 1


def test_random_weights_are_the_full_size_architecture_built_on_the_target_device(tmp_path):
    meta = torch.device("meta")  # stands in for the GPU: the models are built where they will run
    full = load_sam3(weights="random", checkpoint="unused", device=meta, dtype=torch.float16, cache_dir=tmp_path)

    for model in (full.model, full.tracker):
        assert {p.device.type for p in model.parameters()} == {"meta"} and not model.training
        # Half precision is asked for; SAM 3 runs in bfloat16.
        assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert full.model.config.vision_config.backbone_config.hidden_size == 1024
    assert full.model.config.vision_config.backbone_config.num_hidden_layers == 32
    assert full.tracker.vision_encoder.backbone is full.model.vision_encoder.backbone
    assert full.processor.image_processor.size == {"height": 1008, "width": 1008}
    assert not (tmp_path / "random-full" / "sam3" / "model.safetensors").exists()
