"""The OpenAI Images API: POST /v1/images/edits, and /v1/images/generations where the models can draw.

An edit request is multipart, as OpenAI's: `image` or `image[]` (one or more files), `prompt`,
optional `mask` (a PNG of the first image's size whose fully transparent pixels may change), `n`,
`size`, `response_format`, `output_format`, `model`, and `user` (or the `X-Chatedit-Session` header)
to continue a session. The prompt is planned like a chat turn, so it may ask for several edits.
Instead of a mask, chatedit also takes `box` ("x0,y0,x1,y1") and `point` ("x,y"; repeated, or
"x,y;x,y", for several clicks on one object) in the picture's pixels: the object they mark is outlined
and edited as if its outline were the mask.

Which picture is edited: the FIRST image of the request. OpenAI's mask belongs to the first image,
and Open WebUI sends, for a follow-up in a chat, the images of the two latest messages that carry
any, newest first: the picture its last answer showed, then the one before. Editing the first image
makes its follow-ups edit the latest picture; the other images are not used.

A generation request is JSON, as OpenAI's: `prompt`, `n`, `size` (`auto` or WIDTHxHEIGHT),
`response_format`, `output_format`, `user`. Only the modern family draws from text (FLUX.2 klein
without a reference picture); each drawn picture is the new version of a session, so the answer
carries the session and an edit with the same `user` (or the session header) continues from it.
Other families answer 400, naming what can draw.
"""

from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass
from typing import Mapping, Optional, Union

from fastapi import APIRouter, Request
from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from chatedit.agent.events import step_name
from chatedit.agent.plan import MAX_INSTRUCTION
from chatedit.agent.server.auth import ApiKey, request_id_for, scoped_session, session_for
from chatedit.agent.server.backend import Backend, Outcome
from chatedit.agent.server.chat import admitted, read_body, read_json, wait_for_turn
from chatedit.agent.server.images import image_link
from chatedit.agent.server.limits import read_mask, read_picture
from chatedit.agent.server.settings import APIError, ServerSettings, from_input_error
from chatedit.tools.errors import InputError
from chatedit.tools.selection import MASK_AND_SELECTION, read_selection

router = APIRouter()
FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
MAX_N = 4
"""Pictures one request may ask for, each from its own seed."""
GENERATION_SIDES = (64, 2048)
"""Smallest and largest side of a drawn picture: the model draws at about 1 MP and scales to the asked size."""
MAX_ASPECT = 4
"""Longest side over shortest of a drawn picture; beyond it the model's working size degenerates."""


@dataclass
class EditRequest:
    """An images/edits request, checked."""

    prompt: str
    n: int
    image: Optional[bytes]
    mask: Optional[bytes]
    box: Optional[str]
    """x0,y0,x1,y1 of the object to edit, as sent; checked against the picture."""
    point: Optional[str]
    """x,y of clicks on the object to edit, as sent ("x,y;x,y" for several)."""
    size: str
    response_format: str
    output_format: str
    user: Optional[str]


def _bad(message: str, param: str) -> APIError:
    return APIError(400, message, "invalid_request", param=param)


def _text(form, param: str) -> Optional[str]:
    """Gives back a text field of the form, its repeats joined by ';' (None when absent)."""
    values = form.getlist(param)
    if not values:
        return None
    if not all(isinstance(value, str) for value in values):
        raise _bad(f"`{param}` must be a text field of the form, not a file.", param)
    return ";".join(values)


async def _file(value, param: str) -> bytes:
    if not isinstance(value, UploadFile):
        raise _bad(f"`{param}` must be a file part of the multipart form (an image file).", param)
    return await value.read()


def _choice(form: Mapping, param: str, choices: tuple[str, ...], default: str) -> str:
    value = str(form.get(param) or default).strip().lower()
    if value not in choices:
        raise _bad(f"`{param}` must be one of {', '.join(choices)}; got {value!r}.", param)
    return value


