"""The public benchmarks' layouts read as items (agent/eval/sets.py); none of their items ship here.

- `gedit`: GEdit-Bench (stepfun-ai/GEdit-Bench; Step1X-Edit's GEdit-Bench/): 606 prompts in 11 task
  types, each in English (`en`) and Chinese (`cn`). The records, exported from the Hugging Face set
  as JSON or JSONL, hold `key`, `task_type`, `instruction`, `instruction_language` and `input_image` (a
  path, or `{"path": ...}`). Without one, the picture is looked for as Step1X-Edit's script saves it,
  `IMAGES/fullset/<task_type>/<language>/<key>_SRCIMG.png`, then `IMAGES/<key>.png` or `.jpg`.
- `imgedit`: ImgEdit (PKU-YuanGroup/ImgEdit, Benchmark/): a JSON object of `key -> record`. A
  single-turn record (Basic/basic_edit.json, UGE) has `id` (the picture's path under the image root),
  `prompt` and `edit_type`; a multi-turn record (Multiturn/) has `id` and `turn1`, `turn2`, `turn3`.
- `edival`: EdiVal-Agent (TianyuCodings/EdiVal): oai_instruction_generation_output.csv, one row per
  picture and prefix of its turns (`turns` 1, 2, 3), `instructions` and `task_type` as Python list
  literals; the pictures are `<image_index>_input_raw.jpg` (or .png) in a folder or in the zip
  (input_images_resize_512.zip) beside it. The row with the most turns gives an item's turns.
"""

from __future__ import annotations

import ast
import csv
import json
import re
import zipfile
from pathlib import Path
from typing import Callable, Optional

from chatedit.agent.eval.sets import Item, read_set, unique
from chatedit.tools.errors import InputError

FORMATS = ("jsonl", "gedit", "imgedit", "edival")
"""What `--format` takes: the plain set, then one per benchmark layout."""

_TURN = re.compile(r"^turn(\d+)$")


