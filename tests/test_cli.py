"""The `chatedit` command on tiny models with the rules planner: edit, chat, plan, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from chatedit.agent import cli
from chatedit.agent.cli import chat as cli_chat
from chatedit.agent.cli import common
from chatedit.agent.cli import models as cli_models
from chatedit.agent.cli import progress as cli_progress
from chatedit.agent.cli import support as cli_support
from chatedit.agent.session import Editor
from chatedit.agent.toolbox import EditSettings
from chatedit.tools.errors import DamagedImageError, InputError

ROOT = Path(__file__).resolve().parents[1]
FAST = EditSettings(inpaint_steps=2, global_steps=2, global_max_side=64)
TINY = ["--models", "tiny", "--planner", "rules", "--max-attempts", "1"]


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("CHATEDIT_DATA_DIR", str(tmp_path / "data"))
    # Few denoising steps at a small working size: the commands are the subject here, not the pictures.
    make_editor = common.make_editor
    monkeypatch.setattr(common, "make_editor", lambda config: make_editor(config.model_copy(update={"edit": FAST})))
    return CliRunner()


@pytest.fixture
def photo_path(tmp_path, coffee) -> Path:
    path = tmp_path / "photo.png"
    coffee.resize((96, 64), Image.Resampling.BICUBIC).save(path)
    return path


def run_module(*args: str, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs `python -m chatedit.agent.cli ARGS` the way a shell would, with stdin as a pipe."""
    return subprocess.run(
        [sys.executable, "-m", "chatedit.agent.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_edit_writes_the_image_and_prints_the_report(runner, photo_path, tmp_path):
    out = tmp_path / "out.png"
    debug = tmp_path / "debug"
    result = runner.invoke(
        cli.app,
        [
            "edit",
            str(photo_path),
            "add a red balloon and make it look like a watercolor painting",
            "-o",
            str(out),
            "--json",
            "--debug-dir",
            str(debug),
            *TINY,
        ],
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)  # one JSON object and nothing else
    assert report["output"] == str(out)
    assert Image.open(out).size == (96, 64)
    assert report["planner"] == "rules"
    assert report["llm_calls"] == 0
    assert report["message"]
    assert isinstance(report["timings_ms"], dict) and report["timings_ms"]
    assert [s["category"] for s in report["steps"]] == ["add", "global"]
    for step in report["steps"]:
        assert {"category", "target", "prompt", "passed", "mask", "attempts"} <= set(step)
    add = report["steps"][0]
    assert Path(add["mask"]).parent == debug and Path(add["mask"]).is_file()
    assert all(Path(a["mask"]).is_file() for a in add["attempts"])
    assert "Plan (rules)" in result.stderr and "Step 1/2" in result.stderr


def test_edit_with_a_drawn_mask_changes_only_that_region(runner, photo_path, tmp_path):
    """--mask is the region of every step: no detection, and outside the mask's seam the pixels are the photo's."""
    region = np.zeros((64, 96), bool)
    region[10:40, 20:60] = True
    mask_path = tmp_path / "mask.png"
    # The OpenAI convention: the picture itself with the region cut out as fully transparent pixels.
    cut = Image.open(photo_path).convert("RGBA")
    alpha = np.full((64, 96), 255, np.uint8)
    alpha[region] = 0
    cut.putalpha(Image.fromarray(alpha))
    cut.save(mask_path)
    out = tmp_path / "out.png"
    result = runner.invoke(
        cli.app,
        ["edit", str(photo_path), "remove the giraffe", "-o", str(out), "--mask", str(mask_path), "--json", *TINY],
    )
    assert result.exit_code == 0, result.stderr
    step = json.loads(result.stdout)["steps"][0]
    assert step["region_source"] == "user mask" and step["status"] != "not_found"
    before, after = np.asarray(Image.open(photo_path).convert("RGB")), np.asarray(Image.open(out))
    assert np.array_equal(before[~region], after[~region])
    assert not np.array_equal(before[region], after[region])


@pytest.mark.parametrize("marks", [["--box", "10,8,60,50"], ["--point", "30,30", "--point", "40,20"]])
def test_edit_with_a_box_or_clicks_changes_only_what_they_outline(runner, photo_path, tmp_path, marks):
    out, debug = tmp_path / "out.png", tmp_path / "debug"
    args = ["edit", str(photo_path), "make it red", "-o", str(out), "--json", "--debug-dir", str(debug)]
    result = runner.invoke(cli.app, [*args, *marks, *TINY])
    assert result.exit_code == 0, result.stderr
    step = json.loads(result.stdout)["steps"][0]
    assert step["region_source"] == "user mask"
    region = np.asarray(Image.open(step["region"])) > 127
    before, after = np.asarray(Image.open(photo_path).convert("RGB")), np.asarray(Image.open(out))
    assert region.any() and not region.all()
    assert np.array_equal(before[~region], after[~region])


@pytest.mark.parametrize(
    ("marks", "said"),
    [
        (["--box", "10,8,600,50"], "reaches outside the 96x64 picture"),
        (["--box", "10,8"], "A box is four numbers"),
        (["--point", "30"], "A point is two numbers x,y"),
        (["--point", "30,30", "--point", "96,5"], "The point [96, 5] lies outside the 96x64 picture"),
        (["--mask", "MASK", "--box", "10,8,60,50"], "Give either a drawn mask or a box/point, not both"),
    ],
)
def test_edit_refuses_a_bad_box_or_point_before_any_model_loads(photo_path, tmp_path, monkeypatch, marks, said):
    def no_models(config):
        raise AssertionError("the models were loaded for input that needs none")

    monkeypatch.setattr(common, "make_editor", no_models)
    mask_path = tmp_path / "mask.png"
    Image.new("L", (96, 64), 255).save(mask_path)
    marks = [str(mask_path) if mark == "MASK" else mark for mark in marks]
    out = tmp_path / "out.png"
    result = CliRunner().invoke(cli.app, ["edit", str(photo_path), "make it red", "-o", str(out), *marks, *TINY])
    assert result.exit_code == 2 and said in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.output and not out.exists()


def test_edit_refuses_a_mask_of_another_size(runner, photo_path, tmp_path):
    mask_path = tmp_path / "mask.png"
    Image.new("L", (40, 40), 255).save(mask_path)
    out = tmp_path / "out.png"
    result = runner.invoke(
        cli.app, ["edit", str(photo_path), "make it blue", "-o", str(out), "--mask", str(mask_path), *TINY]
    )
    assert result.exit_code == 2
    assert "mask" in result.stderr.lower() and not out.exists()


def test_edit_writes_jpeg_by_extension(runner, photo_path, tmp_path):
    out = tmp_path / "out.jpg"
    result = runner.invoke(cli.app, ["edit", str(photo_path), "make it look like a sunset", "-o", str(out), *TINY])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    with Image.open(out) as written:
        assert written.format == "JPEG" and written.size == (96, 64)


def test_edit_with_no_edit_in_the_instruction_exits_2_and_writes_nothing(runner, photo_path, tmp_path):
    out = tmp_path / "out.png"
    result = runner.invoke(cli.app, ["edit", str(photo_path), "hello there", "-o", str(out), "--json", *TINY])
    assert result.exit_code == 2
    assert not out.exists()
    assert json.loads(result.stdout)["output"] is None
    assert "Nothing edited" in result.stderr


@pytest.mark.parametrize(
    "make_input, words",
    [
        (lambda tmp: tmp / "missing.png", "No file"),
        (lambda tmp: (tmp / "notes.png").write_text("not a picture") and tmp / "notes.png", "not an image"),
        (lambda tmp: tmp, "folder"),
    ],
    ids=["missing", "text-file", "directory"],
)
def test_bad_input_exits_2_with_one_sentence_and_no_traceback(tmp_path, make_input, words):
    out = tmp_path / "out.png"
    result = run_module("edit", str(make_input(tmp_path)), "remove the cup", "-o", str(out), *TINY)
    assert result.returncode == 2
    assert words in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not out.exists()


def test_usage_errors_exit_2(runner, photo_path, tmp_path):
    assert runner.invoke(cli.app, ["edit", str(photo_path), "remove the cup"]).exit_code == 2  # no -o
    bad_format = runner.invoke(cli.app, ["edit", str(photo_path), "remove the cup", "-o", str(tmp_path / "x.gif")])
    assert bad_format.exit_code == 2 and ".png, .jpg or .webp" in bad_format.stderr
    assert runner.invoke(cli.app, ["edit", str(photo_path), "x", "-o", "o.png", "--models", "huge"]).exit_code == 2


def test_internal_error_exits_1_with_the_traceback_only_when_asked(runner, photo_path, tmp_path, monkeypatch):
    def broken(config):
        raise RuntimeError("the device caught fire")

    monkeypatch.setattr(common, "make_editor", broken)
    args = ["edit", str(photo_path), "remove the cup", "-o", str(tmp_path / "o.png")]
    quiet = runner.invoke(cli.app, args)
    assert quiet.exit_code == 1
    assert "the device caught fire" in quiet.stderr and "Traceback" not in quiet.stderr
    loud = runner.invoke(cli.app, ["--verbose", *args])
    assert loud.exit_code == 1 and "Traceback" in loud.stderr


class _FailingSession:
    """A chat session whose turns raise `error`."""

    def __init__(self, error: Exception):
        self.error = error

    def history(self) -> list:
        return []

    def send(self, text, on_event=None):
        raise self.error


def test_a_failed_chat_turn_says_why_as_edit_does_and_the_chat_goes_on(capsys):
    cli_chat.chat_turn(_FailingSession(DamagedImageError("The stored picture is damaged; undo it.")), "make it red")
    said = capsys.readouterr().err
    assert "Error: The stored picture is damaged; undo it." in said and "Internal error" not in said
    cli_chat.chat_turn(_FailingSession(RuntimeError("the device caught fire")), "make it red")
    assert "Internal error: RuntimeError: the device caught fire" in capsys.readouterr().err


def test_the_live_view_shows_checks_and_verdicts_with_their_reasons():
    view = cli_progress.ProgressView()
    assert view.describe({"event": "checked", "passed": True}) == "  check: [green]passed[/]"
    failed = view.describe({"event": "verdict", "index": 2, "passed": False, "reason": "the cup [still] shows"})
    assert failed == "  step 2 verdict: [red]failed[/] (the cup \\[still] shows)"


def test_plan_over_a_jsonl_file_keeps_order_and_ids(runner, tmp_path):
    lines = [
        {"id": "b", "instruction": "remove the dog and make it look like winter"},
        {"id": "a", "instruction": "make the car red"},
        {"id": 7, "instruction": "hello there"},
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = runner.invoke(cli.app, ["plan", "--input", str(source)])
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["id"] for row in rows] == ["b", "a", 7]
    assert [s["category"] for s in rows[0]["steps"]] == ["remove", "global"]
    assert rows[0]["steps"][0]["target"] == "dog"
    assert [s["category"] for s in rows[1]["steps"]] == ["local"]
    assert rows[2]["steps"] == []
    assert {row["planner"] for row in rows} == {"rules"} and not any("planner_note" in row for row in rows)


def test_plan_of_one_instruction_and_a_malformed_line(runner, tmp_path):
    one = runner.invoke(cli.app, ["plan", "replace the cat with a fox"])
    assert one.exit_code == 0
    assert json.loads(one.stdout)["steps"][0]["category"] == "replace"
    source = tmp_path / "bad.jsonl"
    source.write_text('{"id": 1, "instruction": "make it red"}\nnot json\n')
    bad = runner.invoke(cli.app, ["plan", "--input", str(source)])
    assert bad.exit_code == 2 and "Line 2" in bad.stderr


def test_plan_does_not_load_torch(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1, "instruction": "remove the cup"}\n')
    code = (
        "import sys; from chatedit.agent.cli import app\n"
        f"try:\n    app(['plan', '--input', {str(source)!r}])\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.stdout.splitlines()[-1] == "False", result.stderr


def test_chat_two_turns_undo_history_and_save(runner, photo_path, tmp_path):
    saved = tmp_path / "saved.png"
    script = "\n".join(
        [
            "make it look like a watercolor painting",
            "make it look like a sunset",
            "/undo",
            "/history",
            f"/save {saved}",
            "/quit",
        ]
    )
    result = runner.invoke(cli.app, ["chat", str(photo_path), *TINY], input=script + "\n")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "as version 0" in out
    assert "Saved version 1." in out and "Saved version 2." in out
    assert "Now at version 1" in out
    # No path into the image store is printed: /save writes a picture where the user says.
    assert "images/" not in out
    history = [line for line in out.splitlines() if line[:1] in ("*", " ") and ". " in line]
    assert [line.startswith("*") for line in history] == [False, True, False]
    session_id = result.stderr.split("session ", 1)[1].split()[0]
    editor = Editor(models="tiny", planner="rules", device="cpu")
    try:
        version_1 = editor.session(session_id).history()[1].image
    finally:
        editor.close()
    assert np.array_equal(np.asarray(Image.open(saved)), np.asarray(version_1))


def test_chat_takes_quit_and_undo_as_words(runner, photo_path):
    """`undo` typed as a word moves back without claiming a save; `quit` ends the chat, never sent as an edit."""
    script = "make it look like a sunset\nundo\nquit\nmake it look like winter\n"
    result = runner.invoke(cli.app, ["chat", str(photo_path), *TINY], input=script)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Saved version 1." in out and "Now at version 0." in out
    assert "Saved version 0" not in out
    # The chat ended at "quit": the line after it was never read.
    assert "winter" not in out + result.stderr


def test_chat_reads_a_pipe(photo_path, tmp_path):
    result = run_module(
        "chat", str(photo_path), *TINY, stdin="/history\n/undo\n", env={"CHATEDIT_DATA_DIR": str(tmp_path)}
    )
    assert result.returncode == 0, result.stderr
    assert "* 0. uploaded" in result.stdout and "Nothing to undo." in result.stdout


def test_chat_resumes_a_session_by_id(runner, photo_path):
    first = runner.invoke(cli.app, ["chat", str(photo_path), *TINY], input="/quit\n")
    session = first.stderr.split("session ", 1)[1].split()[0]
    again = runner.invoke(cli.app, ["chat", "--session", session, *TINY], input="/history\n")
    assert again.exit_code == 0 and "* 0. uploaded" in again.stdout
    unknown = runner.invoke(cli.app, ["chat", "--session", "no-such-session", *TINY], input="")
    assert unknown.exit_code == 2 and "No session" in unknown.stderr


def test_save_image_refuses_unknown_formats(tmp_path):
    image = Image.new("RGB", (8, 8), (10, 200, 30))
    with Image.open(cli_support.save_image(image, tmp_path / "a.webp")) as written:
        assert written.format == "WEBP"
    with pytest.raises(InputError):
        cli_support.save_image(image, tmp_path / "a.bmp")
    assert not (tmp_path / "a.bmp").exists()


def test_models_list_and_tiny_download(runner):
    listed = runner.invoke(cli.app, ["models", "list"])
    assert listed.exit_code == 0, listed.stderr
    for role, checkpoint in [("detector", "grounding-dino-tiny"), ("inpainter", "stable-diffusion-inpainting")]:
        assert role in listed.stdout and checkpoint in listed.stdout
    tiny = runner.invoke(cli.app, ["models", "download", "--models", "tiny"])
    assert tiny.exit_code == 0 and "nothing to download" in tiny.stdout


def test_files_to_fetch_skips_duplicate_weights():
    repo = [
        "model_index.json",
        "sd-v1-5-inpainting.ckpt",
        "sd-v1-5-inpainting.safetensors",
        "unet/config.json",
        "unet/diffusion_pytorch_model.bin",
        "unet/diffusion_pytorch_model.safetensors",
        "unet/diffusion_pytorch_model.fp16.safetensors",
        "safety_checker/model.safetensors",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
    ]
    full = cli_models._files_to_fetch(repo, "inpainter", fp16=False)
    assert full == [
        "model_index.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
    ]
    half = cli_models._files_to_fetch(repo, "inpainter", fp16=True)
    assert "unet/diffusion_pytorch_model.fp16.safetensors" in half
    assert "unet/diffusion_pytorch_model.safetensors" not in half
    detector = cli_models._files_to_fetch(
        ["config.json", "model.safetensors", "pytorch_model.bin", "vocab.txt"], "detector", True
    )
    assert detector == ["config.json", "model.safetensors", "vocab.txt"]


def test_bench_prints_stage_timings_as_json(runner, monkeypatch):
    monkeypatch.setenv("CHATEDIT_INPAINT_STEPS", "2")
    monkeypatch.setenv("CHATEDIT_GLOBAL_STEPS", "2")
    result = runner.invoke(
        cli.app, ["bench", "--models", "tiny", "--device", "cpu", "--size", "96x64", "--repeat", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    stages = report["stages_ms"]
    assert {"plan", "detect", "segment", "inpaint", "global_edit", "verify", "store_checkpoint", "overhead"} <= set(
        stages
    )
    assert all(row["min"] <= row["median"] <= row["max"] for row in stages.values())
    assert report["size"] == [96, 64] and report["llm_calls_per_turn"] == [0] and report["load_ms"] > 0


def test_bench_refuses_a_bad_size(runner):
    result = runner.invoke(cli.app, ["bench", "--size", "big"])
    assert result.exit_code == 2 and "768x512" in result.stderr


LIBRARY_NOISE = (
    "it/s]",
    "Loading weights",
    "Loading pipeline components",
    "Writing model shards",
    "Fetching",
    "[transformers]",
    "falling back to",
    "Token indices sequence length",
    "truncated because CLIP",
    "Warning",
    "warn(",
)
LONG_INSTRUCTION = (
    "replace the cup with a golden teapot with pink flowers, warm light, long shadows, glowing rim and steam "
    "rising, then make it a golden sunset over a calm sea with pink clouds, warm light, long shadows, a glowing "
    "horizon, reflections on the water and birds in the sky"
)


def test_edit_and_chat_show_chatedit_progress_and_nothing_from_the_libraries(photo_path, tmp_path):
    # A fresh model cache: the first run also writes the tiny weights, the noisiest part of loading.
    env = {
        "CHATEDIT_CACHE_DIR": str(tmp_path / "cache"),
        "CHATEDIT_DATA_DIR": str(tmp_path / "data"),
        "CHATEDIT_INPAINT_STEPS": "2",
        "CHATEDIT_GLOBAL_STEPS": "2",
    }
    edited = run_module("edit", str(photo_path), LONG_INSTRUCTION, "-o", str(tmp_path / "out.png"), *TINY, env=env)
    chatted = run_module("chat", str(photo_path), *TINY, stdin="remove the cup\n", env=env)
    for result in (edited, chatted):
        assert result.returncode == 0, result.stderr
        assert "Plan (rules)" in result.stderr and "Step 1/" in result.stderr
        output = result.stdout + result.stderr
        assert [noise for noise in LIBRARY_NOISE if noise in output] == [], output


def test_mcp_keeps_sessions_in_the_database_it_is_given(runner, tmp_path, monkeypatch):
    from chatedit.agent.server import mcp_tools

    served = []
    monkeypatch.setattr(mcp_tools, "run_stdio", lambda factory: served.append(factory()))
    sessions = tmp_path / "shared" / "sessions.sqlite"
    result = runner.invoke(
        cli.app, ["mcp", "--models", "tiny", "--planner", "rules", "--database", f"sqlite://{sessions}"]
    )
    assert result.exit_code == 0, result.output
    editor = served[0]
    try:
        assert editor.database.where == str(sessions) and sessions.exists()
    finally:
        editor.close()


def test_download_with_no_way_to_the_hub_stops_at_once_with_exit_3(runner, monkeypatch):
    import huggingface_hub

    def never(*args, **kwargs):
        raise AssertionError("asked the hub for files although it cannot be reached")

    monkeypatch.setattr(huggingface_hub.HfApi, "list_repo_files", never)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = runner.invoke(cli.app, ["models", "download", "--models", "classic"])
    assert offline.exit_code == 3 and "HF_HUB_OFFLINE is set" in offline.stderr
    monkeypatch.delenv("HF_HUB_OFFLINE")
    # A closed port on this machine stands for a hub that does not answer.
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    unreachable = runner.invoke(cli.app, ["models", "download", "--models", "classic"])
    assert unreachable.exit_code == 3 and "http://127.0.0.1:9 does not answer" in unreachable.stderr
    assert "HF_HUB_OFFLINE" not in unreachable.stderr


def test_missing_weights_exit_3_and_name_hf_hub_offline_only_when_it_is_set(runner, photo_path, tmp_path, monkeypatch):
    import huggingface_hub

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("CHATEDIT_DETECTOR", "chatedit-tests/no-such-detector")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    args = [
        "edit",
        str(photo_path),
        "remove the cup",
        "-o",
        str(tmp_path / "o.png"),
        "--models",
        "classic",
        "--weights",
        "real",
        "--planner",
        "rules",
        "--device",
        "cpu",
    ]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = runner.invoke(cli.app, args)
    assert offline.exit_code == 3, offline.stderr
    assert "no-such-detector" in offline.stderr and "unset HF_HUB_OFFLINE" in offline.stderr
    from chatedit.tools.models import unavailable

    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert "HF_HUB_OFFLINE" not in str(unavailable("org/model", "detector"))


def test_help_shows_no_value_for_flags_and_auto_for_models(runner):
    text = runner.invoke(cli.app, ["edit", "--help"], env={"COLUMNS": "250"}).stdout
    assert "<bool>" not in text and "--json" in text
    assert "<auto|classic|modern|max|tiny|random-full>" in text and "[default: default]" not in text
    assert "CHATEDIT_MODELS or auto" in text
    listing = runner.invoke(cli.app, ["models", "list", "--help"], env={"COLUMNS": "250"}).stdout
    assert "--models" in listing and "--profile" not in listing


@pytest.mark.parametrize(
    ("picture_size", "instruction", "said"),
    [
        ((1, 1), "make it red", "at least 32 px"),
        ((64, 64), "", "Say what to change"),
        ((64, 64), "hello there, nice day", "did not find an edit"),
        ((64, 64), "entferne den Hund", "read English only"),
    ],
)
def test_edit_refuses_what_needs_no_model_before_any_model_loads(
    picture_size, instruction, said, runner, tmp_path, monkeypatch
):
    def no_models(config):
        raise AssertionError("the models were loaded for input that needs none")

    monkeypatch.setattr(common, "make_editor", no_models)
    source = tmp_path / "in.png"
    Image.new("RGB", picture_size, (120, 30, 30)).save(source)
    result = runner.invoke(cli.app, ["edit", str(source), instruction, "-o", str(tmp_path / "o.png"), *TINY])
    assert result.exit_code == 2 and said in result.stderr, result.stderr


def test_ctrl_d_at_the_prompt_ends_its_line(monkeypatch):
    import io

    from rich.console import Console

    class Typing(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdin", Typing("make it red\n"))
    screen = io.StringIO()
    lines = list(cli_chat.read_lines(Console(file=screen, force_terminal=False)))
    assert lines == ["make it red"]
    assert screen.getvalue().endswith("you> \n")
