"""The web UI keeps API keys apart as the HTTP API does: over HTTP, logged in with key B, the UI's own
endpoints given key A's session (its name or its stored id) show, undo and edit nothing of it, and
the page's config carries no secret."""

from __future__ import annotations

import json
import socket
from contextlib import contextmanager
from typing import Iterator

import httpx
import pytest

from chatedit.agent.config import ServerSettings
from chatedit.agent.server.auth import scoped_session
from chatedit.agent.session import Editor
from chatedit.agent.ui import EditorUI
from chatedit.agent.ui.access import LOGIN_MESSAGE
from tests.helpers import FAST, random_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KEYS = ["sk-alice-0123456789", "sk-bob-9876543210"]
PICTURE, CHAT = 4, -1
"""Where an endpoint's outputs hold the picture and the chat (the screen's order, agent/ui/app.py)."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served(editor: Editor) -> Iterator[tuple[EditorUI, str]]:
    """Serves the UI with two API keys on a free port; gives the UI and its address."""
    ui = EditorUI(editor, ServerSettings(api_keys=KEYS))
    app = ui.build()
    port = free_port()
    app.launch(
        server_name="127.0.0.1",
        server_port=port,
        auth=ui.logins.check,
        auth_message=LOGIN_MESSAGE,
        prevent_thread_lock=True,
        quiet=True,
    )
    try:
        yield ui, f"http://127.0.0.1:{port}"
    finally:
        app.close()


def login(url: str, name: str, key: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=120)
    reply = client.post("/login", data={"username": name, "password": key})
    assert reply.status_code == 200, reply.text
    return client


def call(client: httpx.Client, endpoint: str, *data) -> list:
    """Gives back the last outputs one of the UI's endpoints sent, called as the page calls it."""
    started = client.post(f"/gradio_api/call/{endpoint}", json={"data": list(data)})
    assert started.status_code == 200, started.text
    stream = client.get(f"/gradio_api/call/{endpoint}/{started.json()['event_id']}").text
    events = [line.split(": ", 1) for line in stream.splitlines() if line.startswith(("event:", "data:"))]
    kinds, payloads = [kind for tag, kind in events if tag == "event"], [p for tag, p in events if tag == "data"]
    assert kinds[-1] == "complete", stream
    return json.loads(payloads[-1])


def test_another_key_reaches_none_of_a_keys_sessions_through_the_ui(tmp_path):
    editor = Editor(models="tiny", planner="rules", data_dir=tmp_path, settings=FAST, max_attempts=1)
    alice_name = "holiday"
    alice_id = scoped_session(alice_name, KEYS[0])
    alice = editor.session(alice_id, create=True)
    alice.send("", image=random_image(96, 64, seed=3))
    alice.send("make it look like a watercolor painting")
    before = [(v.instruction, v.current) for v in alice.history()]
    try:
        with served(editor) as (ui, url):
            a, b = login(url, "alice", KEYS[0]), login(url, "bob", KEYS[1])
            # A name taken under one key does not log in under another.
            assert httpx.post(f"{url}/login", data={"username": "alice", "password": KEYS[1]}).status_code == 400
            # Alice's browser, with her session's name, sees her picture and chat.
            shown = call(a, "on_load", alice_name)
            assert shown[0] == alice_name and shown[PICTURE] is not None
            assert "watercolor" in json.dumps(shown[CHAT])
            for given in (alice_name, alice_id):
                # Bob's browser with Alice's session (its name, or the id the server gave her): nothing of hers.
                seen = call(b, "on_load", given)
                assert seen[0] == "" and seen[PICTURE] is None and seen[CHAT] == []
                undone = call(b, "on_undo", given)
                assert "watercolor" not in json.dumps(undone)
                call(b, "on_send", "make it look like a sunset", None, given)
                assert [(v.instruction, v.current) for v in editor.session(alice_id).history()] == before
            config = a.get("/config").text
            assert not any(key in config for key in KEYS)
            # Without a login the endpoints answer nothing at all.
            assert httpx.post(f"{url}/gradio_api/call/on_load", json={"data": [alice_name]}).status_code in (401, 403)
    finally:
        editor.close()