def read_items(
    fmt: str, source: Path, images: Optional[Path], work: Path, language: Optional[str] = None
) -> list[Item]:
    """Gives back the items of `source` read in layout `fmt`.

    Args:
        fmt: one of FORMATS.
        source: the set's file (JSONL, JSON or CSV, as the layout has it).
        images: where the benchmark's pictures are (a folder, or EdiVal's zip); None: beside `source`.
        work: a folder of this run, where pictures taken out of a zip are written.
        language: GEdit-Bench only: keep the instructions in this language (`en` or `cn`); None keeps both.

    Raises:
        InputError: an unknown layout, a missing file or field, or a picture that is not there.
    """
    readers: dict[str, Callable[[], list[Item]]] = {
        "jsonl": lambda: read_set(source),
        "gedit": lambda: gedit(source, images or source.parent, language),
        "imgedit": lambda: imgedit(source, images or source.parent),
        "edival": lambda: edival(source, images or _edival_zip(source), work),
    }
    if fmt not in readers:
        raise InputError(f"Unknown set format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if not source.is_file():
        raise InputError(f"No set file {source}; give the benchmark's metadata file.")
    return unique(readers[fmt](), str(source))


def _records(source: Path) -> list[dict]:
    """Gives back the JSON records of a file: a JSON list, a JSON object of records, or JSON Lines."""
    text = source.read_text(encoding="utf-8")
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError:
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise InputError(f"{source} is neither JSON nor JSON Lines ({exc.msg}).") from exc
    if isinstance(loaded, dict):
        return [{"__key": key, **record} for key, record in loaded.items() if isinstance(record, dict)]
    if isinstance(loaded, list):
        return loaded
    raise InputError(f"{source} holds no records: expected a list or an object of them.")


def _needs(record: dict, fields: tuple[str, ...], where: str) -> None:
    missing = [name for name in fields if name not in record]
    if missing:
        raise InputError(f"{where}: a record has no {', '.join(missing)}; is this the right --format?")


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_")[:128] or "item"


def gedit(source: Path, images: Path, language: Optional[str]) -> list[Item]:
    """Gives back GEdit-Bench's records as single-turn items, `<key>_<language>` named."""
    items = []
    for record in _records(source):
        _needs(record, ("key", "task_type", "instruction", "instruction_language"), str(source))
        lang = str(record["instruction_language"])
        if language is not None and lang != language:
            continue
        key, task = str(record["key"]), str(record["task_type"])
        picture = _gedit_picture(record.get("input_image"), images, key, task, lang, source)
        meta = {"key": key, "language": lang}
        if "Intersection_exist" in record:
            meta["intersection_exist"] = record["Intersection_exist"]
        items.append(Item(_safe_id(f"{key}_{lang}"), str(picture), [str(record["instruction"])], task, meta))
    return items


def _gedit_picture(given, images: Path, key: str, task: str, lang: str, source: Path) -> Path:
    """Gives back where a GEdit-Bench item's picture is: its own path, else where Step1X-Edit saves it."""
    named = given.get("path") if isinstance(given, dict) else given
    candidates = [Path(named) if Path(named).is_absolute() else source.parent / named] if named else []
    candidates += [images / "fullset" / task / lang / f"{key}_SRCIMG.png", images / f"{key}.png", images / f"{key}.jpg"]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    raise InputError(
        f"GEdit-Bench item {key}: no picture at {candidates[0]}; give --images, the folder of the saved pictures."
    )


def imgedit(source: Path, images: Path) -> list[Item]:
    """Gives back ImgEdit's records as items: single-turn (`prompt`) or multi-turn (`turn1`, `turn2`, ...)."""
    items = []
    for record in _records(source):
        _needs(record, ("__key", "id"), f"{source} (an object of key -> record)")
        turns = sorted((int(m.group(1)), str(v)) for k, v in record.items() if (m := _TURN.match(k)))
        task: Optional[str]
        if turns:
            said, task = [text for _, text in turns], str(source.stem)
        else:
            _needs(record, ("prompt",), str(source))
            said, task = [str(record["prompt"])], record.get("edit_type")
        picture = images / str(record["id"])
        if not picture.is_file():
            raise InputError(f"ImgEdit item {record['__key']}: no picture {picture}; give --images, the image root.")
        meta = {"key": str(record["__key"])}
        items.append(Item(_safe_id(record["__key"]), str(picture.resolve()), said, task, meta))
    return items


def _edival_zip(source: Path) -> Path:
    zipped = source.parent / "input_images_resize_512.zip"
    return zipped if zipped.is_file() else source.parent


def edival(source: Path, images: Path, work: Path) -> list[Item]:
    """Gives back EdiVal-Agent's pictures as items, each with the turns of its longest row."""
    with source.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    longest: dict[str, dict] = {}
    for row in rows:
        _needs(row, ("image_index", "turns", "instructions"), str(source))
        index = row["image_index"]
        if index not in longest or int(row["turns"]) > int(longest[index]["turns"]):
            longest[index] = row
    items = []
    for index, row in longest.items():
        turns = _literal_list(row["instructions"], f"{source}, image {index}")
        tasks = _literal_list(row.get("task_type") or "[]", f"{source}, image {index}")
        picture = _edival_picture(images, index, work)
        meta = {"image_index": index, "task_types": tasks}
        items.append(Item(_safe_id(f"edival_{index}"), str(picture), turns, None, meta))
    return items


def _literal_list(text: str, where: str) -> list[str]:
    """Gives back a Python list literal's strings (EdiVal writes its lists so), read without running code."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise InputError(f"{where}: {text[:60]!r} is not a list literal.") from exc
    values = value if isinstance(value, list) else [value]
    return [str(v).strip().strip('"').strip() for v in values]


def _edival_picture(images: Path, index: str, work: Path) -> Path:
    """Gives back the path of EdiVal picture `index`, taken out of the zip into `work` when it is zipped."""
    names = [f"{index}_input_raw.jpg", f"{index}_input_raw.png"]
    if images.is_dir():
        for name in names:
            if (images / name).is_file():
                return (images / name).resolve()
    elif zipfile.is_zipfile(images):
        with zipfile.ZipFile(images) as archive:
            members = {Path(member).name: member for member in archive.namelist()}
            for name in names:
                if name in members:
                    target = work / "edival-images" / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(archive.read(members[name]))
                    return target.resolve()
    raise InputError(
        f"EdiVal image {index}: no {names[0]} in {images}; give --images, the folder or zip of the pictures."
    )
