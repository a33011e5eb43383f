"""An OpenAI-compatible HTTP API, so chat frontends (Open WebUI, LibreChat, any OpenAI client) can edit images.

    GET  /health                 liveness, queue length, turns run and side requests answered (no key needed)
    GET  /v1/models              one model, `chatedit`
    POST /v1/chat/completions    an edit turn, streamed (SSE) or not
    GET  /v1/images/{id}         an image of the store, when answers link images instead of inlining them

Frontends are stateless: every request carries the whole conversation. The picture to edit is the
LAST image in it, whether the user attached it (an `image_url` part) or an earlier answer showed it
(a markdown image in an assistant message), so a follow-up edits the latest version. The instruction
is the text of the last user message. The answer is the agent's message followed by the new picture
as a markdown image; a streamed answer sends progress lines first and the picture in one piece at
the end.

Model work runs on one worker thread, one turn at a time in arrival order, so the event loop stays
free to answer health checks and stream progress. Requests that frontends make on the side (a chat
title, tags, follow-up suggestions) are answered at once from the text, without touching the models.
Tools offered by a client are never called.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, AsyncIterator, Callable, Literal, Optional, Union
from urllib.parse import urlsplit, urlunsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from chatedit.agent.events import StepTracker
from chatedit.agent.session import MAX_INSTRUCTION, SESSION_ID, Editor
from chatedit.tools.errors import InputError, ModelUnavailableError, TooLargeError
from chatedit.tools.images import load_image

logger = logging.getLogger("chatedit.server")

MODEL_ID = "chatedit"
IMAGE_ID = re.compile(r"^(?P<id>[0-9a-f]{64})(?:\.png)?$")
_OWN_IMAGE_LINK = re.compile(r"/v1/images/(?P<id>[0-9a-f]{64})(?:\.png)?(?:\?[^\s)]*)?$")
_MARKDOWN_IMAGE = re.compile(r"!\[[^\]\n]*\]\(")
_ATTACHED_FILES = re.compile(r"<attached_files>.*?</attached_files>", re.S)
_TASK_JSON_KEY = re.compile(r"\{\s*\"(\w+)\"\s*:")
_HISTORY_USER_LINE = re.compile(r"^\s*USER:\s*(.+)$", re.M)
KEEPALIVE_S = 10.0
"""Seconds of silence after which a stream sends an SSE comment, so proxies keep the connection."""


class ServerSettings(BaseSettings):
    """Server settings, read from CHATEDIT_* environment variables (e.g. CHATEDIT_MAX_REQUEST_BYTES)."""

    model_config = SettingsConfigDict(env_prefix="CHATEDIT_", extra="ignore")

    api_key: Optional[str] = None
    """A key every request but /health must carry as `Authorization: Bearer KEY`."""
    api_keys: Annotated[list[str], NoDecode] = []
    """More accepted keys (comma-separated in CHATEDIT_API_KEYS); each key has its own sessions."""
    max_request_bytes: int = 64 * 1024 * 1024
    """Largest request body accepted (413 above); a resent history carries every earlier image."""
    max_image_bytes: int = 20 * 1024 * 1024
    """Largest encoded image accepted (413 above)."""
    allow_remote_images: bool = False
    """Fetch `image_url` parts given as http(s) URLs (public addresses only); off: data URLs only."""
    remote_timeout_s: float = 10.0
    """Time limit for fetching one remote image."""
    image_links: Literal["inline", "url"] = "inline"
    """How answers carry the picture: `inline` as a data URL, `url` as a link to /v1/images/{id}."""
    public_url: Optional[str] = None
    """Base URL clients reach this server at, for image links (default: the request's own base URL)."""
    model_id: str = MODEL_ID
    """The model name listed by /v1/models."""

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split(cls, value):
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @property
    def keys(self) -> list[str]:
        """Every accepted API key (empty: no key needed)."""
        return [key for key in [self.api_key, *self.api_keys] if key]


class APIError(Exception):
    """An error answered in OpenAI's shape: {"error": {"message", "type", "code"}}."""

    def __init__(self, status: int, message: str, code: str, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.code, self.kind = status, message, code, kind

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": None, "code": self.code}}
        return JSONResponse(body, status_code=self.status)


def _from_input_error(exc: InputError) -> APIError:
    if isinstance(exc, TooLargeError):
        return APIError(413, str(exc), "request_too_large")
    return APIError(400, str(exc), "invalid_request")


# ---- reading the conversation ----------------------------------------------------------------


@dataclass
class ImageRef:
    """Where the current picture is: a data URL, a remote URL, or an image of this server's store."""

    kind: Literal["data", "remote", "stored"]
    value: str


@dataclass
class Conversation:
    """What a chat request asks for, read without decoding any image."""

    text: str
    """The last user message's text, without attachment listings and markdown images."""
    image: Optional[ImageRef]
    """The last image of the conversation."""
    task: Optional[str] = None
    """The prompt of a side request (title, tags, follow-ups), when the request is one."""
    system: list[str] = field(default_factory=list)
    """The texts of system messages (a frontend's tool-selection prompt arrives there)."""


def _content_parts(content: Any) -> list[tuple[str, str]]:
    """Gives back a message's content as (kind, value) parts: ("text", text) or ("image", url)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [("text", content)]
    if not isinstance(content, list):
        raise APIError(400, "A message's content must be a string or a list of parts.", "invalid_request")
    parts = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(("text", part["text"]))
        elif kind in ("image_url", "input_image"):
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            if not isinstance(url, str) or not url.strip():
                raise APIError(400, "An image_url part has no URL; send the image as a data URL.", "invalid_image")
            parts.append(("image", url.strip()))
    return parts


def _last_markdown_image(text: str) -> Optional[ImageRef]:
    """Gives back the last data-URL or own-link markdown image of a text, copying out only that URL."""
    starts = [match.end() for match in _MARKDOWN_IMAGE.finditer(text)]
    for start in reversed(starts):
        end = text.find(")", start)
        if end < 0:
            continue
        # Only the URL's first characters are looked at before choosing: a data URL can be megabytes long.
        if text.startswith("data:image/", start):
            return ImageRef("data", text[start:end].strip().split(' "')[0])
        own = _OWN_IMAGE_LINK.search(text[start:end].strip().split(" ")[0]) if end - start < 4096 else None
        if own:
            return ImageRef("stored", own["id"])
        # A picture from elsewhere (say, another model's answer) is not ours to fetch: look further back.
    return None


def _strip_markdown_images(text: str) -> str:
    out, position = [], 0
    for match in _MARKDOWN_IMAGE.finditer(text):
        if match.start() < position:
            continue
        end = text.find(")", match.end())
        if end < 0:
            break
        out.append(text[position : match.start()])
        position = end + 1
    out.append(text[position:])
    return "".join(out)


def read_conversation(body: dict) -> Conversation:
    """Gives back the instruction, the current image and any side task of an OpenAI chat request."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise APIError(
            400, "The request has no messages; send a user message with an instruction and an image.", "invalid_request"
        )
    if not all(isinstance(message, dict) for message in messages):
        raise APIError(400, "Each message must be an object with a role and content.", "invalid_request")
    system = [
        value
        for message in messages
        if message.get("role") in ("system", "developer")
        for kind, value in _content_parts(message.get("content"))
        if kind == "text"
    ]
    image: Optional[ImageRef] = None
    text: Optional[str] = None
    for message in reversed(messages):
        role = message.get("role")
        if role in ("system", "developer"):
            continue
        parts = _content_parts(message.get("content"))
        if role == "user" and text is None:
            text = "\n".join(value for kind, value in parts if kind == "text")
        if image is None:
            for kind, value in reversed(parts):
                if kind == "image":
                    if value.startswith("data:"):
                        image = ImageRef("data", value)
                    elif _OWN_IMAGE_LINK.search(value):
                        image = ImageRef("stored", _OWN_IMAGE_LINK.search(value)["id"])
                    else:
                        image = ImageRef("remote", value)
                else:
                    image = _last_markdown_image(value)
                if image is not None:
                    break
        if text is not None and image is not None:
            break
    raw = text or ""
    task = raw.strip() if _is_side_task(raw, system) else None
    clean = _strip_markdown_images(_ATTACHED_FILES.sub("", raw)).strip()
    return Conversation(text=clean, image=image, task=task, system=system)


# ---- side requests: titles, tags, follow-ups --------------------------------------------------


def _is_side_task(text: str, system: list[str]) -> bool:
    """Tells whether a request is a frontend's housekeeping prompt rather than a user's instruction."""
    head = text.lstrip()
    if head.startswith("### Task:") and "<chat_history>" in text:
        return True
    return any(s.lstrip().startswith("Available Tools:") and "tool_calls" in s for s in system) or (
        head.startswith("Available Tools:") and "tool_calls" in text
    )


def side_answer(task: str, system: list[str]) -> str:
    """Gives back the JSON text answering a frontend's title, tags or follow-up request (no model involved)."""
    if any(s.lstrip().startswith("Available Tools:") for s in system) or task.startswith("Available Tools:"):
        return json.dumps({"tool_calls": []})
    head, _, rest = task.partition("<chat_history>")
    history = rest.partition("</chat_history>")[0]
    key = _TASK_JSON_KEY.search(head)
    key = key.group(1) if key else ""
    asked = [line.strip() for line in _HISTORY_USER_LINE.findall(history) if line.strip()]
    if key == "title":
        words = re.sub(r"[^\w\s'-]", " ", asked[0] if asked else "").split()[:5]
        title = " ".join(words).capitalize() if words else "Image edit"
        return json.dumps({"title": f"🖼️ {title}"}, ensure_ascii=False)
    if key == "tags":
        return json.dumps({"tags": ["Arts", "Image Editing"]})
    if key == "follow_ups":
        return json.dumps(
            {
                "follow_ups": [
                    "Make it look like a sunset",
                    "Turn it into a watercolor painting",
                    "Make the colors warmer",
                ]
            }
        )
    if key in ("queries", "tool_calls"):
        return json.dumps({key: []})
    if key:
        return json.dumps({key: ""})
    return "{}"


# ---- the turn worker -------------------------------------------------------------------------


class TurnQueue:
    """Runs turns one at a time, in arrival order, on one worker thread; counts what runs and waits."""

    def __init__(self):
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatedit-turn")
        self._lock = threading.Lock()
        self.running = 0
        self.waiting = 0
        self.finished = 0
        """Turns run to their end, edited or failed."""

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future:
        """Queues `fn`; a queued call whose future is cancelled (client gone) never runs."""

        def run():
            with self._lock:
                self.waiting -= 1
                self.running += 1
            try:
                return fn()
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
        self._editor = editor if isinstance(editor, Editor) else None
        self._factory = None if self._editor is not None else editor
        self._build_lock = threading.Lock()
        self.queue = TurnQueue()
        self.side_requests = 0
        """Title, tags and follow-up requests answered without the models."""

    @property
    def loaded(self) -> bool:
        return self._editor is not None

    def editor(self) -> Editor:
        if self._editor is None:
            with self._build_lock:
                if self._editor is None:
                    self._editor = self._factory()
        return self._editor

    def run_turn(self, session_id: Optional[str], text: str, image, on_event: Callable[[dict], None]) -> Outcome:
        """Runs one turn (on the worker thread) and gives back its outcome."""
        editor = self.editor()
        # A named session is created on first use and continued afterwards.
        session = editor.session(session_id, create=True)
        versions = session.history()
        current = next((v for v in versions if v.current), None)
        if image is not None and current is not None and editor.store.put(image) == current.image_id:
            # A frontend resent the picture this session already shows: continue from it.
            image = None
        start = len(versions) if image is not None else (current.index if current else None)
        turn = session.send(text, image=image, on_event=on_event)
        version = turn.report.get("version")
        changed = version is not None and version != start
        image_id = Path(turn.report["output"]).stem if changed and turn.report.get("output") else None
        return Outcome(turn.message, session.id, image_id, turn.report)

    def close(self) -> None:
        self.queue.close()
        # An editor passed in belongs to the caller; only one built here is closed here.
        if self._factory is not None and self._editor is not None:
            self._editor.close()


def _public_report(report: dict) -> dict:
    """Gives back the turn report with file paths of the server replaced by image ids."""

    def image_id(path: Optional[str]) -> Optional[str]:
        return Path(path).stem if path else None

    public = {k: v for k, v in report.items() if k != "output"}
    public["image"] = image_id(report.get("output"))
    public["steps"] = [
        {
            **{k: v for k, v in step.items() if k not in ("mask", "attempts")},
            "mask": image_id(step.get("mask")),
            "attempts": [{**a, "mask": image_id(a.get("mask"))} for a in step.get("attempts") or []],
        }
        for step in report.get("steps") or []
    ]
    return public


class ProgressLines:
    """Turns a turn's events into the short progress lines a streamed answer shows."""

    def __init__(self):
        self.steps = StepTracker()

    def __call__(self, event: dict) -> Optional[str]:
        """Gives back the line for one event (None: nothing worth a line)."""
        kind = event.get("event")
        if kind == "plan":
            steps = self.steps.plan(event)
            return f"Plan: {'; '.join(self.steps.names.values())}" if steps else None
        if kind == "step":
            name, again = self.steps.step(event)
            return f"Step {event['index']}/{event['total']}{again}: {name}"
        if kind == "not_found":
            return f"Step {event['index']}: could not find {event.get('target')}"
        if kind == "progress" and event.get("step") == 1:
            return f"Step {event['index']}: painting ({event['total']} denoising steps)"
        if kind == "checked":
            if event["passed"]:
                return f"Step {event['index']}: check passed"
            return f"Step {event['index']}: check failed" + (f" ({event['reason']})" if event.get("reason") else "")
        return None


# ---- the app ---------------------------------------------------------------------------------


def create_app(
    editor: Union[Editor, Callable[[], Editor]],
    settings: Optional[ServerSettings] = None,
) -> FastAPI:
    """Gives back the FastAPI app serving `editor` (or the editor `editor()` builds on the first turn).

    Args:
        editor: an `agent.Editor`, or a function that builds one (called once, on the first turn).
        settings: keys, size limits and image links (default: from CHATEDIT_* variables).
    """
    settings = settings or ServerSettings()
    backend = Backend(editor)
    started = int(time.time())
    keys = [key.encode() for key in settings.keys]
    link_secret = hashlib.sha256(b"\n".join(sorted(keys))).digest()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        backend.close()

    app = FastAPI(
        title="chatedit",
        summary="An OpenAI-compatible chat API that edits images.",
        lifespan=lifespan,
        # With keys, every route but /health needs one: the schema and docs pages are not served.
        openapi_url=None if keys else "/openapi.json",
    )
    app.state.backend = backend

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return APIError(exc.status_code, str(exc.detail), code).response()

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        return APIError(400, "The request is not valid: " + str(exc.errors()[:1]), "invalid_request").response()

    @app.exception_handler(Exception)
    async def _internal_error(request: Request, exc: Exception):
        logger.error("request failed", exc_info=exc)
        return APIError(
            500, "chatedit hit an internal error; see the server log.", "internal_error", "server_error"
        ).response()

    def authorize(request: Request) -> Optional[str]:
        """Gives back the caller's API key (None when no keys are configured), or raises 401."""
        if not keys:
            return None
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token:
            for key in keys:
                if hmac.compare_digest(token.strip().encode(), key):
                    return key.decode()
        raise APIError(
            401,
            "Missing or wrong API key; send it as 'Authorization: Bearer KEY'.",
            "invalid_api_key",
        )

    def link_signature(image_id: str) -> str:
        return hmac.new(link_secret, image_id.encode(), hashlib.sha256).hexdigest()[:32]

    def session_for(request: Request, body: dict, key: Optional[str]) -> Optional[str]:
        """Gives back the persistent session a request names (header or `user` field), scoped to its key."""
        name = request.headers.get("x-chatedit-session") or body.get("user")
        if not name or not isinstance(name, str):
            return None
        if key is None and SESSION_ID.match(name):
            return name
        # Each key sees only its own sessions: the id is derived from the key and the name.
        return hashlib.sha256(f"{key or ''}\n{name}".encode()).hexdigest()[:40]

    def image_link(request: Request, image_id: str) -> str:
        if settings.image_links == "inline":
            data = backend.editor().store.path(image_id).read_bytes()
            return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        base = (settings.public_url or str(request.base_url)).rstrip("/")
        return f"{base}/v1/images/{image_id}.png" + (f"?sig={link_signature(image_id)}" if keys else "")

    def answer_text(request: Request, outcome: Outcome) -> str:
        if outcome.image_id is None:
            return outcome.message
        return f"{outcome.message}\n\n![edited]({image_link(request, outcome.image_id)})"

    def load_current_image(ref: ImageRef):
        """Gives back the conversation's current picture as a checked RGB image (runs off the event loop)."""
        if ref.kind == "stored":
            store = backend.editor().store
            if not store.has(ref.value):
                raise InputError("The conversation shows an image this server no longer has; attach the picture again.")
            return store.get(ref.value)
        if ref.kind == "remote":
            if not settings.allow_remote_images:
                raise InputError("Image URLs are not accepted here; attach the image itself (a data: URL).")
            return load_image(_fetch_remote(ref.value, settings), max_bytes=settings.max_image_bytes)
        return load_image(ref.value, max_bytes=settings.max_image_bytes)

    @app.get("/health")
    async def health():
        queue = backend.queue
        return {
            "status": "ok",
            "model": settings.model_id,
            "editor_loaded": backend.loaded,
            "running": queue.running,
            "waiting": queue.waiting,
            "turns": queue.finished,
            "side_requests": backend.side_requests,
        }

    @app.get("/v1/models")
    async def list_models(request: Request):
        authorize(request)
        return {"object": "list", "data": [_model_card(settings.model_id, started)]}

    @app.get("/v1/models/{model}")
    async def get_model(model: str, request: Request):
        authorize(request)
        if model != settings.model_id:
            raise APIError(404, f"No model {model!r}; this server has {settings.model_id!r}.", "model_not_found")
        return _model_card(settings.model_id, started)

    @app.get("/v1/images/{name}")
    async def get_image(name: str, request: Request, sig: Optional[str] = None):
        match = IMAGE_ID.match(name)
        if not match:
            raise APIError(
                400, "An image id is 64 lowercase hex characters (optionally with .png).", "invalid_image_id"
            )
        image_id = match["id"]
        # Browsers load markdown images without headers, so a signed link stands in for the key.
        if not (keys and sig and hmac.compare_digest(sig.encode(), link_signature(image_id).encode())):
            authorize(request)
        path = backend.editor().store.path(image_id)
        if not path.is_file():
            raise APIError(404, "No image with this id.", "not_found")
        return FileResponse(
            path, media_type="image/png", headers={"Cache-Control": "private, max-age=31536000, immutable"}
        )

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        key = authorize(request)
        body = await _read_json(request, settings.max_request_bytes)
        conversation = read_conversation(body)
        stream = bool(body.get("stream"))
        model = body.get("model") if isinstance(body.get("model"), str) else settings.model_id
        options = body.get("stream_options")
        usage = isinstance(options, dict) and bool(options.get("include_usage"))
        if conversation.task is not None:
            backend.side_requests += 1
            text = side_answer(conversation.task, conversation.system)
            return _stream_text(text, model, usage) if stream else JSONResponse(_completion(text, model))
        if not conversation.text and conversation.image is None:
            raise APIError(
                400,
                "The request has no instruction and no image; say what to change and attach a picture.",
                "invalid_request",
            )
        if len(conversation.text) > MAX_INSTRUCTION:
            raise APIError(
                400,
                f"The instruction is {len(conversation.text)} characters; keep it under {MAX_INSTRUCTION}.",
                "invalid_request",
            )
        try:
            image = await run_in_threadpool(load_current_image, conversation.image) if conversation.image else None
        except InputError as exc:
            raise _from_input_error(exc) from None
        session_id = session_for(request, body, key)
        if stream:
            return _stream_turn(request, backend, session_id, conversation.text, image, model, usage, answer_text)
        future = backend.queue.submit(lambda: backend.run_turn(session_id, conversation.text, image, lambda e: None))
        try:
            outcome = await asyncio.wrap_future(future)
        except InputError as exc:
            raise _from_input_error(exc) from None
        except ModelUnavailableError as exc:
            raise APIError(503, str(exc), "model_unavailable", "server_error") from None
        except Exception:
            logger.exception("turn failed")
            raise APIError(
                500,
                "chatedit hit an internal error during the edit; see the server log.",
                "internal_error",
                "server_error",
            ) from None
        payload = _completion(await run_in_threadpool(answer_text, request, outcome), model)
        payload["chatedit"] = {"session": outcome.session, "report": _public_report(outcome.report)}
        return JSONResponse(payload, headers={"X-Chatedit-Session": outcome.session})

    return app


def _model_card(model_id: str, created: int) -> dict:
    return {"id": model_id, "object": "model", "created": created, "owned_by": "chatedit"}


async def _read_json(request: Request, limit: int) -> dict:
    """Gives back the JSON body, refusing one over `limit` bytes with 413 before keeping it in memory."""
    declared = request.headers.get("content-length")
    shown = f"{limit / (1024 * 1024):.0f} MB" if limit >= 1024 * 1024 else f"{limit} bytes"
    too_large = APIError(
        413,
        f"The request is over the server's {shown} limit; send a smaller image or a shorter history.",
        "request_too_large",
    )
    if declared and declared.isdigit() and int(declared) > limit:
        # Read the rest unkept: a client still sending would otherwise see a broken connection, not the 413.
        async for _ in request.stream():
            pass
        raise too_large
    buffer = bytearray()
    over = False
    async for chunk in request.stream():
        if not over:
            buffer += chunk
            over = len(buffer) > limit
    if over:
        raise too_large
    try:
        body = json.loads(buffer)
    except ValueError:
        raise APIError(400, "The request body is not valid JSON.", "invalid_json") from None
    if not isinstance(body, dict):
        raise APIError(400, "The request body must be a JSON object.", "invalid_request")
    return body


def _public_addresses(host: str, port: int) -> list[str]:
    """Gives back the addresses `host` resolves to, or raises InputError when one of them is not public."""
    try:
        addresses = sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})
    except OSError:
        raise InputError(f"Cannot resolve {host}; attach the image instead.") from None
    if not addresses or any(not ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses):
        raise InputError("Image URLs must point to a public address; attach the image instead.")
    return addresses


