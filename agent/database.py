"""Where sessions and pictures are kept, chosen by one database URL.

- No URL (the default): the SQLite checkpointer in `sessions.sqlite` and the image folder `images/`,
  both in the data dir. One process owns them.
- `postgresql://user:password@host:port/dbname`: LangGraph's PostgreSQL checkpointer and the
  `chatedit_images` table, in that database, through one connection pool. Any number of replicas
  share them: each continues any session and serves any picture.

The URL comes from `--database`, `Editor(database=...)` or CHATEDIT_DATABASE_URL. Whatever the
database, a turn holds its session's lock (`Database.session_lock`): one writer per session, so two
turns on one session never fork its history or lose one another's version. With PostgreSQL the lock
is an advisory lock held by a connection of the replica running the turn; a replica that dies lets
go of it with its connection.

That connection is also the only one a session's checkpoints are written on, each write in one
transaction of its own. A write commits only while the connection, and so the lock, lives: a turn
whose lock went with its connection (a database restart, a network cut) writes nothing more, fails
with SessionLockLostError, and leaves the session to the replica that took the lock since.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import sqlite3
import threading
import time
import weakref
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

import psycopg
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from chatedit.agent.config import SESSION_WAIT
from chatedit.agent.store import ImageStore, PostgresImageStore
from chatedit.tools.errors import ChatEditError, InputError

CONNECT_TIMEOUT = 10
"""Seconds to wait for PostgreSQL to answer a new connection."""
SETUP_WAIT = 300.0
"""Seconds a starting replica waits for another one creating the schema."""
HEALTH_TIMEOUT = 2.0
"""Seconds a health check waits for a pooled connection before calling the database unreachable."""
POOL_SIZE = 8
"""Most pooled connections one replica keeps open (checkpoints, image rows, health checks)."""

logger = logging.getLogger("chatedit.database")

_SETUP_LOCK = int.from_bytes(hashlib.sha256(b"chatedit schema setup").digest()[:8], "big", signed=True)
"""The advisory lock key every replica takes around creating the schema."""


class DatabaseUnavailableError(ChatEditError, RuntimeError):
    """The database cannot be reached (at start: the process exits with this message)."""


class SessionBusyError(ChatEditError, RuntimeError):
    """Another turn on the same session still runs after the wait allowed (HTTP 409)."""


class SessionLockLostError(DatabaseUnavailableError):
    """A turn's hold on its session went with its database connection: it saved nothing more (HTTP 503)."""


def open_database(url: Optional[str], data_dir: Path, *, session_wait: float = SESSION_WAIT) -> "Database":
    """Gives back the sessions' checkpointer, image store and locks for a database URL (None: the data dir).

    Args:
        url: `postgresql://...` (or `postgres://...`), `sqlite:///path/to/sessions.sqlite`, or None.
        data_dir: the folder of the SQLite files and images, or of local copies of pictures with PostgreSQL.
        session_wait: seconds a turn waits for another turn on its session before SessionBusyError.

    Raises:
        InputError: the URL names no database chatedit can use.
        DatabaseUnavailableError: PostgreSQL does not answer, or refuses the connection.
    """
    if session_wait < 0:
        raise InputError("The session wait must be 0 seconds or more.")
    if url is None:
        return LocalDatabase(data_dir / "sessions.sqlite", data_dir, session_wait)
    scheme = url.partition("://")[0].lower()
    if scheme in ("postgresql", "postgres"):
        return PostgresDatabase(url, data_dir, session_wait)
    if scheme == "sqlite" and url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return LocalDatabase(Path(url[len("sqlite:///") - 1 :]), data_dir, session_wait)
    raise InputError(
        f"Unknown database URL {_shown(url)!r}; use postgresql://USER:PASSWORD@HOST:PORT/DBNAME, "
        "sqlite:///path/to/sessions.sqlite, or none for SQLite in the data dir."
    )


class _StoreFirst:
    """Saves checkpoints only once the image store has written every picture put so far.

    Checkpoints name pictures by id while the store writes them in the background; a checkpoint saved
    first could outlive a crash that the picture did not, leaving a session that points at nothing.
    """

    store: ImageStore

    def put(self, config, checkpoint, metadata, new_versions):
        self.store.flush()
        return super().put(config, checkpoint, metadata, new_versions)

    def put_writes(self, config, writes, task_id, task_path=""):
        self.store.flush()
        return super().put_writes(config, writes, task_id, task_path)


class StoreFirstSqliteSaver(_StoreFirst, SqliteSaver):
    """The SQLite checkpointer, saving only after the image store's pending writes."""

    def __init__(self, conn: sqlite3.Connection, store: ImageStore):
        super().__init__(conn)
        self.store = store


