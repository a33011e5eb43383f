"""Crash safety: `chatedit serve` killed with SIGKILL in the middle of a turn loses nothing it had recorded.

The server runs as a subprocess on tiny models. Two sessions make a few turns; then one session sends
a new picture with a two-step edit that is held inside the model at its second step while the other
session's turn waits in the queue, the image store's disk writes are slowed down, and the server is
killed. Read back through the Python API, every version recorded before the kill is intact and
loads (each store file still matches its id), and nothing half-written is left; a restarted server
on the same data dir takes both interrupted turns, simply sent again.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from chatedit.agent.server import ServerSettings, create_app
from chatedit.agent.session import Editor
from chatedit.agent.store import ImageStore
from chatedit.tools.images import to_data_url
from tests.helpers import random_image, tiny_editor

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# `chatedit serve` with fast tiny-model settings, whose whole-image edits wait while a `hold` file exists
# and whose image store takes a second over each file while a `slow-writes` file exists.
LAUNCHER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    from chatedit.agent import cli
    from chatedit.agent.cli import common
    from chatedit.agent.session import Editor
    from chatedit.agent.store import ImageStore
    from chatedit.agent.toolbox import EditSettings, Toolbox

    hold = Path(sys.argv[1])
    slow_writes = hold.parent / "slow-writes"
    global_edit = Toolbox.global_edit
    write = ImageStore._write

    def slow_write(self, *args):
        if slow_writes.exists():
            time.sleep(1.0)
        return write(self, *args)

    def held_global_edit(self, *args, **kwargs):
        if hold.exists():
            (hold.parent / "inside").touch()
            while hold.exists():
                time.sleep(0.05)
        return global_edit(self, *args, **kwargs)

    Toolbox.global_edit = held_global_edit
    ImageStore._write = slow_write
    fast = EditSettings(inpaint_steps=2, global_steps=2, global_max_side=64)
    common.make_editor = lambda config: Editor(settings=fast, max_attempts=1, config=config)
    cli.app(sys.argv[2:])
    """
)


