"""A scripted OpenAI-compatible chat server on 127.0.0.1, for tests of everything that calls the LLM.

The server answers `POST /v1/chat/completions` (plain or streamed) from a script: a list of replies
consumed in order, one per request. It records every request body, so a test can check what the
model was sent. Used as a pytest plugin (`pytest_plugins = ["tests.fake_llm"]`), it gives the
`fake_llm` fixture:

    def test_plan(fake_llm, coffee):
        fake_llm.script([tool_call("Plan", {"steps": [], "message": "hi"})])
        llm = make_chat_model(llm_settings(fake_llm))
        ...
        assert fake_llm.requests[0]["tools"][0]["function"]["name"] == "Plan"
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional, Union

import pytest

from chatedit.agent.llm import LLMSettings

MODEL = "fake-vlm"


@dataclass(frozen=True)
class Reply:
    """One scripted answer of the fake server."""

    kind: str
    """tool_call | text | error | drop"""
    name: Optional[str] = None
    """tool_call: the tool called."""
    arguments: Optional[str] = None
    """tool_call: the arguments, as the JSON text sent (possibly malformed)."""
    text: Optional[str] = None
    """text: the content; error: the error message."""
    status: int = 200
    """error: the HTTP status."""
    delay: float = 0.0
    """Seconds to wait before answering (longer than the client's timeout: a timeout)."""


def tool_call(name: str, args: Union[dict, str]) -> Reply:
    """Gives back a reply that calls tool `name` with `args` (a dict, or raw text sent as is, e.g. broken JSON)."""
    return Reply("tool_call", name=name, arguments=args if isinstance(args, str) else json.dumps(args))


def text(content: str) -> Reply:
    """Gives back a reply of plain assistant content, with no tool call."""
    return Reply("text", text=content)


def error(status: int, message: str = "fake failure") -> Reply:
    """Gives back an HTTP error reply with an OpenAI error body."""
    return Reply("error", text=message, status=status)


def delay(seconds: float, then: Optional[Reply] = None) -> Reply:
    """Gives back `then` (default: a short text) sent only after `seconds`."""
    return dataclasses.replace(then or text("late"), delay=seconds)


def drop() -> Reply:
    """Gives back a reply that closes the connection without answering."""
    return Reply("drop")


class FakeLLM:
    """The running server: where it listens, what it will answer, and what it was sent."""

    def __init__(self):
        self.requests: list[dict] = []
        """Bodies of the chat completion requests received, in order."""
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, ending in /v1."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def remaining(self) -> int:
        """How many scripted replies have not been used yet."""
        return len(self._script)

    def script(self, replies: list[Reply]) -> None:
        """Sets the replies to give, one per request, in order (replacing any left)."""
        with self._lock:
            self._script = deque(replies)

    def close(self) -> None:
        """Stops the server, cutting short any delayed reply."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def _take(self, body: dict) -> Reply:
        with self._lock:
            self.requests.append(body)
            if self._script:
                return self._script.popleft()
        return error(500, "The fake LLM's script is exhausted: the test made more requests than it scripted.")


class _Handler(BaseHTTPRequestHandler):
    """Answers the OpenAI chat completions requests of one FakeLLM (set as the class attribute `fake`)."""

    fake: FakeLLM

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "tests"}]})
        else:
            self._json(404, _error_body("Not found.", 404))

    def do_POST(self):
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, _error_body("Not found.", 404))
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        reply = self.fake._take(body)
        if reply.delay and self.fake._closing.wait(reply.delay):
            return
        if reply.kind == "drop":
            self.close_connection = True
        elif reply.kind == "error":
            self._json(reply.status, _error_body(reply.text, reply.status))
        else:
            self._answer(body, reply)

    def _answer(self, body: dict, reply: Reply):
        number = next(self.fake._ids)
        message = {"role": "assistant", "content": reply.text}
        if reply.kind == "tool_call":
            function = {"name": reply.name, "arguments": reply.arguments}
            message["tool_calls"] = [{"id": f"call_{number}", "type": "function", "function": function}]
        finish = "tool_calls" if reply.kind == "tool_call" else "stop"
        answer = {"id": f"chatcmpl-fake-{number}", "created": 0, "model": body.get("model", MODEL)}
        if body.get("stream"):
            self._stream(answer, message, finish)
        else:
            choice = {"index": 0, "message": message, "finish_reason": finish}
            usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
            self._json(200, {**answer, "object": "chat.completion", "choices": [choice], "usage": usage})

    def _stream(self, answer: dict, message: dict, finish: str):
        delta = dict(message)
        for index, call in enumerate(delta.get("tool_calls", [])):
            delta["tool_calls"][index] = {"index": index, **call}
        chunks = [
            {"index": 0, "delta": delta, "finish_reason": None},
            {"index": 0, "delta": {}, "finish_reason": finish},
        ]
        events = [{**answer, "object": "chat.completion.chunk", "choices": [chunk]} for chunk in chunks]
        payload = "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"
        self._send(200, "text/event-stream", payload.encode())

    def _json(self, status: int, body: dict):
        self._send(status, "application/json", json.dumps(body).encode())

    def _send(self, status: int, content_type: str, data: bytes):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout): nobody is left to answer.
            pass


def _handler(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"fake": fake})


def _error_body(message: str, status: int) -> dict:
    kinds = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_exceeded"}
    kind = kinds.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": str(status)}}


def llm_settings(fake: FakeLLM, **overrides) -> LLMSettings:
    """Gives back LLMSettings pointing at `fake`: key "test", a short timeout and a tiny backoff."""
    values = dict(base_url=fake.base_url, api_key="test", model=MODEL, timeout=5.0, retries=2, backoff=0.01)
    return LLMSettings(**{**values, **overrides})


@pytest.fixture
def fake_llm():
    """A running FakeLLM, stopped after the test."""
    fake = FakeLLM()
    yield fake
    fake.close()
