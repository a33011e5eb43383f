"""Detection: boxes in original pixels, one pass for several phrases, phrase assignment, backoff."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from chatedit.tools.detect import Detection, detect
from chatedit.tools.errors import InputError
from chatedit.tools.models import ModelSet
from chatedit.tools.vision_models import DetectorBundle

PHRASES = ["a cup", "a person", "the sky"]


@pytest.fixture(scope="module")
def detector(tmp_path_factory) -> DetectorBundle:
    return ModelSet("tiny", "cpu", cache_dir=tmp_path_factory.mktemp("models-cache")).detector


class ScriptedDetector(torch.nn.Module):
    """Stands in for GroundingDINO: fixed boxes, each with the word scores a test chooses.

    Args:
        tokenizer: the processor's tokenizer, to find where each word sits in the text.
        queries: per query, a normalized (cx, cy, w, h) box and {word: probability}.
    """

    def __init__(self, tokenizer, queries):
        super().__init__()
        self.tokenizer = tokenizer
        self.queries = queries

    def forward(self, input_ids, **_):
        tokens = self.tokenizer.convert_ids_to_tokens(input_ids[0].tolist())
        logits = torch.full((1, len(self.queries), 256), -20.0)
        for query, (_, words) in enumerate(self.queries):
            for position, token in enumerate(tokens):
                if token in words:
                    logits[0, query, position] = torch.logit(torch.tensor(words[token]))
        boxes = torch.tensor([[box for box, _ in self.queries]])
        return SimpleNamespace(logits=logits, pred_boxes=boxes, input_ids=input_ids)


def scripted(detector: DetectorBundle, queries) -> DetectorBundle:
    model = ScriptedDetector(detector.processor.tokenizer, queries)
    return DetectorBundle(model, detector.processor, torch.device("cpu"), torch.float32)


def boxes(detections: list[Detection]) -> list[float]:
    return [coordinate for detection in detections for coordinate in detection.box]


@pytest.fixture
def forward_calls(detector):
    """The (inputs, outputs) of each forward pass of the tiny detector during a test."""
    calls = []
    handle = detector.model.register_forward_hook(
        lambda module, args, kwargs, output: calls.append((kwargs, output)), with_kwargs=True
    )
    yield calls
    handle.remove()


@pytest.mark.parametrize("photo", ["coffee", "astronaut", "odd_photo"])
def test_boxes_are_sorted_inside_the_image_in_original_pixels(detector, forward_calls, photo, request):
    image: Image.Image = request.getfixturevalue(photo)

    found = detect(detector, image, PHRASES)

    assert list(found) == PHRASES
    assert sum(len(boxes) for boxes in found.values()) > 0
    # Every box must be one of the model's query boxes scaled to the ORIGINAL size, clamped.
    ((_, outputs),) = forward_calls
    width, height = image.size
    query_boxes = []
    for cx, cy, w, h in outputs.pred_boxes[0].tolist():
        x0, x1 = min(max((cx - w / 2) * width, 0), width), min(max((cx + w / 2) * width, 0), width)
        y0, y1 = min(max((cy - h / 2) * height, 0), height), min(max((cy + h / 2) * height, 0), height)
        query_boxes.append((x0, y0, x1, y1))
    for phrase, detections in found.items():
        scores = [d.score for d in detections]
        assert scores == sorted(scores, reverse=True)
        for d in detections:
            assert d.label == phrase
            x0, y0, x1, y1 = d.box
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
            assert any(max(abs(a - b) for a, b in zip(d.box, q, strict=True)) < 1e-2 for q in query_boxes)


def test_several_phrases_go_through_one_forward_pass(detector, forward_calls, odd_photo):
    found = detect(detector, odd_photo, PHRASES)

    assert len(forward_calls) == 1
    text = detector.processor.tokenizer.decode(forward_calls[0][0]["input_ids"][0], skip_special_tokens=True)
    assert text == "a cup. a person. the sky."
    assert list(found) == PHRASES


def test_nothing_over_the_floor_gives_empty_lists(detector, coffee):
    found = detect(detector, coffee, PHRASES, box_threshold=1.0, min_box_threshold=1.0)

    assert found == {phrase: [] for phrase in PHRASES}


def test_backoff_finds_weak_boxes_and_stops_at_the_floor(detector, monkeypatch):
    image = Image.new("RGB", (200, 100))
    bundle = scripted(
        detector,
        [
            ((0.25, 0.5, 0.2, 0.4), {"cat": 0.9}),
            ((0.26, 0.5, 0.2, 0.4), {"cat": 0.8}),  # a near-duplicate of the box above
            ((0.75, 0.5, 0.2, 0.4), {"cat": 0.5}),
            ((0.95, 0.5, 0.3, 0.4), {"dog": 0.22}),  # weak, and sticking out of the image
            ((0.50, 0.5, 0.2, 0.2), {"car": 0.05}),  # under the floor
        ],
    )
    thresholds = []
    post_process = bundle.processor.post_process_grounded_object_detection

    def spy(outputs, **kwargs):
        thresholds.append(kwargs["threshold"])
        return post_process(outputs, **kwargs)

    monkeypatch.setattr(bundle.processor, "post_process_grounded_object_detection", spy)

    found = detect(bundle, image, ["a cat", "a dog", "a car"])

    cat, dog = found["a cat"], found["a dog"]
    assert boxes(cat) == pytest.approx([30, 30, 70, 70, 130, 30, 170, 70])
    assert [d.score for d in cat] == pytest.approx([0.9, 0.5])
    assert len(dog) == 1 and dog[0].label == "a dog"
    assert boxes(dog) == pytest.approx([160, 30, 200, 70]) and dog[0].score == pytest.approx(0.22)
    assert found["a car"] == []
    assert thresholds == pytest.approx([0.3, 0.25, 0.2, 0.15, 0.1])


def test_each_box_goes_to_the_phrase_whose_words_it_matched(detector):
    image = Image.new("RGB", (100, 100))
    bundle = scripted(
        detector,
        [
            ((0.25, 0.25, 0.2, 0.2), {"red": 0.8, "car": 0.9}),
            ((0.75, 0.75, 0.2, 0.2), {"blue": 0.7, "car": 0.6}),
            ((0.50, 0.50, 0.2, 0.2), {".": 0.9}),  # matched only punctuation: belongs to no phrase
        ],
    )

    found = detect(bundle, image, ["A red car", "a blue car."])

    assert boxes(found["A red car"]) == pytest.approx([15, 15, 35, 35])
    assert boxes(found["a blue car."]) == pytest.approx([65, 65, 85, 85])
    assert {d.label for d in found["A red car"]} == {"A red car"}


@pytest.mark.parametrize("phrases", [[], ["a cat", " . "]])
def test_no_usable_phrase_is_an_input_error(detector, coffee, phrases):
    with pytest.raises(InputError):
        detect(detector, coffee, phrases)
