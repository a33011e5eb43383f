"""Sixteen people editing at once against one server (uvicorn in a thread, tiny models).

Every session sends its own picture (a solid colour no other session has). All turns complete; each
answer is built from its own session's picture (every pixel outside the edit's mask is that colour);
the model work is serialised (the tools count how many turns are inside a model at once); and while
a turn holds the model, the event loop still answers /health.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from contextlib import contextmanager

import httpx
import numpy as np
import pytest
from PIL import Image

from chatedit.agent.server import ServerSettings, create_app
from chatedit.agent.session import Editor
from chatedit.agent.toolbox import Toolbox
from chatedit.tools.images import to_data_url
from chatedit.tools.models import get_models
from tests.helpers import FAST, serve

SESSIONS = 16
PICTURE = re.compile(r"!\[edited\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def colour(i: int) -> tuple[int, int, int]:
    return (15 * i + 10, 250 - 13 * i, (97 * i + 31) % 256)


class CountingToolbox(Toolbox):
    """Tiny-model tools that record the most calls ever inside a model at once.

    The first model call waits until `release` is set, so a test can look at the server while a turn
    holds the model.
    """

    def __init__(self):
        super().__init__(get_models("tiny", "cpu"), FAST)
        self.inside = 0
        self.most_inside = 0
        self.holding = threading.Event()
        self.release = threading.Event()
        self._count = threading.Lock()

    @contextmanager
    def _model(self):
        with self._count:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            first = not self.holding.is_set()
            self.holding.set()
        try:
            if first:
                self.release.wait(timeout=120)
            yield
        finally:
            with self._count:
                self.inside -= 1

    def detect(self, *args, **kwargs):
        with self._model():
            return super().detect(*args, **kwargs)

    def segment_box(self, *args, **kwargs):
        with self._model():
            return super().segment_box(*args, **kwargs)

    def inpaint(self, *args, **kwargs):
        with self._model():
            return super().inpaint(*args, **kwargs)

    def remove(self, *args, **kwargs):
        with self._model():
            return super().remove(*args, **kwargs)

    def global_edit(self, *args, **kwargs):
        with self._model():
            return super().global_edit(*args, **kwargs)


def send_turn(server: str, i: int, stream: bool) -> dict:
    """Gives back {"status", "content", "report"} of one session's edit."""
    picture = Image.new("RGB", (96, 64), colour(i))
    parts = [
        {"type": "text", "text": "add a red balloon"},
        {"type": "image_url", "image_url": {"url": to_data_url(picture)}},
    ]
    body = {"model": "chatedit", "stream": stream, "messages": [{"role": "user", "content": parts}]}
    headers = {"X-Chatedit-Session": f"person-{i}"}
    url = f"{server}/v1/chat/completions"
    if not stream:
        reply = httpx.post(url, json=body, headers=headers, timeout=300)
        payload = reply.json()
        if reply.status_code != 200:
            return {"status": reply.status_code, "content": json.dumps(payload), "report": None}
        return {
            "status": 200,
            "content": payload["choices"][0]["message"]["content"],
            "report": payload["chatedit"]["report"],
        }
    content, report = "", None
    with httpx.stream("POST", url, json=body, headers=headers, timeout=300) as reply:
        for line in reply.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[len("data: ") :])
            content += "".join(c["delta"].get("content") or "" for c in chunk["choices"])
            report = chunk.get("chatedit", {}).get("report", report)
        return {"status": reply.status_code, "content": content, "report": report}


@pytest.fixture
def toolbox():
    return CountingToolbox()


def test_sixteen_sessions_at_once(tmp_path, toolbox):
    editor = Editor(models="tiny", planner="rules", data_dir=tmp_path, toolbox=toolbox, max_attempts=1, seed=1)
    results: dict[int, dict] = {}

    def person(i: int) -> None:
        results[i] = send_turn(server, i, stream=i % 4 == 0)

    with serve(create_app(editor, ServerSettings())) as server:
        people = [threading.Thread(target=person, args=(i,)) for i in range(SESSIONS)]
        for thread in people:
            thread.start()
        try:
            # The first turn is inside the model and held there; the others queue behind it.
            assert toolbox.holding.wait(timeout=120)
            deadline = time.monotonic() + 120
            health = httpx.get(f"{server}/health", timeout=5).json()
            while health["running"] + health["waiting"] < SESSIONS and time.monotonic() < deadline:
                time.sleep(0.05)
                health = httpx.get(f"{server}/health", timeout=5).json()
            # The event loop answers while model work is in progress: the held turn cannot have ended.
            assert health["status"] == "ok" and health["running"] == 1 and health["waiting"] == SESSIONS - 1
            assert not results
        finally:
            toolbox.release.set()
            for thread in people:
                thread.join(timeout=300)
        assert httpx.get(f"{server}/health", timeout=5).json()["running"] == 0

    assert sorted(results) == list(range(SESSIONS))
    assert toolbox.most_inside == 1  # never two turns in the models at once
    for i, result in results.items():
        assert result["status"] == 200, result["content"]
        answer = PICTURE.search(result["content"])
        assert answer, result["content"][:300]
        edited = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer.group(1)))).convert("RGB"))
        mask = editor.store.get_mask(result["report"]["steps"][0]["mask"]) > 0
        assert mask.any() and not mask.all()
        # Outside the edit, every pixel is this session's own colour: nothing came from another session.
        assert (edited[~mask] == colour(i)).all(), i
        history = editor.session(f"person-{i}").history()
        assert [v.instruction for v in history] == ["uploaded", "add a red balloon"]
        assert (np.asarray(history[0].image) == colour(i)).all()
        assert np.array_equal(np.asarray(history[1].image), edited)
