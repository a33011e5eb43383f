"""`chatedit ui` in a real browser: Debian's chromium, driven through playwright-core from node.

Runs only when asked, with the Open WebUI tests: `bash .ci/webui && python -m pytest -m webui` (this
test needs chromium, node and playwright-core from there, not Open WebUI). The UI serves the tiny
models with a finder that outlines a disk around each click (tests/webui/ui_app.py), so the browser
can check where an edit landed. The pictures the page showed, its screenshots and the logs go to
out/ui/; the screenshot of the edit also to docs/ui.png.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from chatedit.tools.images import load_image
from tests.webui.run import PHOTO, ROOT, free_port, missing_prerequisites, started, wait_until_up, webui_home
from tests.webui.ui_app import RADIUS

pytestmark = pytest.mark.webui

DRIVER = ROOT / "tests" / "webui" / "drive_ui.js"
INSTRUCTION = "make it blue"
SEAM = 24
"""Pixels past the outlined disk that an edit (the paste's grown, feathered seam) and the drawn mask may reach."""
DRIVE_TIMEOUT_S = 600


def shown(out: Path, name: str) -> np.ndarray:
    """Gives back the picture the page showed at one stage, as the browser was served it."""
    return np.asarray(Image.open(out / name).convert("RGB"))


def drive(url: str, out: Path) -> dict:
    """Gives back what the browser driver saw; raises with its log's tail when it failed."""
    command = ["node", str(DRIVER), url, str(PHOTO), str(out), INSTRUCTION]
    env = {**os.environ, "NODE_PATH": str(webui_home() / "node/node_modules")}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=DRIVE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        # node and the chromium it launched share the session.
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
    (out / "drive-ui.log").write_text(stderr)
    if process.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"The browser run failed (screenshot: {out / 'failure.png'}):\n{tail}")
    return json.loads(stdout)


def test_a_click_then_an_instruction_edits_there_and_undo_brings_the_photo_back(tmp_path):
    missing = [line for line in missing_prerequisites() if "Open WebUI" not in line]
    if missing:
        pytest.fail(" ".join(missing))
    out = ROOT / "out" / "ui"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "tests.webui.ui_app", "--port", str(port), "--data-dir", str(tmp_path / "data")]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    with started(command, out / "chatedit-ui.log", env) as process:
        wait_until_up(url + "/", process, out / "chatedit-ui.log", time.monotonic())
        result = drive(url, out)

    photo = np.asarray(load_image(PHOTO))
    assert np.array_equal(shown(out, "ui-1-opened.png"), photo)
    # The edit, and the mask drawn over it, stay near the click; inside, the picture changed.
    ys, xs = np.ogrid[: photo.shape[0], : photo.shape[1]]
    distance = np.sqrt((xs - result["click"]["x"]) ** 2 + (ys - result["click"]["y"]) ** 2)
    changed = (shown(out, "ui-3-edited.png") != photo).any(axis=2)
    assert changed[distance <= RADIUS].mean() > 0.5
    assert not changed[distance > RADIUS + SEAM].any()
    assert "Done: make it blue." in result["edited"] and result["versions"] == 2
    # Undo brings the photo back, pixel for pixel; a reload shows the same session, where undo left it.
    assert np.array_equal(shown(out, "ui-4-undone.png"), photo)
    assert np.array_equal(shown(out, "ui-5-reloaded.png"), photo)
    assert 'Undid "make it blue".' in result["reloaded"] and result["reloadedVersions"] == 2
    shutil.copyfile(out / "ui-edited.png", ROOT / "docs" / "ui.png")