def _fetch_remote(url: str, settings: ServerSettings) -> bytes:
    """Gives back the bytes at a public http(s) URL, within the size and time limits, or raises InputError."""
    import httpx

    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise InputError("An image URL must be http(s) or a data: URL.")
    address = _public_addresses(parts.hostname, port)[0]
    # Connect to the address just checked: a second lookup could be answered with a private one.
    netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    # httpx's timeout bounds each read, not the whole transfer, which a slow sender can stretch.
    deadline = time.monotonic() + settings.remote_timeout_s
    data = bytearray()
    try:
        with httpx.Client(timeout=settings.remote_timeout_s, follow_redirects=False) as client, client.stream(
            "GET", pinned, headers={"Host": host}, extensions={"sni_hostname": parts.hostname}
        ) as reply:
            if reply.status_code != 200:
                raise InputError(f"The image URL answered HTTP {reply.status_code}; attach the image instead.")
            for chunk in reply.iter_bytes():
                data += chunk
                if len(data) > settings.max_image_bytes:
                    raise TooLargeError("The image at that URL is over the size limit; send a smaller image.")
                if time.monotonic() > deadline:
                    raise InputError(
                        f"The image URL took over {settings.remote_timeout_s:g} s to send; attach the image instead."
                    )
    except httpx.HTTPError as exc:
        raise InputError(f"Could not fetch the image URL ({type(exc).__name__}); attach the image instead.") from None
    return bytes(data)


