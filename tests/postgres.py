"""A throw-away PostgreSQL cluster for the tests: made once per test run, on a free loopback port.

The server binaries come from Debian's `postgresql` package (`.ci/run` installs it). `initdb` refuses
to run as root, so under root the cluster is made and run as the `postgres` system user. Each test
that asks for `database_url` gets a fresh, empty database in that cluster.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

SEARCHED = "/usr/lib/postgresql/*/bin"


def server_binaries() -> Path | None:
    """Gives back the folder of the newest installed PostgreSQL server binaries, or None."""
    found = [Path(folder) for folder in glob.glob(SEARCHED) if (Path(folder) / "initdb").is_file()]
    if not found:
        on_path = shutil.which("initdb")
        return Path(on_path).parent if on_path else None
    return max(found, key=lambda folder: int(folder.parent.name) if folder.parent.name.isdigit() else 0)


def _as_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """One PostgreSQL server over a data folder in a temporary directory."""

    def __init__(self, binaries: Path):
        self.binaries = binaries
        # Not under pytest's tmp_path: the postgres user must be able to reach the folder.
        self.folder = Path(tempfile.mkdtemp(prefix="chatedit-postgres-"))
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        self.data = self.folder / "data"
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        self.port = 0
        for _ in range(3):  # another process may take the free port first
            self.port = _free_port()
            settings = (
                f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
            )
            started = subprocess.run(
                _as_owner(
                    [str(binaries / "pg_ctl"), "-D", str(self.data), "-o", settings, "-l", str(self.log), "-w", "start"]
                ),
                capture_output=True,
                text=True,
            )
            if started.returncode == 0:
                break
        else:
            raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{self.log.read_text()}")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._names = itertools.count()

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(_as_owner([str(self.binaries / program), *args]), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stderr or done.stdout}")

    def new_database(self) -> str:
        """Gives back the URL of a new, empty database."""
        name = f"test_{next(self._names)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def restart(self) -> None:
        """Restarts the server at once, as a crash would: every connection is cut (its options are kept)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-l", str(self.log), "-w", "restart")

    def stop(self) -> None:
        subprocess.run(
            _as_owner([str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster():
    """The test run's PostgreSQL cluster (skips only where no PostgreSQL server is installed at all)."""
    binaries = server_binaries()
    if binaries is None:
        pytest.skip(f"PostgreSQL is not installed (no initdb in {SEARCHED} or on PATH); .ci/run installs it.")
    cluster = Cluster(binaries)
    yield cluster
    cluster.stop()


@pytest.fixture
def database_url(postgres_cluster) -> str:
    """The URL of a fresh, empty PostgreSQL database for one test."""
    return postgres_cluster.new_database()