class Server:
    """One `chatedit serve` process on a free port, with its launcher, `hold` file and log in `folder`.

    `options` follow `serve --port N --models tiny --planner rules` (say `--data-dir`); call
    `wait_ready` before sending turns, so that several servers can start at once.
    """

    def __init__(self, folder: Path, *options: str):
        launcher = folder / "launch_chatedit.py"
        launcher.write_text(LAUNCHER)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.hold = folder / "hold"
        self.slow_writes = folder / "slow-writes"
        self.inside = folder / "inside"
        self.log_path = folder / f"server-{self.port}.log"
        self.log = open(self.log_path, "wb")
        args = ["serve", "--port", str(self.port), "--models", "tiny", "--planner", "rules", *options]
        self.process = subprocess.Popen(
            [sys.executable, str(launcher), str(self.hold), *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> Server:
        """Gives back this server once it answers /health (fails with its log when it dies first)."""
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text()
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"chatedit serve did not start: {self.log_path.read_text()}")

    def turn(self, session: str, text: str, picture: Image.Image | None = None) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/chat/completions", **request(session, text, picture), timeout=300)

    def health(self) -> dict:
        return httpx.get(f"{self.url}/health", timeout=5).json()

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def request(session: str, text: str, picture: Image.Image | None) -> dict:
    parts: list[dict] = [{"type": "text", "text": text}]
    if picture is not None:
        parts.append({"type": "image_url", "image_url": {"url": to_data_url(picture)}})
    body = {"model": "chatedit", "messages": [{"role": "user", "content": parts}]}
    return {"json": body, "headers": {"X-Chatedit-Session": session}}


def answered_image(reply: httpx.Response) -> str:
    assert reply.status_code == 200, reply.text
    image_id = reply.json()["chatedit"]["report"]["image"]
    assert image_id and "![edited](data:image/png;base64," in reply.json()["choices"][0]["message"]["content"]
    return image_id


def store_is_whole(data_dir: Path) -> None:
    """Every file of the store is a PNG that matches its id; nothing temporary or half-written is left."""
    files = [path for path in (data_dir / "images").rglob("*") if path.is_file()]
    assert files
    store = ImageStore(data_dir / "images", cache_bytes=0)
    for path in files:
        assert path.suffix == ".png" and not path.name.startswith("."), path
        store.get(path.stem)  # checks the decoded pixels against the id
    assert not [path for path in data_dir.rglob("*") if path.name.endswith(".tmp")]


@pytest.fixture
def first(tmp_path):
    server = Server(tmp_path, "--data-dir", str(tmp_path / "data")).wait_ready()
    yield server
    server.stop()


def test_kill_9_in_the_middle_of_a_turn_loses_nothing(tmp_path, first):
    data = tmp_path / "data"
    photo_a, photo_a2, photo_b = (random_image(96, 64, seed=seed) for seed in (11, 12, 13))

    answered = {
        "alice": [answered_image(first.turn("alice", "add a red balloon", photo_a))],
        "bob": [answered_image(first.turn("bob", "add a red balloon", photo_b))],
    }
    answered["alice"].append(answered_image(first.turn("alice", "make it look like a watercolor painting")))

    # Alice sends a new picture with two steps; the second holds in the model. Bob's turn queues behind.
    interrupted = {
        "alice": ("add a red balloon and make it look like a sunset", photo_a2),
        "bob": ("make it look like a watercolor painting", None),
    }
    _kill_while_one_turn_runs_and_one_waits(first, interrupted)

    # Read back with the Python API: every answered version is there, whole, and loads.
    store_is_whole(data)
    _answered_versions_are_kept(data, answered, {"alice": [photo_a, photo_a2], "bob": [photo_b]})

    # The server restarted on the same data dir takes both interrupted turns, sent again as they were.
    with tiny_editor(data) as editor:
        http = TestClient(create_app(editor, ServerSettings()))
        for session in ("alice", "bob"):
            answered_image(http.post("/v1/chat/completions", **request(session, *interrupted[session])))
        alice_versions = editor.session("alice").history()
        bob_versions = editor.session("bob").history()
        assert [(v.instruction, v.parent) for v in alice_versions[3:]] == [
            ("uploaded", None),
            ("add a red balloon and make it look like a sunset", 3),
        ]
        assert [(v.instruction, v.parent) for v in bob_versions[2:]] == [("make it look like a watercolor painting", 1)]
        assert alice_versions[-1].current and bob_versions[-1].current


def _kill_while_one_turn_runs_and_one_waits(first, interrupted: dict) -> None:
    """Sends both interrupted turns, the first held inside the model, and kills the server with -9."""
    first.hold.touch()
    first.slow_writes.touch()
    failures: list[BaseException] = []

    def send(session: str) -> None:
        try:
            first.turn(session, *interrupted[session])
        except httpx.TransportError as exc:  # the server dies under it
            failures.append(exc)

    alice = threading.Thread(target=send, args=("alice",))
    alice.start()
    deadline = time.monotonic() + 120
    while not first.inside.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.inside.exists()
    bob = threading.Thread(target=send, args=("bob",))
    bob.start()
    while first.health()["waiting"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    health = first.health()
    assert health["running"] == 1 and health["waiting"] == 1
    first.kill()
    alice.join(timeout=60)
    bob.join(timeout=60)
    assert len(failures) == 2


def _answered_versions_are_kept(data, answered: dict, uploaded: dict) -> None:
    editor = Editor(models="tiny", planner="rules", data_dir=data)
    try:
        alice_versions = editor.session("alice").history()
        bob_versions = editor.session("bob").history()
        names = [v.instruction for v in alice_versions]
        assert names[:3] == ["uploaded", "add a red balloon", "make it look like a watercolor painting"]
        # The interrupted turn's picture is kept when a checkpoint had recorded it, whole like the rest.
        assert names[3:] in ([], ["uploaded"])
        assert [v.instruction for v in bob_versions] == ["uploaded", "add a red balloon"]
        assert [v.image_id for v in alice_versions[1:3]] == answered["alice"]
        assert [v.image_id for v in bob_versions[1:]] == answered["bob"]
        for versions, pictures in ((alice_versions, uploaded["alice"]), (bob_versions, uploaded["bob"])):
            uploads = [v for v in versions if v.instruction == "uploaded"]
            for upload, picture in zip(uploads, pictures, strict=True):
                assert np.array_equal(np.asarray(upload.image), np.asarray(picture))
            for version in versions:
                assert version.image.size == (96, 64)  # loads, and matches its id (checked on read)
    finally:
        editor.close()
