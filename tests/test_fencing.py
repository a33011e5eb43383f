"""A turn whose session lock went with a database restart saves nothing: the session is the other replica's.

Two editors (two replicas) over one PostgreSQL database, each serving the HTTP API in this process.
Replica A holds a turn in the middle of its edit; the database restarts (A's lock connection dies with
it); replica B edits the same session at once and answers. A's turn then goes on, writes nothing
more, and answers 503 with Retry-After; the history keeps B's edit on the one before it, no fork.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from fastapi.testclient import TestClient
from test_crash import answered_image, request

from chatedit.agent.database import SessionLockLostError, open_database
from chatedit.agent.server import ServerSettings, create_app
from chatedit.agent.session import Editor
from tests.helpers import FAST, held_edits, random_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def replica(url: str, folder) -> Editor:
    return Editor(
        models="tiny", planner="rules", device="cpu", data_dir=folder, database=url, settings=FAST, max_attempts=1
    )


def checkpoints(url: str, session: str) -> int:
    """Gives back how many checkpoints the session has in the database."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM checkpoints WHERE thread_id = %s", (session,)).fetchone()[0]


def test_a_turn_that_lost_its_lock_saves_nothing_and_the_other_replicas_edit_stands(postgres_cluster, tmp_path):
    url = postgres_cluster.new_database()
    a, b = replica(url, tmp_path / "a"), replica(url, tmp_path / "b")
    watercolor = request("s", "make it look like a watercolor painting", None)["json"]
    keyed = {"X-Chatedit-Session": "s", "Idempotency-Key": "a-1"}
    try:
        with (
            TestClient(create_app(a, ServerSettings())) as http_a,
            TestClient(create_app(b, ServerSettings())) as http_b,
            ThreadPoolExecutor(1) as pool,
        ):
            answered_image(
                http_a.post("/v1/chat/completions", **request("s", "add a red balloon", random_image(96, 64)))
            )
            with held_edits(a) as (entered, go_on):
                sent = pool.submit(http_a.post, "/v1/chat/completions", json=watercolor, headers=keyed)
                assert entered.wait(120)
                postgres_cluster.restart()
                # A's lock went with its connection: B takes the session at once, and its edit is version 2.
                taken = http_b.post("/v1/chat/completions", **request("s", "make it look like a sunset", None))
                edited_by_b = answered_image(taken)
                assert taken.json()["chatedit"]["report"]["version"] == 2
                written = checkpoints(url, "s")
                go_on.set()
                lost = sent.result(timeout=300)
            assert lost.status_code == 503, lost.text
            assert lost.json()["error"]["code"] == "database_unavailable" and lost.headers["Retry-After"]
            assert "lock went with it; nothing more of the turn was saved" in lost.json()["error"]["message"]
            # A wrote nothing after its lock went: the session is B's, one line of versions.
            assert checkpoints(url, "s") == written
            versions = b.session("s").history()
            assert [(v.instruction, v.parent) for v in versions] == [
                ("uploaded", None),
                ("add a red balloon", 0),
                ("make it look like a sunset", 1),
            ]
            assert versions[-1].current and versions[-1].image_id == edited_by_b
            # The same request sent again to A, with its key, is made once, on B's version.
            again = http_a.post("/v1/chat/completions", json=watercolor, headers=keyed)
            assert again.json()["chatedit"]["report"]["version"] == 3, again.text
            assert [v.parent for v in a.session("s").history()] == [None, 0, 1, 2]
    finally:
        a.close()
        b.close()


def test_a_session_is_written_only_under_its_lock(database_url, tmp_path):
    database = open_database(database_url, tmp_path)
    config = {"configurable": {"thread_id": "s", "checkpoint_ns": "", "checkpoint_id": "1"}}
    try:
        with pytest.raises(RuntimeError, match="written without its lock"):
            database.checkpointer.put_writes(config, [("reply", "hello")], "task")
        with database.session_lock("s"), psycopg.connect(database_url, autocommit=True) as admin:
            database.checkpointer.put_writes(config, [("reply", "hello")], "task")
            # The lock's connection is cut, as a restart cuts it: the next write commits nothing.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
            )
            with pytest.raises(SessionLockLostError, match="Send the request again in a few seconds"):
                database.checkpointer.put_writes(config, [("reply", "lost")], "task")
            kept = admin.execute("SELECT count(*) FROM checkpoint_writes WHERE thread_id = 's'").fetchone()[0]
        assert kept == 1
    finally:
        database.close()