def _completion(text: str, model: str) -> dict:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "logprobs": None}
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


class _Chunks:
    """Builds the SSE events of one streamed completion, as OpenAI sends them."""

    def __init__(self, model: str, usage: bool):
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.usage = usage

    def event(self, delta: dict, finish: Optional[str] = None, **extra: Any) -> str:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            **extra,
        }
        return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"

    def content(self, text: str) -> str:
        return self.event({"content": text})

    def end(self, **extra: Any) -> str:
        events = self.event({}, "stop", **extra)
        if self.usage:
            usage = {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            }
            events += f"data: {json.dumps(usage)}\n\n"
        return events + "data: [DONE]\n\n"


_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _stream_text(text: str, model: str, usage: bool) -> StreamingResponse:
    chunks = _Chunks(model, usage)

    async def events() -> AsyncIterator[str]:
        yield chunks.event({"role": "assistant", "content": ""})
        yield chunks.content(text)
        yield chunks.end()

    return StreamingResponse(events(), media_type="text/event-stream", headers=_SSE_HEADERS)


def _stream_turn(
    request: Request,
    backend: Backend,
    session_id: Optional[str],
    text: str,
    image,
    model: str,
    usage: bool,
    answer_text: Callable[[Request, Outcome], str],
) -> StreamingResponse:
    """Gives back the SSE response of one turn: progress lines while it runs, then the answer with the picture."""
    chunks = _Chunks(model, usage)

    async def sse() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        describe = ProgressLines()

        def forward(event: Optional[dict]) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        # The turn is queued once the client reads the stream, so a client gone before then costs nothing.
        ahead = backend.queue.waiting + backend.queue.running
        future = backend.queue.submit(lambda: backend.run_turn(session_id, text, image, forward))
        future.add_done_callback(lambda _: forward(None))
        try:
            yield chunks.event({"role": "assistant", "content": ""})
            if ahead:
                yield chunks.content(f"Waiting for {ahead} earlier edit{'s' * (ahead > 1)}...\n")
            while True:
                try:
                    event = await asyncio.wait_for(events.get(), KEEPALIVE_S)
                except asyncio.TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if event is None:
                    break
                line = describe(event)
                if line:
                    yield chunks.content(f"- {line}\n")
            extra: dict = {}
            try:
                outcome = future.result()
                # The picture goes in ONE delta: frontends re-render the markdown on every piece.
                final = "\n" + await run_in_threadpool(answer_text, request, outcome)
                extra = {"chatedit": {"session": outcome.session, "report": _public_report(outcome.report)}}
            except (InputError, ModelUnavailableError) as exc:
                final = f"\n{exc}"
            except Exception:
                logger.exception("turn failed")
                final = "\nchatedit hit an internal error during the edit; see the server log."
            yield chunks.content(final)
            yield chunks.end(**extra)
        finally:
            # A client that leaves while its turn waits frees its place in the queue.
            future.cancel()

    return StreamingResponse(sse(), media_type="text/event-stream", headers=_SSE_HEADERS)
