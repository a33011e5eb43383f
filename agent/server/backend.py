"""The editor behind the server and the one worker thread its turns run on, in arrival order."""

from __future__ import annotations

import concurrent.futures
import logging
import sqlite3
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

import psycopg
from langchain_core.language_models import BaseChatModel
from PIL import Image
from psycopg_pool import PoolTimeout

from chatedit.agent.database import DatabaseUnavailableError, SessionBusyError, SessionLockLostError
from chatedit.agent.rules import parse_command
from chatedit.agent.server.auth import Keys
from chatedit.agent.server.conversation import ImageRef
from chatedit.agent.server.limits import read_picture
from chatedit.agent.server.remote import fetch_remote
from chatedit.agent.server.settings import ServerSettings
from chatedit.agent.session import Editor
from chatedit.tools.errors import ChatEditError, InputError, ModelUnavailableError, OutOfMemoryError

logger = logging.getLogger("chatedit.server")


class ServerBusyError(ChatEditError, RuntimeError):
    """Too many large pictures are held at once; the client sends again later (HTTP 503 with Retry-After)."""


TURN_ERRORS = (InputError, ModelUnavailableError, SessionBusyError, DatabaseUnavailableError)
"""The failures of a turn its client is told in words (bad input, models missing, session busy, database
down); others are logged."""
DATABASE_ERRORS = (
    DatabaseUnavailableError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    PoolTimeout,
    sqlite3.OperationalError,
)
"""What a database that went away raises mid-turn: the client is told to send the request again (503)."""


class TurnQueue:
    """Runs turns one at a time, in arrival order, on one worker thread; counts what runs and waits."""

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatedit-turn")
        self._lock = threading.Lock()
        self.running = 0
        self.waiting = 0
        self.finished = 0
        """Turns run to their end, edited or failed."""
        self.models_error: Optional[str] = None
        """Why a turn could not load the models, once one could not: remembered, since they will not appear
        by themselves, so /health keeps saying it until the server is restarted with them in place."""

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future:
        """Queues `fn`; a queued call whose future is cancelled (client gone) never runs."""

        def run():
            with self._lock:
                self.waiting -= 1
                self.running += 1
            try:
                return fn()
            except ModelUnavailableError as exc:
                # Running out of memory passes (a smaller picture, other programs done): not remembered.
                if not isinstance(exc, OutOfMemoryError):
                    self.models_error = str(exc)
                raise
            finally:
                with self._lock:
                    self.running -= 1
                    self.finished += 1

        with self._lock:
            self.waiting += 1
        future = self._pool.submit(run)

        def forget(done: concurrent.futures.Future) -> None:
            if done.cancelled():
                with self._lock:
                    self.waiting -= 1

        future.add_done_callback(forget)
        return future

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class Outcome:
    """What one turn gives back to the HTTP layer."""

    message: str
    session: str
    image_id: Optional[str]
    """The new current image, when the turn changed it (an edit, an undo); None otherwise."""
    report: dict


