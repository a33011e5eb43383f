"""A bounded load run: N concurrent chat sessions against 1 replica, then 2 replicas, on one PostgreSQL.

Each replica is a `chatedit serve --database URL` process on tiny models with fast generation settings,
its own data dir and port. Each session sends an upload turn and then edit turns; a session's turn k
goes to replica (session + k) mod R, as a round-robin load balancer would send it. The run measures
turns per minute over the whole run and the p50/p95 latency of one turn, and checks afterwards that
every session holds one unbroken line of versions.

    python scripts/load_replicas.py                       # a throw-away PostgreSQL cluster (Debian's package)
    python scripts/load_replicas.py --database postgresql://USER@HOST/DB --sessions 8 --turns 4
    python scripts/load_replicas.py --sqlite-baseline      # also 1 replica on its own SQLite file, for comparison

Each replica count runs on a fresh database in the throw-away cluster, or on the one given (the
sessions are named after the run's start time, so runs never share one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chatedit.agent.database import open_database  # noqa: E402
from chatedit.tools.images import to_data_url  # noqa: E402

EDITS = [
    "make it look like a watercolor painting",
    "make it look like a sunset",
    "add a red balloon",
    "make it look like winter",
]
FAST = {"CHATEDIT_INPAINT_STEPS": "2", "CHATEDIT_GLOBAL_STEPS": "2", "CHATEDIT_GLOBAL_MAX_SIDE": "64"}


def start_replica(folder: Path, database: str | None) -> tuple[subprocess.Popen, str]:
    """Gives back a started `chatedit serve` process and its base URL, once /health answers (None: SQLite)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder.mkdir(parents=True)
    command = [sys.executable, "-m", "chatedit.agent.cli", "serve", "--port", str(port), "--models", "tiny"]
    command += ["--planner", "rules", "--data-dir", str(folder / "data")]
    command += ["--database", database] if database else []
    log = open(folder / "server.log", "wb")
    env = {**os.environ, **FAST, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chatedit serve exited: {(folder / 'server.log').read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError("chatedit serve did not start in 300 s")


def turn(url: str, session: str, text: str, picture: Image.Image | None) -> float:
    """Sends one chat turn and gives back its latency in seconds; raises unless it was answered with a picture."""
    parts: list[dict] = [{"type": "text", "text": text}]
    if picture is not None:
        parts.append({"type": "image_url", "image_url": {"url": to_data_url(picture)}})
    body = {"model": "chatedit", "messages": [{"role": "user", "content": parts}]}
    started = time.perf_counter()
    reply = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"X-Chatedit-Session": session}, timeout=600)
    elapsed = time.perf_counter() - started
    if reply.status_code != 200 or not reply.json()["chatedit"]["report"].get("image"):
        raise RuntimeError(f"turn {text!r} on {session} failed: {reply.status_code} {reply.text[:300]}")
    return elapsed


def conversation(urls: list[str], session: str, index: int, turns: int, photo: Image.Image) -> list[float]:
    """Gives back the latencies of one session's turns, sent round-robin over the replicas."""
    latencies = [turn(urls[index % len(urls)], session, "add a red balloon", photo)]
    for k in range(1, turns):
        latencies.append(turn(urls[(index + k) % len(urls)], session, EDITS[k % len(EDITS)], None))
    return latencies


def unbroken(database: str | None, sessions: list[str], turns: int, folder: Path) -> bool:
    """Gives back whether every session holds the upload and one version per turn, each on the one before."""
    reader = open_database(database, folder)
    try:
        for session in sessions:
            state = reader.checkpointer.get_tuple({"configurable": {"thread_id": session}}).checkpoint["channel_values"]
            parents = [version["parent"] for version in state["versions"]]
            if parents != [None, *range(turns)] or state["cursor"] != turns:
                return False
        return True
    finally:
        reader.close()


def run(replicas: int, database: str | None, sessions: int, turns: int, folder: Path) -> dict:
    """Gives back the measurements of one load run on `replicas` replicas (database None: one on SQLite)."""
    started = [start_replica(folder / f"replica{k}", database) for k in range(replicas)]
    urls = [url for _, url in started]
    try:
        for k, url in enumerate(urls):  # warm-up: the first turn of a process pays for lazy set-up
            turn(url, f"warm-{k}", "add a red balloon", photo_for(999 + k))
        names = [f"load-{int(time.time())}-{replicas}-{i}" for i in range(sessions)]
        clock = time.perf_counter()
        with ThreadPoolExecutor(max_workers=sessions) as pool:
            jobs = [pool.submit(conversation, urls, name, i, turns, photo_for(i)) for i, name in enumerate(names)]
            latencies = [latency for job in jobs for latency in job.result()]
        wall = time.perf_counter() - clock
    finally:
        for process, _ in started:
            process.terminate()
            process.wait(timeout=60)
    ordered = sorted(latencies)
    return {
        "replicas": replicas,
        "database": "postgresql" if database else "sqlite",
        "sessions": sessions,
        "turns": len(latencies),
        "wall_s": round(wall, 1),
        "turns_per_minute": round(60 * len(latencies) / wall, 1),
        "p50_s": round(statistics.median(ordered), 2),
        "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
        # Read with SQLite from the only replica's data dir when there is no shared database.
        "histories_unbroken": unbroken(database, names, turns, folder / ("reader" if database else "replica0/data")),
    }


def photo_for(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (256, 384, 3), dtype=np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="a PostgreSQL URL (default: a throw-away cluster)")
    parser.add_argument("--sessions", type=int, default=8, help="concurrent sessions")
    parser.add_argument("--turns", type=int, default=4, help="turns per session (the first uploads)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2], help="replica counts to run")
    parser.add_argument("--sqlite-baseline", action="store_true", help="first, 1 replica on SQLite in its data dir")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="chatedit-load-"))
    cluster = None
    if args.database is None:
        from tests.postgres import Cluster, server_binaries

        binaries = server_binaries()
        if binaries is None:
            sys.exit("No PostgreSQL server installed (apt-get install postgresql), and no --database given.")
        cluster = Cluster(binaries)
    try:
        results = []
        if args.sqlite_baseline:
            results.append(run(1, None, args.sessions, args.turns, folder / "sqlite"))
            print(json.dumps(results[-1]), flush=True)
        for count in args.replicas:
            database = cluster.new_database() if cluster else args.database
            results.append(run(count, database, args.sessions, args.turns, folder / f"run{count}"))
            print(json.dumps(results[-1]), flush=True)
    finally:
        if cluster:
            cluster.stop()
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print("| database | replicas | sessions | turns | turns/min | p50 (s) | p95 (s) | histories unbroken |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        print(
            f"| {r['database']} | {r['replicas']} | {r['sessions']} | {r['turns']} | {r['turns_per_minute']} | {r['p50_s']} | "
            f"{r['p95_s']} | {'yes' if r['histories_unbroken'] else 'NO'} |"
        )


if __name__ == "__main__":
    main()