async def read_edit_request(request: Request, settings: ServerSettings) -> EditRequest:
    """Gives back the checked fields of a multipart edit request (400 when one is wrong, 413 when too large)."""
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise _bad("Send the edit as multipart/form-data with `image` and `prompt`, as OpenAI's API takes it.", "image")
    body = await read_body(request, settings.max_request_bytes)

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, receive).form(max_files=16, max_fields=64)
    images = [value for key, value in form.multi_items() if key in ("image", "image[]")]
    prompt = str(form.get("prompt") or "").strip()
    if not prompt:
        raise _bad("`prompt` is missing: say what to change, e.g. 'remove the cup'.", "prompt")
    if len(prompt) > MAX_INSTRUCTION:
        raise _bad(f"The prompt is {len(prompt)} characters; keep it under {MAX_INSTRUCTION}.", "prompt")
    n = str(form.get("n") or "1").strip()
    if not (n.isdigit() and 1 <= int(n) <= MAX_N):
        raise _bad(f"`n` must be a whole number from 1 to {MAX_N}; got {n!r}.", "n")
    mask = await _file(form["mask"], "mask") if form.get("mask") is not None else None
    box, point = _text(form, "box"), _text(form, "point")
    if mask is not None and (box is not None or point is not None):
        raise _bad(MASK_AND_SELECTION, "mask")
    user = form.get("user")
    return EditRequest(
        prompt=prompt,
        n=int(n),
        image=await _file(images[0], "image") if images else None,
        mask=mask,
        box=box,
        point=point,
        size=str(form.get("size") or "auto").strip().lower(),
        response_format=_choice(form, "response_format", ("b64_json", "url"), "b64_json"),
        output_format=_choice(form, "output_format", tuple(FORMATS), "png"),
        user=user if isinstance(user, str) else None,
    )


def _check_size(size: str, picture: Image.Image) -> None:
    own = f"{picture.width}x{picture.height}"
    if size not in ("auto", own):
        raise _bad(
            f"`size` must be auto or the picture's own size ({own}): chatedit edits the picture as it is; got {size!r}.",
            "size",
        )


def _check_selection(asked: EditRequest, picture: Image.Image) -> None:
    """Refuses (400) a box or point that does not fit the request's picture, before the turn is queued.

    Without a picture in the request, the session's picture is checked when the turn runs.
    """
    try:
        read_selection(asked.box, None, picture.size)
    except InputError as exc:
        raise _bad(str(exc), "box") from None
    try:
        read_selection(None, asked.point, picture.size)
    except InputError as exc:
        raise _bad(str(exc), "point") from None


def _encoded(request: Request, image_id: str, output_format: str) -> bytes:
    """Gives back a stored picture in the asked-for format."""
    picture = request.app.state.backend.editor().store.get(image_id)
    buffer = io.BytesIO()
    picture.save(buffer, format=FORMATS[output_format])
    return buffer.getvalue()


def _step_words(step: dict) -> str:
    target = step.get("target")
    if step["category"] == "remove" and target:
        return f"remove the {target}"
    if step["category"] == "replace" and target:
        return f"replace the {target} with {step['prompt']}"
    if step["category"] == "add":
        return f"add {step['prompt']}"
    if step["category"] == "background":
        return f"a new background: {step['prompt']}"
    if step["category"] in ("local", "global") or not target:
        return step["prompt"]
    return step_name(step)


def revised_prompt(outcome: Outcome, prompt: str) -> str:
    """Gives back what was done, step by step, as the planner read the prompt."""
    steps = [_step_words(step) for step in outcome.report.get("steps") or []]
    return "; ".join(steps) or prompt


@router.post("/v1/images/edits")
async def edit_images(request: Request, key: ApiKey):
    """Edits the first image of the request as its prompt says; answers as OpenAI's Images API does."""
    backend: Backend = request.app.state.backend
    settings: ServerSettings = request.app.state.settings
    asked = await read_edit_request(request, settings)
    session_id = session_for(request, asked.user, key)
    request_id = request_id_for(request, key)
    if session_id is None and request_id is not None:
        session_id = scoped_session(f"request-{request_id}", key)
    # Without an image, the named session's picture is edited: a session never made has none.
    if asked.image is None and (session_id is None or not await run_in_threadpool(backend.has_session, session_id)):
        raise _bad("`image` is missing: attach the picture to edit as `image` (or `image[]`).", "image")
    try:
        picture = await run_in_threadpool(read_picture, asked.image, settings) if asked.image else None
        mask = read_mask(asked.mask, settings) if asked.mask is not None else None
    except InputError as exc:
        raise from_input_error(exc) from None
    if picture is not None:
        _check_size(asked.size, picture)
        _check_selection(asked, picture)
    release = admitted(backend, picture, settings)
    future = backend.queue.submit(
        lambda: backend.run_variants(
            session_id, asked.prompt, picture, mask, asked.n, request_id, box=asked.box, point=asked.point
        )
    )
    future.add_done_callback(lambda _: release())
    outcomes = await wait_for_turn(future)
    if outcomes[0].image_id is None:
        raise APIError(400, outcomes[0].message, "edit_failed")
    data = [await _item(request, asked, outcome, key) for outcome in outcomes if outcome.image_id is not None]
    first = outcomes[0]
    return {
        "created": int(time.time()),
        "data": data,
        "output_format": asked.output_format,
        "chatedit": {"session": first.session, "version": first.report.get("version")},
    }


