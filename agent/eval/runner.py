"""Runs a set through the agent (and the baseline beside it), writes every picture and a line per item.

DIR/run.json says what ran; DIR/results.jsonl gets one JSON line per finished item; each item's
pictures are DIR/items/<id>/<system>/turn_NN.png, with the union of its masks so far beside them
(turn_NN_mask.png). A run that stopped resumes: items with a result line are not run again, and a
run with other settings in the same folder is refused. PSNR of identical regions is written as
Infinity (Python's json reads it back).

Each turn of each system is scored (agent/eval/scores.py) outside the union of chatedit's masks up
to that turn against the original, and inside that turn's mask against the previous turn; the
baseline is scored on chatedit's masks, the regions the instructions were found to name. A step
edited with no mask (a global edit) makes the whole picture its mask.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
from PIL import Image

from chatedit.agent.eval import scores
from chatedit.agent.eval.baseline import whole_image
from chatedit.agent.eval.judge import Judge
from chatedit.agent.eval.sets import Item
from chatedit.tools.errors import InputError

RESULTS = "results.jsonl"
RUN = "run.json"
EDITED = ("done", "failed")
"""Step statuses that kept an edit (a failed step keeps its best try)."""

TurnCallback = Callable[[str, int], None]


def read_results(out: Path) -> dict[str, dict]:
    """Gives back the finished items' results in DIR/results.jsonl by id (the last line of an id wins)."""
    path = out / RESULTS
    if not path.is_file():
        return {}
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            result = json.loads(line)
            found[result["id"]] = result
    return found


def start_run(out: Path, settings: dict) -> None:
    """Writes DIR/run.json, or checks that the run found there had these settings (else raises InputError)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / RUN
    if path.is_file():
        before = json.loads(path.read_text(encoding="utf-8"))
        if before != settings:
            changed = sorted(key for key in {*before, *settings} if before.get(key) != settings.get(key))
            raise InputError(
                f"{out} holds a run with other settings ({', '.join(changed)}); give a new --out, "
                "or the same options to resume it."
            )
        return
    path.write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")


@dataclass
class Runner:
    """Runs items through an Editor, the baseline beside it when asked, and scores every turn."""

    editor: Any
    """The `Editor` (the same settings as `chatedit edit`)."""
    out: Path
    baseline: Optional[str] = None
    judge: Optional[Judge] = None
    perceptual: scores.Perceptual = field(default_factory=scores.Perceptual)
    on_turn: Optional[TurnCallback] = None
    """Called with the system ("chatedit", "baseline") and turn number after each turn."""

    def run(self, item: Item) -> dict:
        """Gives back the item's result (a failed item's holds its `error`) and appends it to results.jsonl."""
        try:
            result = self._item(item)
        except InputError as exc:
            result = {"id": item.id, "task": item.task, "error": str(exc)}
        with (self.out / RESULTS).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(result, default=str) + "\n")
        return result

    def _item(self, item: Item) -> dict:
        folder = self.out / "items" / item.id
        original, turns = self._chatedit(item, folder / "chatedit")
        systems = {"chatedit": turns}
        if self.baseline is not None:
            systems["baseline"] = self._baseline(item, original, turns, folder / "baseline")
        rows = []
        for number, instruction in enumerate(item.turns):
            rows.append({"turn": number + 1, "instruction": instruction, **{s: t[number] for s, t in systems.items()}})
        return {"id": item.id, "task": item.task, "meta": item.meta, "size": list(original.size), "turns": rows}

    def _chatedit(self, item: Item, folder: Path) -> tuple[Image.Image, list[dict]]:
        """Gives back the original as the session keeps it, and chatedit's scored turns."""
        session = self.editor.session()
        picture: Optional[Image.Image] = item.picture()
        original: Optional[Image.Image] = None
        previous = union = None
        turns = []
        for number, instruction in enumerate(item.turns):
            started = time.perf_counter()
            turn = session.send(instruction, image=picture)
            picture = None
            if original is None:
                original = session.history()[0].image
                previous, union = original, np.zeros((original.height, original.width), bool)
            mask = self._turn_mask(turn.report, original.size)
            union = union | mask
            after = turn.image or previous
            record = self._scored(original, previous, after, union, mask, instruction, folder, number)
            record.update(
                seconds=round(time.perf_counter() - started, 2),
                message=turn.message,
                question=bool(turn.report.get("question")),
                steps=[{"category": s["category"], "status": s["status"]} for s in turn.report.get("steps", [])],
            )
            turns.append(record)
            previous = after
            self._said("chatedit", number)
        assert original is not None
        return original, turns

    def _baseline(self, item: Item, original: Image.Image, chatedit: list[dict], folder: Path) -> list[dict]:
        """Gives back the baseline's scored turns, on chatedit's masks of the same turns."""
        previous, union = original, np.zeros((original.height, original.width), bool)
        seed = self.editor.context.seed
        turns = []
        started = time.perf_counter()
        outputs = whole_image(self.editor.toolbox, original, item.turns, seed)
        for number, after in enumerate(outputs):
            mask = _read_mask(self.out / chatedit[number]["turn_mask"], original.size)
            union = union | mask
            record = self._scored(original, previous, after, union, mask, item.turns[number], folder, number)
            record["seconds"] = round(time.perf_counter() - started, 2)
            turns.append(record)
            previous, started = after, time.perf_counter()
            self._said("baseline", number)
        return turns

    def _turn_mask(self, report: dict, size: tuple[int, int]) -> np.ndarray:
        """Gives back where the turn's kept edits were allowed to change pixels (bool, the picture's size)."""
        region = np.zeros((size[1], size[0]), bool)
        for step in report.get("steps", []):
            if step.get("status") not in EDITED:
                continue
            if step.get("mask") is None:
                return np.ones_like(region)
            mask = self.editor.store.get_mask(step["mask"]) > 0
            region |= mask if mask.shape == region.shape else _resized(mask, size)
        return region

    def _scored(self, original, previous, after, union, mask, instruction, folder: Path, number: int) -> dict:
        """Gives back one turn's scores, its picture and masks written under `folder`."""
        folder.mkdir(parents=True, exist_ok=True)
        name = f"turn_{number + 1:02d}"
        after.save(folder / f"{name}.png")
        Image.fromarray(union).save(folder / f"{name}_mask.png")
        Image.fromarray(mask).save(folder / f"{name}_turn_mask.png")
        base, before, now = scores.as_array(original), scores.as_array(previous), scores.as_array(after, original.size)
        record: dict[str, Any] = {
            "image": str((folder / f"{name}.png").relative_to(self.out)),
            "mask": str((folder / f"{name}_mask.png").relative_to(self.out)),
            "turn_mask": str((folder / f"{name}_turn_mask.png").relative_to(self.out)),
            "outside": scores.region_scores(base, now, ~union, self.perceptual),
            "inside": scores.region_scores(before, now, mask, self.perceptual),
            "shift": scores.shift(original, after, ~union),
        }
        if self.judge is not None:
            record["judge"] = self.judge.score(previous, after, instruction)
        return record

    def _said(self, system: str, number: int) -> None:
        if self.on_turn is not None:
            self.on_turn(system, number)


def _resized(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(mask).resize(size, Image.Resampling.NEAREST), bool)


def _read_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    with Image.open(path) as image:
        mask = np.asarray(image.convert("L")) > 0
    return mask if mask.shape == (size[1], size[0]) else _resized(mask, size)