class StoreFirstPostgresSaver(_StoreFirst, PostgresSaver):
    """The PostgreSQL checkpointer, saving only after the image store's pending writes, and only under the lock.

    Reads go through the pool. A session's checkpoints are written on the connection holding its lock
    (`fence(session_id)`), in one transaction per write: a write can only commit while that lock is held.
    """

    def __init__(self, pool: ConnectionPool, store: ImageStore, fence: Callable[[str], psycopg.Connection]):
        super().__init__(pool)
        self.store = store
        self.fence = fence
        self._writing = threading.local()

    def put(self, config, checkpoint, metadata, new_versions):
        with self._on_fence(config):
            return super().put(config, checkpoint, metadata, new_versions)

    def put_writes(self, config, writes, task_id, task_path=""):
        with self._on_fence(config):
            super().put_writes(config, writes, task_id, task_path)

    @contextmanager
    def _on_fence(self, config) -> Iterator[None]:
        """Makes this thread's writes in the block go to the connection holding the session's lock."""
        session_id = config["configurable"]["thread_id"]
        self._writing.conn = self.fence(session_id)
        try:
            yield
        except psycopg.Error as error:
            if not self._writing.conn.broken and not self._writing.conn.closed:
                raise
            raise SessionLockLostError(
                f"The connection holding session {session_id!r} broke during its turn ({type(error).__name__}: "
                "the database restarted or the network failed), and its lock went with it; nothing more of the "
                "turn was saved. Send the request again in a few seconds."
            ) from error
        finally:
            self._writing.conn = None

    @contextmanager
    def _cursor(self, *, pipeline: bool = False) -> Iterator[psycopg.Cursor]:
        conn = getattr(self._writing, "conn", None)
        if conn is None:
            with super()._cursor(pipeline=pipeline) as cur:
                yield cur
            return
        with self.lock, conn.transaction(), conn.cursor(binary=True, row_factory=dict_row) as cur:
            yield cur


class Database:
    """The checkpointer, the image store and the per-session locks of one database.

    Attributes:
        kind: `sqlite` or `postgresql`.
        where: the database, said without a password (for messages and /health).
        store: the image store of the sessions' pictures and masks.
        checkpointer: the LangGraph checkpointer holding the sessions.
        session_wait: seconds a turn waits for its session's lock.
    """

    kind: str
    where: str
    store: ImageStore
    checkpointer: SqliteSaver | PostgresSaver

    def __init__(self, session_wait: float):
        self.session_wait = session_wait
        self._held = threading.local()

    @contextmanager
    def session_lock(self, session_id: str) -> Iterator[None]:
        """Holds the session's writer lock for the block; the same thread may take it again inside.

        Raises:
            SessionBusyError: another turn on this session (here or on another replica) kept it for
                longer than `session_wait` seconds.
        """
        held: Counter = self._held.__dict__.setdefault("sessions", Counter())
        if held[session_id]:
            held[session_id] += 1
            try:
                yield
            finally:
                held[session_id] -= 1
            return
        release = self._acquire(session_id)
        held[session_id] = 1
        try:
            yield
        finally:
            del held[session_id]
            release()

    def _busy(self, session_id: str) -> SessionBusyError:
        return SessionBusyError(
            f"Session {session_id!r} is busy with another turn (waited {self.session_wait:g} s); "
            "send the message again when that turn has finished."
        )

    def _acquire(self, session_id: str) -> Callable[[], None]:
        """Takes the session's lock (waiting up to `session_wait`) and gives back what releases it."""
        raise NotImplementedError

    def reachable(self) -> bool:
        """Gives back whether the database answers a query now."""
        raise NotImplementedError

    def close(self) -> None:
        """Finishes pending image writes (raising a failed write's error) and closes the connections."""
        try:
            self.store.flush()
        finally:
            self._disconnect()

    def _disconnect(self) -> None:
        """Closes the connections."""
        raise NotImplementedError


class LocalDatabase(Database):
    """SQLite sessions and the image folder of the data dir, used by one process."""

    kind = "sqlite"

    def __init__(self, path: Path, data_dir: Path, session_wait: float):
        super().__init__(session_wait)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.where = str(path)
        self.store = ImageStore(data_dir / "images")
        self._conn = sqlite3.connect(path, check_same_thread=False)
        self.checkpointer = StoreFirstSqliteSaver(self._conn, self.store)
        # A session's lock lives while a turn holds or waits for it: a long-running server keeps no lock
        # for every session it ever saw.
        self._locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
        self._locks_lock = threading.Lock()

    def _acquire(self, session_id: str) -> Callable[[], None]:
        with self._locks_lock:
            lock = self._locks.setdefault(session_id, threading.Lock())
        if not lock.acquire(timeout=self.session_wait):
            raise self._busy(session_id)
        return lock.release

    def reachable(self) -> bool:
        try:
            with self.checkpointer.lock:
                self._conn.execute("SELECT 1")
        except sqlite3.Error:
            return False
        return True

    def _disconnect(self) -> None:
        self._conn.close()


