"""Chat completions as OpenAI sends them: one JSON answer, or server-sent events (through sse-starlette)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any, AsyncIterator, Awaitable, Callable, Optional

from sse_starlette import EventSourceResponse

from chatedit.agent.events import StepTracker
from chatedit.agent.server.backend import TURN_ERRORS, Backend, Outcome

logger = logging.getLogger("chatedit.server")

KEEPALIVE_S = 10.0
"""Seconds of silence after which a stream sends an SSE comment, so proxies keep the connection."""
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_NO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def completion(text: str, model: str) -> dict:
    """Gives back a whole (not streamed) chat completion whose answer is `text`."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "logprobs": None}
        ],
        "usage": dict(_NO_USAGE),
    }


class Chunks:
    """Builds the data of the events of one streamed completion, as OpenAI sends them."""

    def __init__(self, model: str, usage: bool):
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model = model
        self.usage = usage

    def _chunk(self, choices: list, **extra: Any) -> str:
        chunk = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model}
        return json.dumps({**chunk, "choices": choices, **extra}, ensure_ascii=False)

    def event(self, delta: dict, finish: Optional[str] = None, **extra: Any) -> str:
        return self._chunk([{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra)

    def content(self, text: str) -> str:
        return self.event({"content": text})

    def end(self, **extra: Any) -> list[str]:
        """Gives back the closing events: the stop chunk, the usage chunk when asked for, and [DONE]."""
        events = [self.event({}, "stop", **extra)]
        if self.usage:
            events.append(self._chunk([], usage=dict(_NO_USAGE)))
        return events + ["[DONE]"]


def _response(events: AsyncIterator[str]) -> EventSourceResponse:
    return EventSourceResponse(events, headers=_SSE_HEADERS, ping=KEEPALIVE_S, sep="\n")


def stream_text(text: str, model: str, usage: bool) -> EventSourceResponse:
    """Gives back a streamed completion answering `text` at once."""
    chunks = Chunks(model, usage)

    async def events() -> AsyncIterator[str]:
        yield chunks.event({"role": "assistant", "content": ""})
        yield chunks.content(text)
        for event in chunks.end():
            yield event

    return _response(events())


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


async def _final_text(future, answer_text: Callable[[Outcome], Awaitable[str]]) -> tuple[str, dict]:
    """Gives back the closing text of a streamed turn and the extra fields of its last chunk."""
    try:
        outcome = future.result()
        # The picture goes in ONE delta: frontends re-render the markdown on every piece.
        final = "\n" + await answer_text(outcome)
        return final, {"chatedit": {"session": outcome.session, "report": outcome.report}}
    except TURN_ERRORS as exc:
        return f"\n{exc}", {}
    except Exception:
        logger.exception("turn failed")
        return "\nchatedit hit an internal error during the edit; see the server log.", {}


def stream_turn(
    backend: Backend,
    turn: Callable[[Callable[[Optional[dict]], None]], Outcome],
    model: str,
    usage: bool,
    answer_text: Callable[[Outcome], Awaitable[str]],
    release: Callable[[], None] = lambda: None,
) -> EventSourceResponse:
    """Gives back the SSE response of one turn: progress lines while it runs, then the answer with the picture.

    Args:
        backend: where the turn is queued.
        turn: runs the turn on the worker thread, sending its events to the function it is given.
        model: the model name the chunks carry.
        usage: whether a usage chunk closes the stream.
        answer_text: gives back the answer's text (with the picture) for the turn's outcome.
        release: frees the request's place (`Backend.admit`) once the turn ended or the client left.
    """
    chunks = Chunks(model, usage)

    async def events() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        describe = ProgressLines()

        def forward(event: Optional[dict]) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, event)

        # The turn is queued once the client reads the stream, so a client gone before then costs nothing.
        ahead = backend.queue.waiting + backend.queue.running
        future = backend.queue.submit(lambda: turn(forward))
        future.add_done_callback(lambda _: forward(None))
        future.add_done_callback(lambda _: release())
        try:
            yield chunks.event({"role": "assistant", "content": ""})
            if ahead:
                yield chunks.content(f"Waiting for {ahead} earlier edit{'s' * (ahead > 1)}...\n")
            while (event := await queue.get()) is not None:
                line = describe(event)
                if line:
                    yield chunks.content(f"- {line}\n")
            final, extra = await _final_text(future, answer_text)
            yield chunks.content(final)
            for event in chunks.end(**extra):
                yield event
        finally:
            # A client that leaves while its turn waits frees its place in the queue.
            if future.cancel():
                release()

    return _response(events())
