"""An OpenAI-compatible HTTP API, so chat frontends (Open WebUI, LibreChat, any OpenAI client) can edit images.

    GET  /health                 liveness, database reachable, queue length, turns and side requests (no key needed)
    GET  /v1/models              one model, `chatedit`
    POST /v1/chat/completions    an edit turn, streamed (SSE) or not
    GET  /v1/images/{id}         an image of the store, when answers link images instead of inlining them
    POST /v1/images/edits        OpenAI's Images API: edit the first image as the prompt says (see images_api)
    POST /v1/images/generations  draw from text with the modern models; others answer 400 naming what can
    /mcp                         the MCP tools (streamable HTTP; see mcp_tools)

Frontends are stateless: every request carries the whole conversation. The picture to edit is the
LAST image in it, whether the user attached it (an `image_url` part) or an earlier answer showed it
(a markdown image in an assistant message), so a follow-up edits the latest version. The instruction
is the text of the last user message. The answer is the agent's message followed by the new picture
as a markdown image; a streamed answer sends progress lines first and the picture in one piece at
the end.

Model work runs on one worker thread, one turn at a time in arrival order, so the event loop stays
free to answer health checks and stream progress. Requests that frontends make on the side (a chat
title, tags, follow-up suggestions) go to the LLM when one is configured and are otherwise derived
from the conversation's words, never touching the editing models. Tools offered by a client are
never called.

Modules: `settings` (settings, errors), `auth` (the API key dependency), `conversation` (reading a
chat request), `side` (side requests), `backend` (the editor and its queue), `streaming` (SSE),
`chat`, `images` and `images_api` (the routes), `mcp_tools` (the MCP server), `remote` (fetching allowed image URLs).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import AsyncIterator, Callable, Optional, Union

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chatedit.agent.server import chat, images, images_api
from chatedit.agent.server.auth import Keys
from chatedit.agent.server.backend import Backend
from chatedit.agent.server.conversation import read_conversation
from chatedit.agent.server.mcp_tools import MCPEndpoint, http_sessions
from chatedit.agent.server.settings import APIError, ServerSettings
from chatedit.agent.session import Editor

__all__ = ["APIError", "ServerSettings", "create_app", "read_conversation"]

logger = logging.getLogger("chatedit.server")


def _install_error_handlers(app: FastAPI) -> None:
    """Makes every error, FastAPI's own included, answer in OpenAI's error shape."""

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


async def health(request: Request) -> JSONResponse:
    """Gives back liveness, the database's reachability, the models' and the queue's counts (no key needed).

    A replica that cannot edit says so with 503, so a load balancer sends it no turns: its database does
    not answer, or its models cannot be loaded (checked at start, and remembered once a turn failed to).
    """
    backend: Backend = request.app.state.backend
    queue = backend.queue
    database = None
    if backend.loaded:
        where = backend.editor().database
        database = {"kind": where.kind, "reachable": await run_in_threadpool(where.reachable)}
    problem = backend.models_problem()
    status = "ok"
    if database is not None and not database["reachable"]:
        status = "database unreachable"
    elif problem:
        status = "models unavailable"
    body = {
        "status": status,
        "models": {"ready": problem is None, "problem": problem},
        "database": database,
        "model": request.app.state.settings.model_id,
        "editor_loaded": backend.loaded,
        "running": queue.running,
        "waiting": queue.waiting,
        "turns": queue.finished,
        "side_requests": backend.side_requests,
    }
    return JSONResponse(body, status_code=200 if status == "ok" else 503)


def create_app(
    editor: Union[Editor, Callable[[], Editor]],
    settings: Optional[ServerSettings] = None,
    *,
    check_models: bool = True,
) -> FastAPI:
    """Gives back the FastAPI app serving `editor` (or the editor `editor()` builds on the first turn).

    Args:
        editor: an `agent.Editor`, or a function that builds one (called once, on the first turn).
        settings: keys, size limits and image links (default: from CHATEDIT_* variables).
        check_models: check at start whether the models can be loaded, for /health.
    """
    settings = settings or ServerSettings()
    backend = Backend(editor)
    keys = Keys(settings.keys, settings.image_link_ttl_s)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            if check_models:
                await run_in_threadpool(backend.check_models)
            async with http_sessions(app, backend, settings):
                yield
        finally:
            backend.close()

    app = FastAPI(
        title="chatedit",
        summary="An OpenAI-compatible chat API that edits images.",
        lifespan=lifespan,
        # With keys, every route but /health needs one: the schema and docs pages are not served.
        openapi_url=None if keys else "/openapi.json",
    )
    app.state.backend = backend
    app.state.settings = settings
    app.state.keys = keys
    app.state.started = int(time.time())
    _install_error_handlers(app)
    app.add_api_route("/health", health, methods=["GET"])
    app.include_router(chat.router)
    app.include_router(images_api.router)
    app.include_router(images.router)
    app.add_route("/mcp", MCPEndpoint(), methods=["GET", "POST", "DELETE"])
    return app
