"""Every set format read from a small set written here, in each benchmark's layout."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from chatedit.agent.eval.converters import read_items
from chatedit.agent.eval.sets import ROUNDS_SET, read_set, with_rounds, write_set
from chatedit.tools.errors import InputError


@pytest.fixture
def picture(small_photo) -> Image.Image:
    return small_photo


def test_the_plain_set_resolves_pictures_beside_it_and_refuses_repeated_ids(tmp_path, picture):
    picture.save(tmp_path / "p.png")
    lines = [
        {"id": "one", "image": "p.png", "turns": ["make the cup red"], "task": "color"},
        {"id": "two", "image": "p.png", "turns": "remove the spoon", "lang": "en"},
    ]
    (tmp_path / "set.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")

    items = read_set(tmp_path / "set.jsonl")

    assert [item.id for item in items] == ["one", "two"]
    assert items[0].image == str((tmp_path / "p.png").resolve()) and items[0].task == "color"
    assert items[1].turns == ["remove the spoon"] and items[1].meta == {"lang": "en"}
    assert items[0].picture().size == picture.size
    (tmp_path / "twice.jsonl").write_text(json.dumps(lines[0]) + "\n" + json.dumps(lines[0]) + "\n")
    with pytest.raises(InputError, match="used twice"):
        read_set(tmp_path / "twice.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"id": "x", "image": "p.png"}\n')
    with pytest.raises(InputError, match="no turns"):
        read_set(tmp_path / "bad.jsonl")


def test_written_sets_read_back_and_rounds_repeat_the_turns(tmp_path, picture):
    picture.save(tmp_path / "p.png")
    (tmp_path / "set.jsonl").write_text(json.dumps({"id": "a", "image": "p.png", "turns": ["x one", "y two"]}) + "\n")
    items = with_rounds(read_set(tmp_path / "set.jsonl"), 5)
    write_set(items, tmp_path / "out" / "set.jsonl")

    again = read_set(tmp_path / "out" / "set.jsonl")
    assert again[0].turns == ["x one", "y two", "x one", "y two", "x one"]
    built_in = read_set(ROUNDS_SET)
    assert len(built_in) >= 3 and all(len(item.turns) >= 10 for item in built_in)
    assert built_in[0].picture().size[0] > 0


def test_gedit_bench_records_with_step1x_edit_pictures(tmp_path, picture):
    folder = tmp_path / "fullset" / "color_alter" / "en"
    folder.mkdir(parents=True)
    picture.save(folder / "a1b2_SRCIMG.png")
    (tmp_path / "own.png").write_bytes((folder / "a1b2_SRCIMG.png").read_bytes())
    records = [
        {"key": "a1b2", "task_type": "color_alter", "instruction": "make the cup red", "instruction_language": "en"},
        {"key": "a1b2", "task_type": "color_alter", "instruction": "把杯子变成红色", "instruction_language": "cn",
         "input_image": {"path": "own.png"}, "Intersection_exist": True},
    ]  # fmt: skip
    (tmp_path / "gedit.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")

    both = read_items("gedit", tmp_path / "gedit.jsonl", tmp_path, tmp_path)
    english = read_items("gedit", tmp_path / "gedit.jsonl", tmp_path, tmp_path, language="en")

    assert [item.id for item in both] == ["a1b2_en", "a1b2_cn"]
    assert both[1].image == str((tmp_path / "own.png").resolve()) and both[1].meta["intersection_exist"] is True
    assert [(i.turns, i.task, i.meta["language"]) for i in english] == [(["make the cup red"], "color_alter", "en")]
    (tmp_path / "missing.json").write_text(json.dumps([{**records[0], "key": "zz"}]))
    with pytest.raises(InputError, match="--images"):
        read_items("gedit", tmp_path / "missing.json", tmp_path, tmp_path)


def test_imgedit_single_and_multi_turn_records(tmp_path, picture):
    (tmp_path / "animal").mkdir()
    picture.save(tmp_path / "animal" / "000001.jpg")
    basic = {"7": {"id": "animal/000001.jpg", "prompt": "Remove the spoon.", "edit_type": "remove"}}
    multi = {"1": {"id": "animal/000001.jpg", "turn2": "Make the cup red", "turn1": "Remove the spoon"}}
    (tmp_path / "basic_edit.json").write_text(json.dumps(basic))
    (tmp_path / "content_memory.json").write_text(json.dumps(multi))

    single = read_items("imgedit", tmp_path / "basic_edit.json", tmp_path, tmp_path)
    turns = read_items("imgedit", tmp_path / "content_memory.json", None, tmp_path)

    assert [(i.id, i.turns, i.task) for i in single] == [("7", ["Remove the spoon."], "remove")]
    assert [(i.id, i.turns, i.task) for i in turns] == [
        ("1", ["Remove the spoon", "Make the cup red"], "content_memory")
    ]
    with pytest.raises(InputError, match="no picture"):
        read_items("imgedit", tmp_path / "basic_edit.json", tmp_path / "elsewhere", tmp_path)


def _edival_csv(path: Path) -> None:
    header = ["image_index", "turns", "task_type", "instructions", "format_instructions", "bg_consistency"]
    rows = [
        [0, 1, "['subject_remove']", "['Remove spoon']", "['Remove [spoon]']", True],
        [
            0,
            2,
            "['subject_remove', 'color_alter']",
            "['Remove spoon', '\"Change the color of cup to red\"']",
            "[]",
            True,
        ],
        [3, 1, "['subject_add']", "['Add cookie on the left of cup']", "[]", True],
    ]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_edival_rows_from_the_zip_keep_each_pictures_longest_turns(tmp_path, picture):
    _edival_csv(tmp_path / "oai_instruction_generation_output.csv")
    picture.save(tmp_path / "0_input_raw.jpg")
    picture.save(tmp_path / "3_input_raw.jpg")
    with zipfile.ZipFile(tmp_path / "input_images_resize_512.zip", "w") as archive:
        archive.write(tmp_path / "0_input_raw.jpg", "input_images_resize_512/0_input_raw.jpg")
        archive.write(tmp_path / "3_input_raw.jpg", "input_images_resize_512/3_input_raw.jpg")
    work = tmp_path / "work"

    items = read_items("edival", tmp_path / "oai_instruction_generation_output.csv", None, work)

    assert [(i.id, i.turns) for i in items] == [
        ("edival_0", ["Remove spoon", "Change the color of cup to red"]),
        ("edival_3", ["Add cookie on the left of cup"]),
    ]
    assert items[0].meta["task_types"] == ["subject_remove", "color_alter"]
    assert Path(items[0].image).parent == (work / "edival-images").resolve()
    assert items[0].picture().size == picture.size
    folder = read_items("edival", tmp_path / "oai_instruction_generation_output.csv", tmp_path, work)
    assert folder[1].image == str((tmp_path / "3_input_raw.jpg").resolve())


def test_an_unknown_format_says_which_there_are(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(InputError, match="jsonl, gedit, imgedit, edival"):
        read_items("magicbrush", tmp_path / "x.json", None, tmp_path)
