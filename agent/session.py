"""Sessions and the Python API: `Editor` owns models, store and checkpointer; `Session` is one chat.

A session is a LangGraph thread in a checkpointer (SQLite in the data dir, or PostgreSQL shared by
replicas: see agent/database.py); its images live in the content-addressed store next to it. A turn
holds its session's writer lock, so concurrent turns on one session run one after the other. Every
edit is a version with a parent, so undo, redo and history are moves of a cursor, and a new process
(or a new Editor) resumes a session by its id.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from langchain_core.messages import AIMessage
from PIL import Image
from pydantic import ValidationError

from chatedit.agent.brain import planner_llm
from chatedit.agent.config import Settings
from chatedit.agent.context import Context
from chatedit.agent.database import open_database
from chatedit.agent.graph import build_graph
from chatedit.agent.plan import instruction_text
from chatedit.agent.store import ImageStore
from chatedit.agent.toolbox import EditSettings, Toolbox
from chatedit.tools.errors import InputError, OutOfMemoryError
from chatedit.tools.images import MAX_SIDE, ImageSource, MaskSource, check_editable, load_image, load_mask
from chatedit.tools.models import get_models
from chatedit.tools.selection import MASK_AND_SELECTION, Selection, read_selection

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

EventHandler = Callable[[dict], None]
REQUEST_WINDOW_S = 24 * 3600.0
"""How long a request id finds the edit it made: a retry within it gets that answer, not a second edit."""


@dataclass
class Turn:
    """The result of one message: the image now current, the answer, and the turn report.

    The report names pictures and masks by their ids in the editor's store (`editor.store.get`,
    `get_mask`): a turn writes no files.
    """

    image: Optional[Image.Image]
    message: str
    report: dict[str, Any]

    @property
    def image_id(self) -> Optional[str]:
        """The store id of the image now current (None before any picture)."""
        return self.report.get("image")


@dataclass
class VersionInfo:
    """One image of a session's history."""

    index: int
    image_id: str
    parent: Optional[int]
    instruction: str
    current: bool
    _store: ImageStore = field(repr=False)

    @property
    def image(self) -> Image.Image:
        return self._store.get(self.image_id)