class Backend:
    """The editor (built on first use when given a factory) and the queue its turns run on."""

    def __init__(self, editor: Union[Editor, Callable[[], Editor]]):
        self._editor: Optional[Editor] = editor if isinstance(editor, Editor) else None
        self._factory: Optional[Callable[[], Editor]] = None if isinstance(editor, Editor) else editor
        self._build_lock = threading.Lock()
        self.queue = TurnQueue()
        self.side_requests = 0
        """Title, tags and follow-up requests answered without the editing models."""
        self._llm: Optional[BaseChatModel] = None
        self._llm_built = False
        self._large_lock = threading.Lock()
        self._large_held = 0
        self.startup_problem: Optional[str] = None
        """Why the models cannot be loaded, as checked at start (`check_models`)."""

    @property
    def loaded(self) -> bool:
        return self._editor is not None

    def models_problem(self) -> Optional[str]:
        """Gives back why no edit can run (the models cannot be loaded), or None when they can, or may."""
        return self.queue.models_error or self.startup_problem

    def check_models(self) -> Optional[str]:
        """Checks once, at start, whether the editor's models can be loaded, remembers it, and warns of missing ones.

        Gives back the problem, or None. An editor built on first use is not built for this: it is checked
        when it loads.
        """
        if self._editor is None:
            return None
        missing, self.startup_problem = self._editor.toolbox.models.availability()
        if self.startup_problem is not None:
            logger.warning("No edit can run, and /health answers 503: %s", self.startup_problem)
        elif missing:
            logger.warning(
                "Not in the Hugging Face cache: %s; the first edit downloads them (or run `chatedit models "
                "download` now).",
                ", ".join(missing),
            )
        return self.startup_problem

    def editor(self) -> Editor:
        if self._editor is None:
            with self._build_lock:
                if self._editor is None:
                    if self._factory is None:
                        raise RuntimeError("The backend has neither an editor nor a way to build one.")
                    self._editor = self._factory()
        return self._editor

    def admit(self, picture: Optional[Image.Image], settings: ServerSettings) -> Callable[[], None]:
        """Takes a place for a request with this picture and gives back what frees it, or raises ServerBusyError.

        Pictures over `settings.large_pixels` are held decoded while they wait for the one worker: at most
        `settings.max_large_requests` of them at once keeps the memory a few large photos take bounded.
        """
        if picture is None or picture.width * picture.height <= settings.large_pixels:
            return lambda: None
        with self._large_lock:
            if self._large_held >= settings.max_large_requests:
                raise ServerBusyError(
                    f"The server is busy with {self._large_held} other large picture(s) (over "
                    f"{settings.large_pixels / 1e6:g} MP); send this one again in a few seconds, or a smaller one."
                )
            self._large_held += 1
        released = threading.Event()

        def release() -> None:
            if not released.is_set():
                released.set()
                with self._large_lock:
                    self._large_held -= 1

        return release

    def has_session(self, session_id: str) -> bool:
        """Gives back whether the editor has a session with this id."""
        try:
            self.editor().session(session_id)
        except InputError:
            return False
        return True

    def llm(self) -> Optional[BaseChatModel]:
        """Gives back the LLM side requests go to: the editor's, else one from CHATEDIT_LLM_* (None: no LLM)."""
        if self._editor is not None:
            return self._editor.llm
        # The editor is not built for a side request: that would load the editing models.
        if not self._llm_built:
            from chatedit.agent.llm import configured_chat_model

            self._llm = configured_chat_model()
            self._llm_built = True
        return self._llm

    def load_image(self, ref: ImageRef, settings: ServerSettings, keys: Keys, key: Optional[str]) -> Image.Image:
        """Gives back the conversation's current picture as a checked RGB image (runs off the event loop).

        With API keys, a picture of this server's store is read only through a link made for the caller's
        key: its id alone, seen in another key's answers, reads nothing.
        """
        if ref.kind == "stored":
            if keys and keys.link_key(ref.value, ref.link.get("exp"), ref.link.get("sig")) != key:
                raise InputError(
                    "The conversation links a picture of this server that was not made for this API key, or "
                    "whose link has expired; attach the picture itself."
                )
            store = self.editor().store
            if not store.has(ref.value):
                raise InputError("The conversation shows an image this server no longer has; attach the picture again.")
            return store.get(ref.value)
        if ref.kind == "remote":
            if not settings.allow_remote_images:
                raise InputError("Image URLs are not accepted here; attach the image itself (a data: URL).")
            return read_picture(fetch_remote(ref.value, settings), settings)
        return read_picture(ref.value, settings)

    def run_turn(
        self,
        session_id: Optional[str],
        text: str,
        image,
        on_event: Optional[Callable[[dict], None]] = None,
        mask=None,
        seed: Optional[int] = None,
        request_id: Optional[str] = None,
        box=None,
        point=None,
    ) -> Outcome:
        """Runs one turn (on the worker thread) and gives back its outcome.

        Args:
            session_id: the session to continue (made on first use); None: a new one.
            text: the instruction.
            image: a new picture, or None to edit the session's current one.
            on_event: called with each progress event (None: nobody streams them).
            mask: the region the user drew, when given.
            seed: the base seed of the turn's generations (default: the editor's).
            request_id: the client's id of the request (its Idempotency-Key under its API key): when a turn
                of this session already answered it, that answer is given again and nothing is edited.
            box: instead of a mask, a box around the object to edit (see `Session.send`).
            point: instead of a mask, clicks on the object to edit (see `Session.send`).
        """
        try:
            return self._run_turn(session_id, text, image, on_event, mask, seed, request_id, box, point)
        except SessionLockLostError:
            raise
        except DATABASE_ERRORS as exc:
            logger.warning("A turn lost its database; the client is asked to send it again.", exc_info=exc)
            raise DatabaseUnavailableError(
                f"The database did not answer ({type(exc).__name__}); send the request again in a few "
                "seconds (with the same Idempotency-Key, an edit that was saved is not made twice)."
            ) from exc

    def _run_turn(self, session_id, text, image, on_event, mask, seed, request_id, box, point) -> Outcome:
        editor = self.editor()
        if image is None and session_id is not None and parse_command(text) and not self.has_session(session_id):
            # undo, redo and history read a session: under a name nobody used they store nothing.
            raise InputError("No such session: nothing was edited under that name yet; send a picture to start one.")
        # A named session is created on first use and continued afterwards.
        session = editor.session(session_id, create=True)
        # Its writer lock covers reading the current picture too: no other replica's turn slips in between.
        with editor.database.session_lock(session.id):
            answered = session.answered(request_id) if request_id else None
            if answered is not None:
                return _outcome(answered, session.id, changed=True)
            versions = session.history()
            current = next((v for v in versions if v.current), None)
            if image is not None and current is not None and editor.store.put(image) == current.image_id:
                # A frontend resent the picture this session already shows: continue from it.
                image = None
            start = len(versions) if image is not None else (current.index if current else None)
            turn = session.send(
                text, image=image, mask=mask, box=box, point=point, on_event=on_event, seed=seed, request_id=request_id
            )
        version = turn.report.get("version")
        return _outcome(turn, session.id, changed=version is not None and version != start)

    def run_variants(
        self,
        session_id: Optional[str],
        text: str,
        image,
        mask,
        n: int,
        request_id: Optional[str] = None,
        box=None,
        point=None,
    ) -> list[Outcome]:
        """Runs one turn and n-1 more from the same picture, each with its own seed; the first continues the session.

        `request_id` makes the first turn idempotent (see `run_turn`); the alternatives are drawn again.
        Each is edited where `mask`, or `box` and `point`, mark.
        """
        start = image
        if start is None and session_id is not None and n > 1:
            # The alternatives start from the picture the first turn edits: read it before that turn changes it.
            start = self.editor().session(session_id).image
        first = self.run_turn(session_id, text, image, mask=mask, request_id=request_id, box=box, point=point)
        seed = self.editor().context.seed
        # The others start new sessions from the same picture: they are alternatives, not later versions.
        others = [
            self.run_turn(None, text, start, mask=mask, seed=variant_seed(seed, i), box=box, point=point)
            for i in range(1, n)
        ]
        return [first, *others]

    def run_generations(
        self, session_id: Optional[str], prompt: str, size: Optional[tuple[int, int]], n: int
    ) -> list[Outcome]:
        """Draws n pictures from `prompt`, each from its own seed, each the new version of a session (the first: `session_id`)."""
        editor = self.editor()
        outcomes = []
        for i in range(n):
            with editor.lock:
                drawn = editor.toolbox.generate(prompt, size, seed=variant_seed(editor.context.seed, i)).image
            # The first continues the named session; the others are alternatives, each a new session.
            session = editor.session(session_id if i == 0 else None, create=True)
            turn = session.send("", image=drawn, origin=f"drawn from text: {prompt}")
            outcomes.append(Outcome(turn.message, session.id, turn.image_id, turn.report))
        return outcomes

    def close(self) -> None:
        self.queue.close()
        # An editor passed in belongs to the caller; only one built here is closed here.
        if self._factory is not None and self._editor is not None:
            self._editor.close()


def _outcome(turn, session_id: str, changed: bool) -> Outcome:
    """Gives back what the HTTP layer needs of a turn: its picture's id only when the turn changed the picture."""
    return Outcome(turn.message, session_id, turn.image_id if changed else None, turn.report)


def variant_seed(seed: int, i: int) -> int:
    """Gives back the base seed of the i-th picture of a request asking for several (the first: `seed`)."""
    # A prime stride apart from the graph's per-attempt one (1009): no two variants' attempts share a seed.
    return seed + 7919 * i
