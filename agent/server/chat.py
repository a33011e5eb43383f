"""POST /v1/chat/completions: one edit turn, or a frontend's side request, answered as OpenAI would."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Callable

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from chatedit.agent.database import DatabaseUnavailableError, SessionBusyError
from chatedit.agent.plan import instruction_text
from chatedit.agent.server.auth import ApiKey, request_id_for, scoped_session, session_for
from chatedit.agent.server.backend import Backend, Outcome, ServerBusyError
from chatedit.agent.server.conversation import Conversation, read_conversation
from chatedit.agent.server.images import image_link
from chatedit.agent.server.settings import RETRY_AFTER_S, APIError, ServerSettings, from_input_error
from chatedit.agent.server.side import side_answer
from chatedit.agent.server.streaming import completion, stream_text, stream_turn
from chatedit.tools.errors import InputError, ModelUnavailableError

logger = logging.getLogger("chatedit.server")
router = APIRouter()


async def read_body(request: Request, limit: int) -> bytes:
    """Gives back the request body, refusing one over `limit` bytes with 413 before keeping it in memory."""
    declared = request.headers.get("content-length")
    shown = f"{limit / (1024 * 1024):.0f} MB" if limit >= 1024 * 1024 else f"{limit} bytes"
    too_large = APIError(
        413,
        f"The request is over the server's {shown} limit; send a smaller image or a shorter history.",
        "request_too_large",
    )
    buffer = bytearray()
    over = bool(declared and declared.isdigit() and int(declared) > limit)
    try:
        # Past the limit the rest is read unkept: a client still sending would otherwise see a broken
        # connection, not the 413.
        async for chunk in request.stream():
            if not over:
                buffer += chunk
                over = len(buffer) > limit
    except ClientDisconnect:
        # Nobody is left to read an answer; this one is for the log, which keeps it as a warning.
        logger.warning("A client left before its request body arrived in full.")
        raise APIError(
            400, "The request ended before its body arrived in full; send it again.", "client_disconnected"
        ) from None
    if over:
        raise too_large
    return bytes(buffer)


async def read_json(request: Request, limit: int) -> dict:
    """Gives back the JSON object of the request body (415 unless sent as JSON, 413 over `limit` bytes, 400 when not JSON)."""
    data = await read_body(request, limit)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        # As OpenAI's API: the body is read as JSON only when it says it is (curl -d sends a form type).
        raise APIError(
            415,
            f"The request body must be sent as JSON (Content-Type: application/json), not {media_type or 'untyped'}.",
            "unsupported_media_type",
        )
    try:
        body = json.loads(data)
    except ValueError:
        raise APIError(400, "The request body is not valid JSON.", "invalid_json") from None
    except RecursionError:
        raise APIError(
            400, "The request body's JSON is nested too deeply; send a flatter object.", "invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise APIError(400, "The request body must be a JSON object.", "invalid_request")
    return body


def _check_instruction(conversation: Conversation) -> None:
    if not conversation.text and conversation.image is None:
        raise APIError(
            400,
            "The request has no instruction and no image; say what to change and attach a picture.",
            "invalid_request",
        )
    try:
        instruction_text(conversation.text)
    except InputError as exc:
        raise from_input_error(exc) from None


def admitted(backend: Backend, picture, settings: ServerSettings) -> Callable[[], None]:
    """Gives back what frees the request's place (`Backend.admit`); too many large pictures at once is 503."""
    try:
        return backend.admit(picture, settings)
    except ServerBusyError as exc:
        raise APIError(
            503, str(exc), "server_busy", "server_error", headers={"Retry-After": str(RETRY_AFTER_S)}
        ) from None


async def wait_for_turn(future):
    """Gives back what a queued turn gave back (its outcome), its failures turned into HTTP errors (400/413, 409, 503, 500)."""
    try:
        return await asyncio.wrap_future(future)
    except InputError as exc:
        raise from_input_error(exc) from None
    except ModelUnavailableError as exc:
        raise APIError(503, str(exc), "model_unavailable", "server_error") from None
    except SessionBusyError as exc:
        raise APIError(409, str(exc), "session_busy") from None
    except DatabaseUnavailableError as exc:
        raise APIError(
            503, str(exc), "database_unavailable", "server_error", headers={"Retry-After": str(RETRY_AFTER_S)}
        ) from None
    except Exception:
        logger.exception("turn failed")
        raise APIError(
            500, "chatedit hit an internal error during the edit; see the server log.", "internal_error", "server_error"
        ) from None


async def _side_request(backend: Backend, conversation: Conversation, model: str, stream: bool, usage: bool):
    backend.side_requests += 1
    llm = await run_in_threadpool(backend.llm)
    text = await run_in_threadpool(side_answer, conversation.task, conversation.system, llm)
    return stream_text(text, model, usage) if stream else JSONResponse(completion(text, model))


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, key: ApiKey):
    """Runs the turn a chat request asks for (or answers its side request), streamed or not."""
    backend: Backend = request.app.state.backend
    settings: ServerSettings = request.app.state.settings
    body = await read_json(request, settings.max_request_bytes)
    conversation = read_conversation(body)
    stream = bool(body.get("stream"))
    asked_model = body.get("model")
    model: str = asked_model if isinstance(asked_model, str) else settings.model_id
    options = body.get("stream_options")
    usage = isinstance(options, dict) and bool(options.get("include_usage"))
    if conversation.task is not None:
        return await _side_request(backend, conversation, model, stream, usage)
    _check_instruction(conversation)
    try:
        image = (
            await run_in_threadpool(backend.load_image, conversation.image, settings, request.app.state.keys, key)
            if conversation.image
            else None
        )
    except InputError as exc:
        raise from_input_error(exc) from None
    release = admitted(backend, image, settings)
    session_id = session_for(request, body.get("user"), key)
    request_id = request_id_for(request, key)
    if session_id is None and request_id is not None:
        # A stateless request sent again must find the session its first sending made.
        session_id = scoped_session(f"request-{request_id}", key)
    text = conversation.text

    async def answer_text(outcome: Outcome) -> str:
        if outcome.image_id is None:
            return outcome.message
        link = await run_in_threadpool(image_link, request, outcome.image_id, key)
        return f"{outcome.message}\n\n![edited]({link})"

    if stream:

        def turn(forward) -> Outcome:
            return backend.run_turn(session_id, text, image, forward, request_id=request_id)

        return stream_turn(backend, turn, model, usage, answer_text, release)
    future = backend.queue.submit(lambda: backend.run_turn(session_id, text, image, request_id=request_id))
    future.add_done_callback(lambda _: release())
    outcome = await wait_for_turn(future)
    payload = completion(await answer_text(outcome), model)
    payload["chatedit"] = {"session": outcome.session, "report": outcome.report}
    return JSONResponse(payload, headers={"X-Chatedit-Session": outcome.session})


def model_card(model_id: str, created: int) -> dict:
    """Gives back the /v1/models entry of the one model this server has."""
    return {"id": model_id, "object": "model", "created": created, "owned_by": "chatedit"}


@router.get("/v1/models")
async def list_models(request: Request, key: ApiKey):
    settings: ServerSettings = request.app.state.settings
    return {"object": "list", "data": [model_card(settings.model_id, request.app.state.started)]}


@router.get("/v1/models/{model}")
async def get_model(model: str, request: Request, key: ApiKey):
    settings: ServerSettings = request.app.state.settings
    if model != settings.model_id:
        raise APIError(404, f"No model {model!r}; this server has {settings.model_id!r}.", "model_not_found")
    return model_card(settings.model_id, request.app.state.started)