class Editor:
    """The chat image editor: models, planner, image store and sessions.

    Every argument left as None comes from the environment (`chatedit.agent.config.Settings`:
    CHATEDIT_MODELS, CHATEDIT_PLANNER, ...), then from the defaults below.

    Args:
        models: model family, `auto`, `classic`, `modern` or `max`, or `family:weights` (`modern:tiny`).
        planner: `auto` (the LLM when configured, else rules), `llm` or `rules`.
        device: `auto`, `cpu` or `cuda`.
        data_dir: where sessions and images are kept (default: CHATEDIT_DATA_DIR or ~/.local/share/chatedit).
        max_attempts: tries per step before the best failed try is kept (default 3).
        seed: base seed of every generation (default 0).
        settings: generation settings (steps, guidance, local edit mode).
        llm: who plans, judges and answers: `editor` (the family's own text encoder), `local:MODEL`
            (a transformers chat model), `server`, an OpenAI-compatible server's URL, or a LangChain
            chat model; None: CHATEDIT_LLM, else a configured server, else the encoder on a GPU.
        toolbox: the tools to use instead of ones built from `models` (tests, custom deployments).
        database: where sessions and pictures are kept: a `postgresql://` URL shared by replicas, or
            None for CHATEDIT_DATABASE_URL, else SQLite and an image folder in the data dir.
        session_wait: seconds a turn waits for another turn on its session before SessionBusyError (default 60).
        weights: `real`, `tiny` or `random` (default: what `models` implies, else real).
        config: the settings to start from instead of the environment's.
        finder: what finds and outlines objects: `auto` (SAM 3 when it is in the Hugging Face cache),
            `dino-sam` (GroundingDINO + SAM) or `sam3` (facebook/sam3, gated: accept the SAM License).
        quantize: the editors' weights: `auto` (on a GPU, as little quantization as fits its free
            memory), `none`, `int8`, `fp8` or `nf4`.
        offload: `none`, `model` or `group`: keep the editors' weights in CPU memory until they run.
    """

    def __init__(
        self,
        models: Optional[str] = None,
        planner: Optional[str] = None,
        device: Optional[str] = None,
        data_dir: str | os.PathLike | None = None,
        max_attempts: Optional[int] = None,
        seed: Optional[int] = None,
        settings: Optional[EditSettings] = None,
        llm=None,
        toolbox: Optional[Toolbox] = None,
        max_side: int = MAX_SIDE,
        database: Optional[str] = None,
        session_wait: Optional[float] = None,
        weights: Optional[str] = None,
        config: Optional[Settings] = None,
        finder: Optional[str] = None,
        quantize: Optional[str] = None,
        offload: Optional[str] = None,
    ):
        if planner not in (None, "auto", "llm", "rules"):
            raise InputError(f"Unknown planner {planner!r}; use auto, llm or rules.")
        if max_attempts is not None and max_attempts < 1:
            raise InputError("max_attempts must be at least 1.")
        chat_model = None if llm is None or isinstance(llm, str) else llm
        if isinstance(llm, str):
            llm = _llm_choice(llm)
        given = dict(
            models=models,
            planner=planner,
            device=device,
            data_dir=data_dir,
            max_attempts=max_attempts,
            seed=seed,
            edit=settings,
            database_url=database,
            session_wait=session_wait,
            weights=weights,
            llm=llm if isinstance(llm, str) else None,
            finder=finder,
            quantize=quantize,
            offload=offload,
        )
        base = config or Settings()
        self.config = base.model_copy(update={k: v for k, v in given.items() if v is not None})
        """The settings this editor runs with: the arguments over `config` (default: the environment's)."""
        config = self.config
        self.data_dir = Path(config.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Before any model loads: a database that cannot be reached stops the start at once.
        self.database = open_database(config.database_url, self.data_dir, session_wait=config.session_wait)
        self.store = self.database.store
        try:
            self.toolbox = toolbox or Toolbox(models_of(config), config.edit)
            self.llm = planner_llm(config, self.toolbox.models, chat_model)
        except BaseException:
            # A start that fails here (models missing, no LLM) must not leave the database's connections open.
            self.database.close()
            raise
        self.max_side = max_side
        self.checkpointer = self.database.checkpointer
        self.context = Context.of(config, toolbox=self.toolbox, images=self.store, llm=self.llm)
        """What every turn's graph run works with (`graph.stream(..., context=editor.context)`)."""
        self.graph = build_graph(checkpointer=self.checkpointer)
        self.lock = threading.Lock()
        """Serialises turns: one edit on the device at a time."""

    def session(self, session_id: Optional[str] = None, *, create: bool = False) -> "Session":
        """Gives back a new session, or the existing one with this id (made on first use if `create`)."""
        if session_id is None:
            return Session(self, uuid.uuid4().hex)
        if not SESSION_ID.match(session_id):
            raise InputError("A session id is 1-64 letters, digits, '-' or '_'.")
        if not create and self.graph.get_state(_config(session_id)).values.get("versions") is None:
            raise InputError(f"No session {session_id!r} in {self.database.where}; start a new one without an id.")
        return Session(self, session_id)

    def close(self) -> None:
        """Finishes pending image writes (raising a failed write's error) and closes the session database."""
        self.database.close()


def models_of(config: Settings):
    """Gives back the process-wide ModelSet these settings name (nothing loads until a role is used)."""
    return get_models(
        config.models,
        config.device,
        config.checkpoints,
        config.cache_dir,
        weights=config.weights,
        finder=config.finder,
        quantize=config.quantize,
        offload=config.offload,
    )


def _llm_choice(value: str) -> str:
    """Gives back an `llm` choice spelled as the settings keep it, or raises InputError saying what is allowed."""
    try:
        return Settings.given(llm=value).llm or value
    except ValidationError as exc:
        raise InputError(f"Unknown LLM {value!r}: use editor, local:MODEL, server, or an http(s) URL.") from exc


def _config(session_id: str) -> dict:
    return {"configurable": {"thread_id": session_id}}


class Session:
    """One conversation about one picture and its versions."""

    def __init__(self, editor: Editor, session_id: str):
        self.editor = editor
        self.id = session_id

    def _state(self) -> dict:
        return self.editor.graph.get_state(_config(self.id)).values

    @property
    def image(self) -> Optional[Image.Image]:
        """The current version's image (None before any upload)."""
        state = self._state()
        versions = state.get("versions") or []
        return self.editor.store.get(versions[state["cursor"]]["image"]) if versions else None

    def send(
        self,
        text: str,
        image: ImageSource | None = None,
        *,
        mask: MaskSource | None = None,
        box: Any = None,
        point: Any = None,
        on_event: Optional[EventHandler] = None,
        seed: Optional[int] = None,
        origin: Optional[str] = None,
        request_id: Optional[str] = None,
    ) -> Turn:
        """Gives back the result of one message (an edit, a command, a question, or an answer).

        Args:
            text: the instruction, question, or command (undo, redo, history).
            image: a new picture to edit (path, bytes, data URL or PIL image); None edits the current one.
            mask: the region to edit, drawn by the user (path, bytes, data URL, PIL image or array of the
                picture's size; white, or fully transparent, marks it): every step of this message acts
                there, without detection, and nothing outside it (and its feathered seam) changes.
            box: instead of a mask, a box around the object to edit: [x0, y0, x1, y1] in the picture's
                pixels (or the text "x0,y0,x1,y1"). The finder's segmenter outlines the object in it, and
                that outline acts as a drawn mask.
            point: instead of a mask, a click on the object to edit: [x, y] in the picture's pixels, or
                several, [[x, y], ...], all on the same object; with a box, they pick the object in it.
            on_event: called with each progress event (plan, step, progress, verdict, done).
            seed: the base seed of this message's generations (default: the editor's), for variants.
            origin: what made `image`, as its version's instruction in the history (default "uploaded").
            request_id: the client's id of this request: an edit is kept with it, and `answered(request_id)`
                finds it again (idempotent retries).
        """
        text = instruction_text(text)
        picture = None
        if image is not None:
            picture = check_editable(load_image(image, max_side=self.editor.max_side))
        if not text and picture is None:
            raise InputError("Say what to change (e.g. 'remove the cup'), or send an image.")
        if mask is not None and (box is not None or point is not None):
            raise InputError(MASK_AND_SELECTION)
        user_mask = self._store_mask(mask, picture) if mask is not None else None
        selection = self._selection(box, point, picture)
        upload = self.editor.store.put(picture) if picture is not None else None
        context = self.editor.context if seed is None else dataclasses.replace(self.editor.context, seed=seed)
        # The session's lock first: waiting for another replica's turn must not hold this one's device.
        with self.editor.database.session_lock(self.id), self.editor.lock:
            if selection is not None:
                user_mask = self._outline(selection, picture)
            payload = {
                "instruction": text,
                "upload": upload,
                "user_mask": user_mask,
                "origin": origin,
                "request_id": request_id,
            }
            final = None
            stream = self.editor.graph.stream(
                payload, _config(self.id), context=context, stream_mode=["custom", "values"]
            )
            try:
                for mode, chunk in stream:
                    if mode == "custom" and on_event is not None:
                        on_event(chunk)
                    elif mode == "values":
                        final = chunk
            except OutOfMemoryError as exc:
                # Nothing of the turn was saved: the session is as it was. Say what would fit.
                raise OutOfMemoryError(f"{exc} {self._memory_advice()}") from exc
        if final is None:
            raise RuntimeError("The turn's graph gave back no state.")
        report = {**final["report"], "session": self.id}
        image_id = report.get("image")
        return Turn(self.editor.store.get(image_id) if image_id else None, final["reply"], report)

    def _memory_advice(self) -> str:
        """Gives back the settings that would fit, from the models' own advice when they have it."""
        advice = getattr(self.editor.toolbox.models, "memory_advice", None)
        return advice() if advice else "Close other programs using the GPU, or run on the CPU with --device cpu."

    def _store_mask(self, mask: MaskSource, picture: Optional[Image.Image]) -> str:
        """Gives back the store id of the user's mask, checked against the picture it is drawn on."""
        picture = picture or self.image
        if picture is None:
            raise InputError("A mask needs a picture to go with it: send the image together with the mask.")
        return self.editor.store.put_mask(load_mask(mask, picture.size))

    def _selection(self, box: Any, point: Any, picture: Optional[Image.Image]) -> Optional[Selection]:
        """Gives back the user's box and points checked against the picture they are on (None: neither given)."""
        if box is None and point is None:
            return None
        picture = picture or self.image
        if picture is None:
            raise InputError("A box or point needs a picture to go with it: send the image together with it.")
        return read_selection(box, point, picture.size)

    def _outline(self, selection: Selection, picture: Optional[Image.Image]) -> str:
        """Gives back the store id of the mask the segmenter outlines from the user's box and points.

        Runs under the session's lock, so the picture it outlines on is the one the turn edits.
        """
        picture = picture or self.image
        assert picture is not None  # `_selection` refused a box or point without a picture
        return self.editor.store.put_mask(self.editor.toolbox.segment_selection(picture, selection))

    def answered(self, request_id: str, window_s: float = REQUEST_WINDOW_S) -> Optional[Turn]:
        """Gives back the turn that already made a version for this request id within the window, or None.

        A client that sends a request again (its answer was lost: a timeout, a restart) gets that turn's
        answer instead of a second edit. The id is kept on the version, in the same checkpoint.
        """
        state = self._state()
        versions = state.get("versions") or []
        found = next((i for i in range(len(versions) - 1, -1, -1) if versions[i].get("request") == request_id), None)
        if found is None or time.time() - versions[found].get("made_at", 0) > window_s:
            return None
        report = state.get("report") or {}
        if report.get("version") == found:
            # The request's own turn was the session's last: its answer and report as they were.
            return Turn(
                self.editor.store.get(versions[found]["image"]),
                state.get("reply") or "",
                {**report, "session": self.id},
            )
        message = f"Already done: {versions[found]['instruction']} (version {found})."
        report = {
            "image": versions[found]["image"],
            "version": found,
            "message": message,
            "steps": [],
            "replayed": True,
        }
        return Turn(self.editor.store.get(versions[found]["image"]), message, {**report, "session": self.id})

    def history(self) -> list[VersionInfo]:
        """Gives back every version of the session, oldest first, the original included."""
        state = self._state()
        store = self.editor.store
        return [
            VersionInfo(i, v["image"], v["parent"], v["instruction"], i == state["cursor"], store)
            for i, v in enumerate(state.get("versions") or [])
        ]

    def undo(self) -> Optional[Image.Image]:
        """Steps back to the previous version and gives back the image now current."""
        return self.send("undo").image

    def redo(self) -> Optional[Image.Image]:
        """Steps forward again after an undo and gives back the image now current."""
        return self.send("redo").image

    def goto(self, index: int) -> Image.Image:
        """Makes version `index` current and gives back its image; every version stays in the session.

        Back along the current version's line is undo repeated (redo walks forward again), forward along
        what was undone is redo repeated; any other version is current with nothing to redo. The next
        edit starts from it.

        Raises:
            InputError: the session has no version `index`.
        """
        with self.editor.database.session_lock(self.id):
            state = self._state()
            versions = state.get("versions") or []
            if not 0 <= index < len(versions):
                raise InputError(f"There is no version {index}: this session has {len(versions)}.")
            redo = list(state.get("redo") or [])
            line = _line(versions, state["cursor"])
            if index in line:
                redo += line[: line.index(index)]
            elif index in redo:
                redo = redo[: redo.index(index)]
            else:
                redo = []
            reply = f'Went to version {index} ("{versions[index]["instruction"]}").'
            report = {"command": "goto", "image": versions[index]["image"], "version": index, "message": reply}
            values = {
                "cursor": index,
                "redo": redo,
                "pending": None,
                "reply": reply,
                "report": {**report, "question": False, "steps": []},
                "messages": [AIMessage(content=reply)],
            }
            # Written as the end of a command turn, so the session's next turn starts as after undo.
            self.editor.graph.update_state(_config(self.id), values, as_node="finish")
        return self.editor.store.get(versions[index]["image"])

    def candidates(self) -> list[dict]:
        """Gives back what the question waiting for an answer offers, in the order asked (empty: no question).

        Each is `{"label", "box": [x0, y0, x1, y1], "score"}` in the current picture's pixels; the answer
        "2" (`send("2")`) picks the second.
        """
        pending = self._state().get("pending")
        return [dict(candidate) for candidate in pending["candidates"]] if pending else []

    def conversation(self) -> list[tuple[str, str]]:
        """Gives back the session's messages, oldest first, as (role, text): role "user" or "assistant"."""
        roles = {"human": "user", "ai": "assistant"}
        return [(roles[m.type], str(m.content)) for m in self._state().get("messages") or [] if m.type in roles]


def _line(versions: list, index: int) -> list[int]:
    """Gives back version `index` and its ancestors, newest first, down to the upload it came from."""
    line = [index]
    while versions[line[-1]]["parent"] is not None:
        line.append(versions[line[-1]]["parent"])
    return line