class PostgresDatabase(Database):
    """Sessions and pictures in one PostgreSQL database, shared by any number of replicas.

    The schema (LangGraph's checkpoint tables and the images table) is created on first start under
    an advisory lock, so replicas starting together take turns at it.
    """

    kind = "postgresql"

    def __init__(self, url: str, data_dir: Path, session_wait: float):
        super().__init__(session_wait)
        self.url = url
        self.where = _shown(url)
        with self._connect() as conn:
            _take_setup_lock(conn)
            self.pool = ConnectionPool(
                url,
                min_size=1,
                max_size=POOL_SIZE,
                kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
                # A connection broken by a database restart is replaced instead of failing a turn.
                check=ConnectionPool.check_connection,
                open=False,
                name="chatedit",
            )
            try:
                self.pool.open(wait=True, timeout=CONNECT_TIMEOUT)
            except PoolTimeout:
                raise DatabaseUnavailableError(
                    f"The database {self.where} accepted one connection but no more in {CONNECT_TIMEOUT} s; "
                    "check its max_connections and load."
                ) from None
            self.store = PostgresImageStore(self.pool, data_dir / "image-copies")
            self._fences: dict[str, psycopg.Connection] = {}
            self.checkpointer = StoreFirstPostgresSaver(self.pool, self.store, self._fence)
            try:
                self.checkpointer.setup()
                PostgresImageStore.setup(conn)
            except BaseException:
                self.pool.close()
                raise
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SETUP_LOCK,))

    def _connect(self) -> psycopg.Connection:
        """Gives back a new connection of its own; raises DatabaseUnavailableError when there is none."""
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.OperationalError as error:
            # psycopg's first line names the failure ("... port 5432 failed: Connection refused").
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0].rstrip(".")
            raise DatabaseUnavailableError(
                f"Cannot reach the database {self.where} ({_shown(reason)}). Start PostgreSQL, or fix "
                "--database (or CHATEDIT_DATABASE_URL)."
            ) from None

    def _acquire(self, session_id: str) -> Callable[[], None]:
        # A connection of its own, not a pooled one: it holds the lock for the whole turn, and closing
        # it (or this process dying) is what lets the lock go.
        key = int.from_bytes(
            hashlib.sha256(f"chatedit session\n{session_id}".encode()).digest()[:8], "big", signed=True
        )
        conn = self._connect()
        try:
            if self.session_wait == 0:
                if not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                    raise self._busy(session_id)
            else:
                with conn.transaction():
                    # At least 1 ms: PostgreSQL reads a lock_timeout of 0 as no limit at all.
                    timeout = max(1, math.ceil(self.session_wait * 1000))
                    conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{timeout}ms",))
                    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        except psycopg.errors.LockNotAvailable:
            conn.close()
            raise self._busy(session_id) from None
        except BaseException:
            conn.close()
            raise
        self._fences[session_id] = conn

        def release() -> None:
            del self._fences[session_id]
            # The connection's end releases the lock even if the unlock cannot be sent. By now the turn
            # is saved or failed on its own: a connection lost on the way out (a database restart) is
            # logged, never raised, or a saved turn would answer as an error and be sent again.
            try:
                with conn:
                    if not conn.closed and not conn.broken:
                        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            except psycopg.Error as error:
                logger.warning(
                    "Releasing session %s's lock lost its connection (%s); the lock went with it.",
                    session_id,
                    type(error).__name__,
                )

        return release

    def _fence(self, session_id: str) -> psycopg.Connection:
        """Gives back the connection holding the session's lock: the only one its checkpoints are written on."""
        conn = self._fences.get(session_id)
        if conn is None:
            # Every write of a session comes from a turn, an undo or a goto, each under the lock.
            raise RuntimeError(f"Session {session_id!r} was written without its lock.")
        return conn

    def reachable(self) -> bool:
        try:
            with self.pool.connection(timeout=HEALTH_TIMEOUT) as conn:
                conn.execute("SELECT 1")
        except (psycopg.Error, PoolTimeout):
            return False
        return True

    def _disconnect(self) -> None:
        self.pool.close()


def _take_setup_lock(conn: psycopg.Connection) -> None:
    """Takes the schema setup lock on `conn`, asking again every tenth of a second.

    A statement blocked in `pg_advisory_lock` would hold a snapshot, and the `CREATE INDEX
    CONCURRENTLY` of the replica that holds the lock waits for every such snapshot to end: both would
    wait forever. Between two tries this connection holds nothing.
    """
    deadline = time.monotonic() + SETUP_WAIT
    while not conn.execute("SELECT pg_try_advisory_lock(%s)", (_SETUP_LOCK,)).fetchone()[0]:
        if time.monotonic() > deadline:
            raise DatabaseUnavailableError(
                f"Another replica has been creating the database schema for {SETUP_WAIT:g} s; "
                "check its log, then start this one again."
            )
        time.sleep(0.1)


def _shown(url: str) -> str:
    """Gives back a database URL without its password (for messages, logs and /health)."""
    return _PASSWORD_PARAMETER.sub(r"\1***", _PASSWORD.sub(r"\1***@", url))


_PASSWORD = re.compile(r"(://[^:/@?#]*:)[^/?#]*@")
_PASSWORD_PARAMETER = re.compile(r"((?:^|[?&\s])password=)[^&\s]*", re.IGNORECASE)
