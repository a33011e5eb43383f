"""Evaluation sets: an item is a picture and one or more turns, kept as plain JSON Lines.

A line of the plain format:

    {"id": "coffee-red-cup", "image": "../images/coffee.jpg", "turns": ["make the cup red"], "task": "color_alter"}

`image` is a path relative to the set's file (or absolute), or `skimage:NAME` for one of the photos
scikit-image ships (`skimage.data.NAME`). `task` is optional: the benchmark's task type, kept for the
summary. Converters (agent/eval/converters.py) write the other benchmarks' layouts in this form.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from PIL import Image

from chatedit.tools.errors import InputError

ROUNDS_SET = Path(__file__).with_name("rounds.jsonl")
"""The built-in set of photos and everyday turns that `--rounds` runs."""

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


@dataclass(frozen=True)
class Item:
    """One picture and the turns said to it, in order."""

    id: str
    """A name unique in its set: letters, digits, '.', '-' or '_' (it names the item's output folder)."""
    image: str
    """Where the picture is: a path, or `skimage:NAME`."""
    turns: list[str]
    """The instructions, one per turn."""
    task: Optional[str] = None
    """The benchmark's task type (GEdit-Bench's `task_type`, ImgEdit's `edit_type`), if it has one."""
    meta: dict = field(default_factory=dict)
    """What else the benchmark says of the item (its language, its own key), kept in the results."""

    def picture(self) -> Image.Image:
        """Gives back the item's picture, in RGB."""
        if self.image.startswith("skimage:"):
            from skimage import data

            name = self.image.removeprefix("skimage:")
            if not hasattr(data, name):
                raise InputError(f"Item {self.id}: scikit-image has no photo {name!r} (see skimage.data).")
            return Image.fromarray(getattr(data, name)()).convert("RGB")
        path = Path(self.image)
        if not path.is_file():
            raise InputError(f"Item {self.id}: its picture {path} is not there; fix the set's `image` field.")
        with Image.open(path) as picture:
            return picture.convert("RGB")


def item_of(record: dict, base: Path, where: str) -> Item:
    """Gives back the item a plain-format record describes, its picture path resolved against `base`."""
    if not isinstance(record, dict):
        raise InputError(f"{where}: an item is a JSON object with id, image and turns.")
    missing = [key for key in ("id", "image", "turns") if key not in record]
    if missing:
        raise InputError(f"{where}: the item has no {', '.join(missing)}; each line needs id, image and turns.")
    item_id, image, turns = str(record["id"]), str(record["image"]), record["turns"]
    if not _ID.match(item_id):
        raise InputError(f"{where}: the id {item_id!r} must be 1-128 letters, digits, '.', '-' or '_'.")
    if isinstance(turns, str):
        turns = [turns]
    if not turns or not all(isinstance(turn, str) and turn.strip() for turn in turns):
        raise InputError(f"{where}: `turns` must be a list of one or more instructions.")
    if not image.startswith("skimage:") and not Path(image).is_absolute():
        image = str((base / image).resolve())
    meta = {key: value for key, value in record.items() if key not in ("id", "image", "turns", "task")}
    return Item(item_id, image, [turn.strip() for turn in turns], record.get("task"), meta)


def read_set(path: Path) -> list[Item]:
    """Gives back the items of a plain JSONL set, in order.

    Raises:
        InputError: the file is missing, a line is not JSON or not an item, or two items share an id.
    """
    if not path.is_file():
        raise InputError(f"No set file {path}; give a JSONL file of {{id, image, turns}} lines.")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path} line {number} is not JSON ({exc.msg}).") from exc
        items.append(item_of(record, path.parent, f"{path} line {number}"))
    return unique(items, str(path))


def unique(items: list[Item], where: str) -> list[Item]:
    """Gives back `items` when every id is used once, else raises InputError naming the repeated id."""
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            raise InputError(f"{where}: the id {item.id!r} is used twice; every item needs its own.")
        seen.add(item.id)
    if not items:
        raise InputError(f"{where} holds no items.")
    return items


def with_rounds(items: Iterable[Item], rounds: int) -> list[Item]:
    """Gives back the items with exactly `rounds` turns each: their turns repeated in order, then cut."""
    if rounds < 1:
        raise InputError("--rounds must be at least 1.")
    return [
        Item(item.id, item.image, [item.turns[i % len(item.turns)] for i in range(rounds)], item.task, item.meta)
        for item in items
    ]


def write_set(items: Iterable[Item], path: Path) -> None:
    """Writes items as a plain JSONL set (the form converters give back)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for item in items:
            record = {key: value for key, value in asdict(item).items() if value not in (None, {})}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
