"""Two `chatedit serve` replicas over one PostgreSQL database, each with its own data dir.

The replicas run as subprocesses on tiny models (the launcher of tests/test_crash.py: fast settings,
whole-image edits that wait while a `hold` file exists). Any replica continues any session and
serves any picture; turns on one session never fork its history, even when sent to both replicas
at once; a replica killed in the middle of a turn loses nothing, and the other one takes the turn.
`chatedit edit` and `chat` keep their sessions in the database given by `--database` too.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from test_crash import Server, answered_image, request
from typer.testing import CliRunner

from chatedit.agent import cli
from chatedit.agent.cli import common
from chatedit.agent.database import open_database
from chatedit.agent.server import ServerSettings, create_app
from chatedit.agent.session import Editor
from chatedit.tools.images import to_data_url
from tests.helpers import FAST, held_edits, random_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Replica(Server):
    """One `chatedit serve --database URL` process on a free port, with its own data dir."""

    def __init__(self, folder: Path, database: str):
        folder.mkdir(parents=True)
        super().__init__(folder, "--data-dir", str(folder / "data"), "--database", database)


@pytest.fixture(scope="module")
def shared_database(postgres_cluster) -> str:
    return postgres_cluster.new_database()


@pytest.fixture(scope="module")
def pair(shared_database, tmp_path_factory):
    """Two replicas on one database, started together (the schema is made by whichever comes first)."""
    folder = tmp_path_factory.mktemp("replicas")
    replicas = [Replica(folder / name, shared_database) for name in ("a", "b")]
    try:
        for replica in replicas:
            replica.wait_ready()
        yield replicas
    finally:
        for replica in replicas:
            replica.stop()


def history(url: str, session: str, folder: Path) -> list[tuple[str, int | None, bool, str]]:
    """Gives back (instruction, parent, current, image id) of every version, read through the Python API."""
    database = open_database(url, folder)
    try:
        checkpoint = database.checkpointer.get_tuple({"configurable": {"thread_id": session}})
        state = checkpoint.checkpoint["channel_values"]
        versions = state.get("versions") or []
        for version in versions:  # every named picture is stored, whole (checked against its id on read)
            database.store.get(version["image"])
        return [(v["instruction"], v["parent"], i == state["cursor"], v["image"]) for i, v in enumerate(versions)]
    finally:
        database.close()


def test_turns_alternate_between_replicas(pair, shared_database, tmp_path):
    a, b = pair
    photo = random_image(96, 64, seed=21)
    first = answered_image(a.turn("alt", "add a red balloon", photo))
    second = answered_image(b.turn("alt", "make it look like a watercolor painting"))
    undone = b.turn("alt", "undo")
    assert undone.status_code == 200
    redone = a.turn("alt", "redo")
    assert redone.status_code == 200 and answered_image(redone) == second
    versions = history(shared_database, "alt", tmp_path / "reader")
    assert [(name, parent, current) for name, parent, current, _ in versions] == [
        ("uploaded", None, False),
        ("add a red balloon", 0, False),
        ("make it look like a watercolor painting", 1, True),
    ]
    assert [image for *_, image in versions[1:]] == [first, second]
    # A picture one replica made is served by the other, byte for byte the same PNG.
    for image_id in (first, second):
        served = [httpx.get(f"{replica.url}/v1/images/{image_id}.png", timeout=30) for replica in pair]
        assert [reply.status_code for reply in served] == [200, 200]
        assert served[0].content == served[1].content
        assert Image.open(io.BytesIO(served[0].content)).size == (96, 64)
    for replica in pair:
        health = httpx.get(f"{replica.url}/health", timeout=10).json()
        assert health["database"] == {"kind": "postgresql", "reachable": True}


def test_concurrent_turns_on_one_session_make_one_line_of_versions(pair, shared_database, tmp_path):
    a, b = pair
    answered_image(a.turn("race", "add a red balloon", random_image(96, 64, seed=22)))
    sent = [
        (a, "make it look like a watercolor painting"),
        (b, "make it look like a sunset"),
        (a, "make it look like winter"),
        (b, "make it look like a pencil sketch"),
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(pool.map(lambda job: job[0].turn("race", job[1]), sent))
    answered = [answered_image(reply) for reply in replies]
    versions = history(shared_database, "race", tmp_path / "reader")
    # Every turn made its version (no lost update), each on the one before it (no fork).
    assert len(versions) == 2 + len(sent)
    assert [parent for _, parent, _, _ in versions] == [None, 0, 1, 2, 3, 4]
    assert sorted(name for name, *_ in versions[2:]) == sorted(text for _, text in sent)
    assert sorted(image for *_, image in versions[2:]) == sorted(answered)
    assert versions[-1][2]


def test_a_busy_session_answers_409_and_an_unreachable_database_fails_health(postgres_cluster, tmp_path):
    url = postgres_cluster.new_database()
    editor = Editor(
        models="tiny",
        planner="rules",
        data_dir=tmp_path / "data",
        database=url,
        settings=FAST,
        max_attempts=1,
        session_wait=0.2,
    )
    other = open_database(url, tmp_path / "other")
    try:
        http = TestClient(create_app(editor, ServerSettings()))
        assert answered_image(
            http.post("/v1/chat/completions", **request("s", "add a red balloon", random_image(96, 64)))
        )
        with other.session_lock("s"):
            busy = http.post("/v1/chat/completions", **request("s", "make it look like a sunset", None))
        assert busy.status_code == 409 and busy.json()["error"]["code"] == "session_busy"
        assert "busy with another turn" in busy.json()["error"]["message"]
        assert [name for name, *_ in history(url, "s", tmp_path / "reader")] == ["uploaded", "add a red balloon"]
        assert http.get("/health").json()["database"] == {"kind": "postgresql", "reachable": True}
        with psycopg.connect(postgres_cluster.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {url.rsplit('/', 1)[1]} WITH (FORCE)")
        down = http.get("/health")
        assert down.status_code == 503 and down.json()["status"] == "database unreachable"
        assert down.json()["database"] == {"kind": "postgresql", "reachable": False}
    finally:
        other.close()
        editor.close()


def test_a_replica_killed_mid_turn_loses_nothing_and_the_other_takes_the_turn(pair, shared_database, tmp_path):
    a, b = pair
    photo = random_image(96, 64, seed=23)
    before = [answered_image(a.turn("crash", "add a red balloon", photo))]
    before.append(answered_image(b.turn("crash", "make it look like a watercolor painting")))
    interrupted = ("add a red balloon and make it look like a sunset", random_image(96, 64, seed=24))
    a.hold.touch()
    a.slow_writes.touch()  # each picture takes a second to reach the database
    failures: list[BaseException] = []

    def send() -> None:
        try:
            a.turn("crash", *interrupted)
        except httpx.TransportError as error:  # the replica dies under it
            failures.append(error)

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 120
    while not a.inside.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert a.inside.exists()
    a.kill()
    sender.join(timeout=60)
    assert len(failures) == 1

    # Earlier versions stay; the interrupted turn kept at most its upload, whole like the rest.
    versions = history(shared_database, "crash", tmp_path / "reader")
    assert [image for *_, image in versions[1:3]] == before
    assert [name for name, *_ in versions[3:]] in ([], ["uploaded"])
    # The same request to the other replica completes at once: the dead replica's lock went with it.
    reply = b.turn("crash", *interrupted)
    answered_image(reply)
    versions = history(shared_database, "crash", tmp_path / "reader")
    assert [(name, parent) for name, parent, _, _ in versions[:3]] == [
        ("uploaded", None),
        ("add a red balloon", 0),
        ("make it look like a watercolor painting", 1),
    ]
    assert [(name, parent) for name, parent, _, _ in versions[-2:]] == [
        ("uploaded", None),
        ("add a red balloon and make it look like a sunset", len(versions) - 2),
    ]
    assert versions[-1][2]


# ---- the command line ----------------------------------------------------------------------------------


@pytest.fixture
def runner(tmp_path, monkeypatch):
    monkeypatch.setenv("CHATEDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CHATEDIT_DATABASE_URL", raising=False)
    make_editor = common.make_editor
    monkeypatch.setattr(common, "make_editor", lambda config: make_editor(config.model_copy(update={"edit": FAST})))
    return CliRunner()


def test_edit_and_chat_keep_the_session_in_the_database(runner, database_url, tmp_path):
    photo = tmp_path / "photo.png"
    random_image(96, 64, seed=25).save(photo)
    tiny = ["--models", "tiny", "--planner", "rules", "--max-attempts", "1", "--database", database_url]
    edited = runner.invoke(
        cli.app, ["edit", str(photo), "add a red balloon", "-o", str(tmp_path / "out.png"), "--json", *tiny]
    )
    assert edited.exit_code == 0, edited.stderr
    session = json.loads(edited.stdout.strip().splitlines()[-1])["session"]
    assert [name for name, *_ in history(database_url, session, tmp_path / "reader")] == [
        "uploaded",
        "add a red balloon",
    ]
    # Another data dir, the same database: the chat resumes the session and undoes the edit.
    chatted = runner.invoke(
        cli.app, ["chat", "--session", session, "--data-dir", str(tmp_path / "other"), *tiny], input="/undo\n/quit\n"
    )
    assert chatted.exit_code == 0, chatted.stderr
    assert [current for _, _, current, _ in history(database_url, session, tmp_path / "reader")] == [True, False]
    assert (
        not (tmp_path / "data" / "sessions.sqlite").exists() and not (tmp_path / "other" / "sessions.sqlite").exists()
    )


def test_serve_exits_with_a_clear_message_when_the_database_is_unreachable(runner):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://chatedit:hunter2@127.0.0.1:{port}/chatedit"
    result = runner.invoke(cli.app, ["serve", "--models", "tiny", "--planner", "rules", "--database", url])
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert f"Error: Cannot reach the database postgresql://chatedit:***@127.0.0.1:{port}/chatedit" in message
    assert "Connection refused" in message and "hunter2" not in message and "Traceback" not in message


# ---- a database restart in the middle of a turn ---------------------------------------------------------


def test_a_database_restart_mid_turn_answers_503_and_a_resend_makes_the_edit_once(postgres_cluster, tmp_path):
    """The turn's lock connection dies with the restart, and the turn with it: it answers 503 with
    Retry-After (never 500, never a 200 for an edit it could not save), and the same request sent again
    (same Idempotency-Key) makes the edit, once."""
    editor = Editor(
        models="tiny",
        planner="rules",
        device="cpu",
        data_dir=tmp_path / "data",
        database=postgres_cluster.new_database(),
        settings=FAST,
        max_attempts=1,
    )
    photo = random_image(96, 64, seed=31)
    body = {
        "model": "chatedit",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "make it look like a watercolor painting"},
                    {"type": "image_url", "image_url": {"url": to_data_url(photo)}},
                ],
            }
        ],
    }
    headers = {"X-Chatedit-Session": "restarted", "Idempotency-Key": "turn-1"}
    try:
        with (
            TestClient(create_app(editor, ServerSettings())) as http,
            held_edits(editor) as (entered, go_on),
            ThreadPoolExecutor(1) as pool,
        ):
            sent = pool.submit(http.post, "/v1/chat/completions", json=body, headers=headers)
            assert entered.wait(120)
            postgres_cluster.restart()
            go_on.set()
            first = sent.result(timeout=300)
            assert first.status_code == 503, first.text
            assert first.json()["error"]["code"] == "database_unavailable" and first.headers["Retry-After"]
            again = http.post("/v1/chat/completions", json=body, headers=headers)
            assert again.status_code == 200, again.text
            replayed = http.post("/v1/chat/completions", json=body, headers=headers)
            assert (
                replayed.json()["choices"][0]["message"]["content"] == again.json()["choices"][0]["message"]["content"]
            )
            # Another request (another key) is another edit, of the picture the session now shows.
            follow = {
                "model": "chatedit",
                "messages": [{"role": "user", "content": "make it look like a watercolor painting"}],
            }
            other = http.post("/v1/chat/completions", json=follow, headers={**headers, "Idempotency-Key": "turn-2"})
            assert other.status_code == 200, other.text
        names = [v.instruction for v in editor.session("restarted").history()]
        assert names == [
            "uploaded",
            "make it look like a watercolor painting",
            "make it look like a watercolor painting",
        ]
    finally:
        editor.close()