async def _item(
    request: Request, asked: Union[EditRequest, GenerationRequest], outcome: Outcome, key: Optional[str]
) -> dict:
    """Gives back one picture of the answer: base64 in the asked-for format, or a link (for `key`), and what was done."""
    item = {"revised_prompt": revised_prompt(outcome, asked.prompt)}
    if asked.response_format == "url":
        item["url"] = await run_in_threadpool(image_link, request, outcome.image_id, key, "url")
    else:
        data = await run_in_threadpool(_encoded, request, outcome.image_id, asked.output_format)
        item["b64_json"] = base64.b64encode(data).decode("ascii")
    return item


@dataclass
class GenerationRequest:
    """An images/generations request, checked."""

    prompt: str
    n: int
    size: Optional[tuple[int, int]]
    """(width, height) of the answer; None (`auto`): the model's own square working size."""
    response_format: str
    output_format: str
    user: Optional[str]


def _generation_size(size: object) -> Optional[tuple[int, int]]:
    """Gives back the asked (width, height), None for `auto`, or raises 400 for a size out of bounds."""
    text = str(size or "auto").strip().lower()
    if text == "auto":
        return None
    wide, _, high = text.partition("x")
    if not (wide.isdigit() and high.isdigit()):
        raise _bad(f"`size` must be auto or WIDTHxHEIGHT, e.g. 1024x1024; got {text!r}.", "size")
    width, height = int(wide), int(high)
    if not (GENERATION_SIDES[0] <= min(width, height) and max(width, height) <= GENERATION_SIDES[1]):
        raise _bad(
            f"Each side of `size` must be from {GENERATION_SIDES[0]} to {GENERATION_SIDES[1]} pixels; got {text!r}.",
            "size",
        )
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise _bad(
            f"`size` may be at most {MAX_ASPECT} times wider than high (or higher than wide); got {text!r}.", "size"
        )
    return width, height


def read_generation_request(body: dict) -> GenerationRequest:
    """Gives back the checked fields of a JSON generation request (400 when one is wrong)."""
    prompt = body.get("prompt")
    prompt = prompt.strip() if isinstance(prompt, str) else ""
    if not prompt:
        raise _bad("`prompt` is missing: say what to draw, e.g. 'a red bicycle against a brick wall'.", "prompt")
    if len(prompt) > MAX_INSTRUCTION:
        raise _bad(f"The prompt is {len(prompt)} characters; keep it under {MAX_INSTRUCTION}.", "prompt")
    n = body.get("n") if body.get("n") is not None else 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
        raise _bad(f"`n` must be a whole number from 1 to {MAX_N}; got {n!r}.", "n")
    user = body.get("user")
    return GenerationRequest(
        prompt=prompt,
        n=n,
        size=_generation_size(body.get("size")),
        response_format=_choice(body, "response_format", ("b64_json", "url"), "b64_json"),
        output_format=_choice(body, "output_format", tuple(FORMATS), "png"),
        user=user if isinstance(user, str) else None,
    )


@router.post("/v1/images/generations")
async def generate_images(request: Request, key: ApiKey):
    """Draws pictures from the prompt when the loaded models can (modern), answering as OpenAI's Images API does."""
    backend: Backend = request.app.state.backend
    settings: ServerSettings = request.app.state.settings
    asked = read_generation_request(await read_json(request, settings.max_request_bytes))
    editor = await run_in_threadpool(backend.editor)
    if not editor.toolbox.can_generate:
        raise APIError(
            400,
            f"chatedit's loaded models ({editor.toolbox.models.family}) edit pictures and cannot draw one from text "
            "alone; only the modern models (FLUX.2 klein) can: start the server with --models modern. Or send a "
            "picture to POST /v1/images/edits (or to /v1/chat/completions) with what to change.",
            "generation_unsupported",
        )
    session_id = session_for(request, asked.user, key)
    future = backend.queue.submit(lambda: backend.run_generations(session_id, asked.prompt, asked.size, asked.n))
    outcomes = await wait_for_turn(future)
    return {
        "created": int(time.time()),
        "data": [await _item(request, asked, outcome, key) for outcome in outcomes],
        "output_format": asked.output_format,
        "chatedit": {"session": outcomes[0].session, "version": outcomes[0].report.get("version")},
    }
