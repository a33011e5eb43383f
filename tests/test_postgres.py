"""Tests of agent/database.py and the PostgreSQL image store against a real PostgreSQL server.

Each test gets a fresh database in a throw-away cluster (tests/postgres.py). Two `Database` objects
on one URL stand for two replicas.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psycopg
import pytest
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

from chatedit.agent import session as session_module
from chatedit.agent.config import Settings
from chatedit.agent.database import (
    DatabaseUnavailableError,
    LocalDatabase,
    PostgresDatabase,
    SessionBusyError,
    open_database,
)
from chatedit.agent.session import Editor
from chatedit.agent.store import IMAGES_TABLE, DamagedImageError, ImageStore, PostgresImageStore
from chatedit.tools.errors import InputError
from tests.helpers import random_image

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def replicas(database_url, tmp_path):
    """Two databases on one PostgreSQL URL, with separate data dirs: two replicas."""
    opened = [open_database(database_url, tmp_path / name, session_wait=5) for name in ("a", "b")]
    yield opened
    for database in opened:
        database.close()


def rows(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute(f"SELECT id FROM {IMAGES_TABLE} ORDER BY id")]


# ---- choosing the database ---------------------------------------------------------------------


def test_no_url_is_sqlite_and_the_image_folder_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("CHATEDIT_DATABASE_URL", raising=False)
    assert Settings().database_url is None
    database = open_database(Settings().database_url, tmp_path)
    try:
        assert isinstance(database, LocalDatabase) and database.kind == "sqlite"
        assert (tmp_path / "sessions.sqlite").is_file()
        assert type(database.store) is ImageStore and database.store.root == tmp_path / "images"
        assert database.reachable()
    finally:
        database.close()


def test_url_comes_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.setenv("CHATEDIT_DATABASE_URL", "postgresql://db/from-env")
    assert Settings().database_url == "postgresql://db/from-env"
    assert Settings.given(database_url="postgresql://db/given").database_url == "postgresql://db/given"


def test_sqlite_url_names_the_sessions_file(tmp_path):
    database = open_database(f"sqlite:///{tmp_path}/elsewhere/s.db", tmp_path / "data")
    try:
        assert database.kind == "sqlite" and (tmp_path / "elsewhere" / "s.db").is_file()
        assert database.store.root == tmp_path / "data" / "images"
    finally:
        database.close()


@pytest.mark.parametrize("url", ["mysql://u:hunter2@db/x", "sqlite://", "just-a-name"])
def test_unknown_urls_are_refused_without_showing_a_password(tmp_path, url):
    with pytest.raises(InputError, match="Unknown database URL") as caught:
        open_database(url, tmp_path)
    assert "hunter2" not in str(caught.value) and "postgresql://USER:PASSWORD@HOST" in str(caught.value)


def test_unreachable_database_is_a_clear_error(tmp_path):
    import socket

    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DatabaseUnavailableError) as caught:
        open_database(f"postgresql://chatedit:hunter2@127.0.0.1:{port}/chatedit", tmp_path)
    message = str(caught.value)
    assert f"Cannot reach the database postgresql://chatedit:***@127.0.0.1:{port}/chatedit" in message
    assert "hunter2" not in message and "--database" in message


def test_an_editor_that_fails_to_start_closes_its_database(database_url, tmp_path, monkeypatch):
    opened = []

    def recording(*args, **kwargs):
        opened.append(open_database(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(session_module, "open_database", recording)
    with pytest.raises(InputError, match="Unknown model choice"):
        Editor(models="no-such-profile", planner="rules", data_dir=tmp_path, database=database_url)
    # The pool (and its worker threads) is gone with the failed start, not left to the garbage collector.
    assert len(opened) == 1 and opened[0].pool.closed


# ---- the schema ----------------------------------------------------------------------------------


def test_replicas_starting_together_create_the_schema_once(database_url, tmp_path):
    start = threading.Barrier(6)

    def replica(k: int):
        start.wait()
        return open_database(database_url, tmp_path / str(k))

    with ThreadPoolExecutor(max_workers=6) as pool:
        opened = list(pool.map(replica, range(6)))
    try:
        assert all(isinstance(database, PostgresDatabase) for database in opened)
        with psycopg.connect(database_url) as conn:
            tables = {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
            migrations = conn.execute("SELECT count(*), count(DISTINCT v) FROM checkpoint_migrations").fetchone()
        assert {IMAGES_TABLE, "checkpoints", "checkpoint_blobs", "checkpoint_writes"} <= tables
        assert migrations[0] == migrations[1] > 0  # each migration ran once
    finally:
        for database in opened:
            database.close()


# ---- the image store ------------------------------------------------------------------------------


def test_pictures_and_masks_put_on_one_replica_read_on_the_other(replicas, database_url):
    a, b = replicas
    photo = random_image(37, 23, seed=1)
    mask = np.zeros((23, 37), bool)
    mask[3:9, 4:20] = True
    image_id, mask_id = a.store.put(photo), a.store.put_mask(mask)
    a.store.flush()
    assert rows(database_url) == sorted([image_id, mask_id])
    assert b.store.has(image_id) and b.store.has(mask_id)
    np.testing.assert_array_equal(np.asarray(b.store.get(image_id)), np.asarray(photo))
    np.testing.assert_array_equal(b.store.get_mask(mask_id), mask.astype(np.float32))
    # Nothing reached b's data dir but what `path` copies there on request.
    assert not list(b.store.root.rglob("*.png"))
    path = b.store.path(image_id)
    assert path.parent.parent == b.store.root and path.name == f"{image_id}.png"
    np.testing.assert_array_equal(np.asarray(ImageStore(b.store.root).get(image_id)), np.asarray(photo))


def test_same_picture_from_two_replicas_is_one_row(replicas, database_url):
    photo = random_image(16, 12, seed=3)
    ids = {database.store.put(photo) for database in replicas for _ in range(3)}
    for database in replicas:
        database.store.flush()
    assert rows(database_url) == sorted(ids) and len(ids) == 1


def test_unknown_id_is_refused_clearly(replicas):
    store = replicas[0].store
    unknown = "0" * 64
    assert not store.has(unknown) and not store.path(unknown).exists()
    with pytest.raises(InputError, match=f"no image with id {unknown}"):
        store.get(unknown)
    with pytest.raises(InputError, match="is not an image id"):
        store.get("../" + "a" * 61)


def test_put_answers_before_the_row_is_written_and_flush_waits(replicas, database_url, monkeypatch):
    release = threading.Event()
    save = PostgresImageStore._save

    def slow_save(self, image_id, data):
        release.wait(timeout=30)
        return save(self, image_id, data)

    monkeypatch.setattr(PostgresImageStore, "_save", slow_save)
    a, b = replicas
    photo = random_image(12, 10, seed=8)
    image_id = a.store.put(photo)
    assert rows(database_url) == [] and a.store.has(image_id) and not b.store.has(image_id)
    np.testing.assert_array_equal(np.asarray(a.store.get(image_id)), np.asarray(photo))
    threading.Timer(0.3, release.set).start()
    a.store.flush()
    assert rows(database_url) == [image_id]


def test_damaged_row_is_detected_and_put_repairs_it(replicas, database_url):
    a, b = replicas
    photo = random_image(20, 20, seed=5)
    image_id = a.store.put(photo)
    a.store.flush()
    with psycopg.connect(database_url) as conn:
        conn.execute(
            f"UPDATE {IMAGES_TABLE} SET png = substring(png from 1 for length(png) - 20) WHERE id = %s", (image_id,)
        )
    with pytest.raises(DamagedImageError, match="in the database is damaged"):
        b.store.get(image_id)
    with pytest.raises(DamagedImageError):
        b.store.path(image_id)
    assert not (b.store.root / image_id[:2] / f"{image_id}.png").exists()
    assert b.store.put(photo) == image_id
    b.store.flush()
    fresh = PostgresImageStore(b.store.pool, b.store.root, cache_bytes=0)
    np.testing.assert_array_equal(np.asarray(fresh.get(image_id)), np.asarray(photo))


def test_a_failed_row_write_is_raised_by_flush(replicas, monkeypatch):
    def broken_save(self, image_id, data):
        raise psycopg.OperationalError("the server closed the connection")

    store = replicas[0].store
    monkeypatch.setattr(PostgresImageStore, "_save", broken_save)
    image_id = store.put(random_image(9, 9, seed=2))
    with pytest.raises(psycopg.OperationalError):
        store.flush()
    monkeypatch.undo()
    assert store.put(store.get(image_id)) == image_id  # still in memory; putting it again retries
    store.flush()
    assert replicas[1].store.has(image_id)


# ---- checkpoints name only stored pictures ---------------------------------------------------------


class Picture(TypedDict):
    image: str


def test_a_checkpoint_is_saved_only_after_its_pictures(replicas, database_url, monkeypatch):
    a, b = replicas
    save = PostgresImageStore._save

    def slow_save(self, image_id, data):
        time.sleep(0.5)
        return save(self, image_id, data)

    monkeypatch.setattr(PostgresImageStore, "_save", slow_save)
    builder = StateGraph(Picture)
    builder.add_node("paint", lambda state: {"image": a.store.put(random_image(8, 8, seed=6))})
    builder.add_edge(START, "paint")
    builder.add_edge("paint", END)
    graph = builder.compile(checkpointer=a.checkpointer)
    config = {"configurable": {"thread_id": "t"}}
    with a.session_lock("t"):  # a session is written only under its lock
        image_id = graph.invoke({"image": ""}, config)["image"]
    # The moment the checkpoint exists, so does the picture it names, for every replica.
    saved = b.checkpointer.get_tuple(config)
    assert saved.checkpoint["channel_values"]["image"] == image_id
    assert rows(database_url) == [image_id]


# ---- one writer per session --------------------------------------------------------------------------


def take(database, session_id: str, order: list[str], name: str) -> None:
    with database.session_lock(session_id):
        order.append(name)


def test_a_second_replica_waits_for_the_session_then_takes_it(replicas):
    a, b = replicas
    order: list[str] = []
    with a.session_lock("s1"):
        waiter = threading.Thread(target=take, args=(b, "s1", order, "b"))
        waiter.start()
        time.sleep(0.5)
        take(b, "s2", order, "b-other")  # another session is not held up
        order.append("a-done")
    waiter.join(timeout=10)
    assert order == ["b-other", "a-done", "b"]


def test_a_session_busy_for_longer_than_the_wait_is_a_clear_error(database_url, tmp_path):
    a = open_database(database_url, tmp_path / "a", session_wait=5)
    b = open_database(database_url, tmp_path / "b", session_wait=0.3)
    now = open_database(database_url, tmp_path / "c", session_wait=0)
    # Under a millisecond of wait is still a bound (PostgreSQL reads a lock_timeout of 0 as none).
    brief = open_database(database_url, tmp_path / "d", session_wait=0.0004)
    try:
        with a.session_lock("s1"):
            for busy in (b, now, brief):
                with pytest.raises(
                    SessionBusyError, match=r"Session 's1' is busy with another turn .*send the message again"
                ):
                    with busy.session_lock("s1"):
                        pass
        with b.session_lock("s1"), now.session_lock("s2"):
            pass
    finally:
        for database in (a, b, now, brief):
            database.close()


def test_the_session_lock_is_reentrant_on_one_thread(replicas, database_url, tmp_path):
    a, b = replicas
    now = open_database(database_url, tmp_path / "c", session_wait=0)
    try:
        with a.session_lock("s1"):
            with a.session_lock("s1"):
                pass
            with pytest.raises(SessionBusyError):
                take(now, "s1", [], "now")
        take(now, "s1", [], "now")  # released once the outer block ended
    finally:
        now.close()


def test_a_killed_replica_lets_go_of_its_session(replicas, database_url, tmp_path):
    holder = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from chatedit.agent.database import open_database
        database = open_database({database_url!r}, Path({str(tmp_path / "killed")!r}))
        with database.session_lock("s1"):
            print("locked", flush=True)
            time.sleep(600)
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", holder],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert process.stdout.readline().strip() == "locked"
        with pytest.raises(SessionBusyError):
            with open_database(database_url, tmp_path / "c", session_wait=0).session_lock("s1"):
                pass
    finally:
        process.kill()
        process.wait(timeout=30)
    with replicas[0].session_lock("s1"):  # within session_wait: the server saw the connection end
        pass


def test_local_database_locks_each_session(tmp_path):
    database = open_database(None, tmp_path, session_wait=0.2)
    try:
        order: list[str] = []
        with database.session_lock("s1"), ThreadPoolExecutor(max_workers=1) as other:
            with pytest.raises(SessionBusyError, match="'s1' is busy"):
                other.submit(take, database, "s1", order, "s1").result()
            other.submit(take, database, "s2", order, "s2").result()
        assert order == ["s2"]
        # No turn holds or waits for a session any more: none of their locks is kept (the busy error's
        # traceback may still be in a reference cycle, hence the collection).
        gc.collect()
        assert not database._locks
    finally:
        database.close()


# ---- health -------------------------------------------------------------------------------------------


def test_reachable_follows_the_database(postgres_cluster, tmp_path):
    url = postgres_cluster.new_database()
    database = open_database(url, tmp_path)
    try:
        assert database.reachable()
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(postgres_cluster.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
        assert not database.reachable()
    finally:
        database.pool.close()
