"""The referring-expression set (tests/data/referring.toml): its scenes painted, and run through find_region.

A scene becomes a picture with its objects painted in (so a colour test reads real pixels) and a
scripted toolbox: its detector finds an object when the phrase holds one of the object's names, as
an open-vocabulary detector finds "cup" in "the second cup from the right"; its segmenter gives back
the object's painted pixels. Each item's step goes through `find_region` the way the `locate` node
sends it, and the outcome is compared with the label.

Used by tests/test_refer.py and scripts/referring_eval.py (which prints the accuracy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tomllib
from PIL import Image, ImageColor

from chatedit.agent.config import EditSettings
from chatedit.agent.plan import Step
from chatedit.agent.regions import Ask, Found, NotFound, find_region
from chatedit.agent.rules import plan_rules
from chatedit.tools.detect import Detection
from chatedit.tools.masks import box_mask

DATA = Path(__file__).parent / "data" / "referring.toml"
SIZE = (320, 240)
HORIZON = 150
"""Where a scene's wall meets its floor."""


@dataclass
class Scene:
    """A painted picture, each object's visible pixels, and the detections each object gives."""

    image: Image.Image
    masks: dict[str, np.ndarray]
    objects: list[dict]


@dataclass
class SceneToolbox:
    """A finder over a painted scene: detection by name, segmentation by the painted pixels."""

    scene: Scene
    settings: EditSettings = field(default_factory=EditSettings)
    phrases: list[str] = field(default_factory=list)
    """Every phrase the detector was asked for."""

    def detect(self, image: Image.Image, phrases: list[str]) -> dict[str, list[Detection]]:
        self.phrases.extend(phrases)
        return {phrase: self._found(phrase) for phrase in phrases}

    def _found(self, phrase: str) -> list[Detection]:
        words = set(re.findall(r"[a-z]+", phrase.lower()))
        hits = [
            Detection(phrase, tuple(float(v) for v in obj["box"]), float(obj.get("score", 0.8)))
            for obj in self.scene.objects
            if any(noun in words or f"{noun}s" in words for noun in obj["nouns"])
        ]
        return sorted(hits, key=lambda d: -d.score)

    def segment_box(self, image: Image.Image, box) -> np.ndarray:
        for obj in self.scene.objects:
            if [float(v) for v in obj["box"]] == [float(v) for v in box]:
                return self.scene.masks[obj["id"]].copy()
        return box_mask((image.height, image.width), box)


def load() -> tuple[dict, list[dict]]:
    """Gives back the set's scenes (by name) and items."""
    with open(DATA, "rb") as handle:
        data = tomllib.load(handle)
    return data["scenes"], data["items"]


def _rgb(colour: str) -> np.ndarray:
    return np.array(ImageColor.getrgb(colour)[:3], float)


def _ellipse(box, shape: tuple[int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    return ((xs + 0.5 - cx) / rx) ** 2 + ((ys + 0.5 - cy) / ry) ** 2 <= 1.0


def _person(box, clothes: dict, shape: tuple[int, int]) -> list[tuple[np.ndarray, str]]:
    """Gives back a person's parts (mask, colour): a head over a shirt and trousers, or a dress."""
    x0, y0, x1, y1 = box
    height, width = y1 - y0, x1 - x0
    neck, waist = y0 + 0.2 * height, y0 + 0.55 * height
    head = _ellipse((x0 + 0.3 * width, y0, x1 - 0.3 * width, neck), shape)
    parts = [(head, "#e1b28f")]
    if "dress" in clothes:
        parts.append((box_mask(shape, (x0 + 0.1 * width, neck, x1 - 0.1 * width, y1)), clothes["dress"]))
    else:
        parts.append((box_mask(shape, (x0, neck, x1, waist)), clothes["shirt"]))
        parts.append((box_mask(shape, (x0 + 0.15 * width, waist, x1 - 0.15 * width, y1)), clothes["trousers"]))
    return parts


def paint(spec: dict, seed: int = 0) -> Scene:
    """Gives back the scene of a spec: a wall and a floor, the objects shaded and grainy as in a photo."""
    width, height = SIZE
    rng = np.random.default_rng(seed)
    wall, floor = spec["background"]
    pixels = np.empty((height, width, 3), float)
    pixels[:HORIZON], pixels[HORIZON:] = _rgb(wall), _rgb(floor)
    owner = np.full((height, width), "", dtype=object)
    # Light from above: each object is brighter at its top than at its bottom.
    shade = np.linspace(1.1, 0.8, height)[:, None, None]
    for obj in spec["objects"]:
        kind = obj.get("shape", "box")
        if kind == "person":
            parts = _person(obj["box"], obj["clothes"], (height, width))
        elif kind == "ellipse":
            parts = [(_ellipse(obj["box"], (height, width)), obj["paint"])]
        else:
            parts = [(box_mask((height, width), obj["box"]), obj["paint"])]
        for mask, colour in parts:
            lit = np.clip(_rgb(colour)[None, None, :] * shade, 0, 255)
            pixels[mask] = np.broadcast_to(lit, pixels.shape)[mask]
            owner[mask] = obj["id"]
    pixels += rng.normal(0, 6, pixels.shape)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    masks = {obj["id"]: owner == obj["id"] for obj in spec["objects"]}
    return Scene(image, masks, spec["objects"])


@dataclass
class Outcome:
    """What find_region did with one item, and whether that is what the label says."""

    item: dict
    got: str | list[str]
    """The ids acted on, or "ask" or "not_found"."""
    offered: list[str]
    """For a question, the ids it offers."""
    phrases: list[str]
    """What the detector was asked for."""

    @property
    def correct(self) -> bool:
        expect = self.item["expect"]
        if isinstance(expect, str):
            among = self.item.get("ask_among")
            return self.got == expect and (among is None or sorted(among) == sorted(self.offered))
        return isinstance(self.got, list) and sorted(self.got) == sorted(expect)


def planned_step(item: dict) -> Step:
    """Gives back the item's step: the rules planner's for the instruction, or the labelled LLM step."""
    if item.get("planner", "rules") == "rules":
        return plan_rules(item["instruction"]).steps[item.get("step", 0)]
    return Step(
        category=item["category"], target=item["target"], prompt=item["instruction"], instruction=item["instruction"]
    )


def _ids(scene: Scene, mask: np.ndarray) -> list[str]:
    """Gives back the objects a mask covers (at least nine tenths of each one's visible pixels)."""
    return [name for name, own in scene.masks.items() if own.any() and mask[own].mean() >= 0.9]


def _id_of(scene: Scene, box) -> str:
    return next(o["id"] for o in scene.objects if [float(v) for v in o["box"]] == [float(v) for v in box])


def run(item: dict, scenes: dict) -> Outcome:
    """Gives back what find_region does with the item's step in its scene, sent as the `locate` node sends it."""
    scene = paint(scenes[item["scene"]])
    toolbox = SceneToolbox(scene)
    step = planned_step(item)
    found = find_region(
        step.model_dump(),
        scene.image,
        toolbox,
        words=step.instruction,
    )
    if isinstance(found, Found):
        return Outcome(item, _ids(scene, found.mask), [], toolbox.phrases)
    if isinstance(found, Ask):
        return Outcome(item, "ask", [_id_of(scene, d.box) for d in found.candidates], toolbox.phrases)
    assert isinstance(found, NotFound)
    return Outcome(item, "not_found", [], toolbox.phrases)


def run_all() -> list[Outcome]:
    """Gives back the outcome of every item of the set."""
    scenes, items = load()
    return [run(item, scenes) for item in items]
