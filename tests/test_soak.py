"""A bounded soak: two replicas over one PostgreSQL, sessions times turns through the official openai
client, with one replica killed (kill -9) and the database restarted, each in the middle of a turn.

Every request carries an Idempotency-Key, and a request that got no answer, or a 503, is sent again
with the same key (to the live replica), as a careful client does. Afterwards every session must be
one unbroken line of versions: its upload, then one version per turn, each the parent of the next;
nothing lost, nothing doubled, no 500, and every error in OpenAI's shape. The counts are printed.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import openai
import pytest
from test_postgres_replicas import Replica, history

from chatedit.tools.images import to_data_url
from tests.helpers import random_image

pytestmark = [pytest.mark.soak, pytest.mark.usefixtures("one_torch_thread")]

SESSIONS = 3
TURNS = 4
"""Edit turns per session after its first (the upload and an edit)."""
INSTRUCTION = "make it look like a watercolor painting"
MAX_SENDS = 6
"""Times one request is sent at most (a resend follows a lost answer or a 503)."""


@dataclass
class Counts:
    sent: int = 0
    ok: int = 0
    errors: list[tuple[int, dict]] = field(default_factory=list)
    """(HTTP status, error body) of every error answer."""
    lost_answers: int = 0
    """Requests whose connection broke before an answer (the killed replica)."""


def client(replica: Replica) -> openai.OpenAI:
    # The client's own retries are off: this test resends, with the same key, and counts each sending.
    return openai.OpenAI(base_url=f"{replica.url}/v1", api_key="unused", max_retries=0, timeout=120)


def send(counts: Counts, replicas: list[Replica], session: int, turn: int, first_to: int = 0) -> None:
    """Sends one turn until it is answered, to the replicas still alive, with one Idempotency-Key."""
    parts: list[dict] = [{"type": "text", "text": INSTRUCTION}]
    if turn == 0:
        parts.append({"type": "image_url", "image_url": {"url": to_data_url(random_image(96, 64, seed=40 + session))}})
    key = f"soak-{session}-{turn}"
    target = first_to
    for _ in range(MAX_SENDS):
        replica = replicas[target % len(replicas)]
        target += 1
        if replica.process.poll() is not None:
            continue
        counts.sent += 1
        try:
            client(replica).chat.completions.create(
                model="chatedit",
                messages=[{"role": "user", "content": parts}],
                user=f"soak-{session}",
                extra_headers={"Idempotency-Key": key},
            )
        except openai.APIConnectionError:
            counts.lost_answers += 1
            continue
        except openai.APIStatusError as error:
            counts.errors.append((error.status_code, error.body))
            time.sleep(float(error.response.headers.get("Retry-After", "1")) if error.status_code == 503 else 0)
            continue
        counts.ok += 1
        return
    raise AssertionError(f"turn {turn} of session {session} was not answered in {MAX_SENDS} sendings")


def held_turn(counts: Counts, replicas: list[Replica], held: Replica, session: int, turn: int, fault) -> None:
    """Sends a turn that waits inside `held` while `fault` strikes, then lets it go on (or not, if it died)."""
    held.inside.unlink(missing_ok=True)
    held.hold.touch()
    worker = threading.Thread(target=send, args=(counts, replicas, session, turn, replicas.index(held)))
    worker.start()
    deadline = time.monotonic() + 120
    while not held.inside.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert held.inside.exists(), "the held turn never reached the editor"
    fault()
    held.hold.unlink(missing_ok=True)
    worker.join(timeout=300)
    assert not worker.is_alive()


def test_soak_two_replicas_a_kill_and_a_database_restart(postgres_cluster, tmp_path, capsys):
    database = postgres_cluster.new_database()
    replicas = [Replica(tmp_path / name, database) for name in ("a", "b")]
    counts = Counts()
    try:
        for replica in replicas:
            replica.wait_ready()
        a, b = replicas
        for session in range(SESSIONS):
            send(counts, replicas, session, 0, first_to=session)
        for turn in range(1, TURNS + 1):
            for session in range(SESSIONS):
                if (turn, session) == (1, 0):
                    held_turn(counts, replicas, a, session, turn, a.kill)
                elif (turn, session) == (2, 1):
                    held_turn(counts, replicas, b, session, turn, postgres_cluster.restart)
                else:
                    send(counts, replicas, session, turn, first_to=session + turn)
    finally:
        for replica in replicas:
            replica.stop()

    lost = doubled = 0
    for session in range(SESSIONS):
        versions = history(database, f"soak-{session}", tmp_path / "reader")
        names = [name for name, *_ in versions]
        edits = names.count(INSTRUCTION)
        lost += max(0, TURNS + 1 - edits)
        doubled += max(0, edits - (TURNS + 1)) + max(0, names.count("uploaded") - 1)
        assert names == ["uploaded"] + [INSTRUCTION] * (TURNS + 1), names
        assert [parent for _, parent, _, _ in versions] == [None, *range(TURNS + 1)]
        assert versions[-1][2]  # the last version is the current one
    with capsys.disabled():
        print(
            f"\nsoak: sent {counts.sent}, ok {counts.ok}, errors {len(counts.errors)} "
            f"({', '.join(str(status) for status, _ in counts.errors) or 'none'}), answers lost to the kill "
            f"{counts.lost_answers}, versions lost {lost}, doubled {doubled}"
        )
    assert counts.ok == SESSIONS * (TURNS + 1)
    assert counts.lost_answers >= 1  # the kill did cut a turn off
    for status, body in counts.errors:
        assert status != 500 and status in (503, 409), (status, body)
        assert set(body) >= {"message", "type", "code"} and body["message"], body
    assert lost == doubled == 0
