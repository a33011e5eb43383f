"""Access rules of the server: API keys, image ids, remote image URLs, size limits, per-key sessions."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from chatedit.agent import cli
from chatedit.agent.cli import common
from chatedit.agent.server import ServerSettings, create_app, remote
from chatedit.tools.images import png_bytes, to_data_url
from tests.helpers import held_edits, random_image, tiny_editor

KEY = "sk-only-key"
PHOTO = random_image(96, 64, seed=21)
EDIT = "make it look like a watercolor painting"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def editor(tmp_path_factory):
    with tiny_editor(tmp_path_factory.mktemp("access-data")) as editor:
        yield editor


def chat(text: str, url: str | None = None) -> dict:
    parts: list[dict] = [{"type": "text", "text": text}]
    if url is not None:
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return {"model": "chatedit", "messages": [{"role": "user", "content": parts}]}


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def assert_error(reply, status: int) -> str:
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error["message"]


# ---- API keys ----------------------------------------------------------------------------------


def concrete(path: str, image_id: str) -> str:
    return path.replace("{name}", f"{image_id}.png").replace("{model}", "chatedit")


def test_with_a_key_every_route_but_health_needs_it(editor):
    app = create_app(editor, ServerSettings(api_key=KEY))
    http = TestClient(app)
    image_id = editor.store.put(PHOTO)
    # The schema lists every route, those of included routers too (it is built even when not served).
    routes = [(path, method.upper()) for path, operations in app.openapi()["paths"].items() for method in operations]
    assert {path for path, _ in routes} >= {"/health", "/v1/models", "/v1/chat/completions", "/v1/images/{name}"}
    for path, method in routes:
        if method == "HEAD":
            continue
        url = concrete(path, image_id)
        for headers in ({}, bearer("sk-wrong"), {"Authorization": KEY}, {"Authorization": "Basic c2s6eA=="}):
            reply = http.request(method, url, headers=headers, json=chat(EDIT) if method == "POST" else None)
            if path == "/health":
                assert reply.status_code == 200
            else:
                assert_error(reply, 401)
        if path != "/health" and method == "GET":
            # A picture opens through the signed link an answer gives, not by its id and the key alone.
            signed = url + (app.state.keys.link_query(image_id, KEY) if "{name}" in path else "")
            assert http.get(signed, headers=bearer(KEY)).status_code == 200, url
    # The schema and docs pages would list the routes to anyone: with a key they are not served.
    for page in ("/docs", "/redoc", "/openapi.json"):
        assert http.get(page).status_code == 404
        assert http.get(page, headers=bearer(KEY)).status_code == 404


def test_chatedit_serve_api_key_reaches_the_app(editor, monkeypatch):
    served = {}
    monkeypatch.setattr(common, "make_editor", lambda config: editor)
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: served.update(app=app, **kwargs))
    result = CliRunner().invoke(cli.app, ["serve", "--api-key", KEY, "--models", "tiny", "--port", "8765"])
    assert result.exit_code == 0, result.stderr
    http = TestClient(served["app"])
    assert served["port"] == 8765 and http.get("/health").status_code == 200
    assert http.get("/v1/models").status_code == 401
    assert http.get("/v1/models", headers=bearer(KEY)).json()["data"][0]["id"] == "chatedit"


# ---- image ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "..%2F..%2Fsessions.sqlite",
        "%2e%2e%2fsessions.sqlite",
        "..%5C..%5Csessions.sqlite",
        "sessions.sqlite",
        "A" * 64,
        "a" * 63,
        "a" * 65,
        "a" * 64 + ".jpg",
        "a" * 64 + ".png.png",
        "a" * 64 + "%00.png",
        "a" * 64 + "%0a",
        "~",
    ],
)
def test_image_ids_are_validated(editor, name):
    http = TestClient(create_app(editor, ServerSettings(api_key=KEY)))
    for headers, refusals in ((bearer(KEY), (400, 403, 404)), ({}, (400, 401, 404))):
        reply = http.get(f"/v1/images/{name}", headers=headers)
        assert reply.status_code in refusals, reply.text
        assert b"SQLite" not in reply.content and reply.headers["content-type"] == "application/json"


def test_image_paths_outside_the_id_route_never_reach_files(editor):
    http = TestClient(create_app(editor, ServerSettings(api_key=KEY)))
    for path in (
        "/v1/images/../../sessions.sqlite",
        "/v1/images/" + "a" * 64 + "/../../sessions.sqlite",
        "/v1/images/",
    ):
        reply = http.get(path, headers=bearer(KEY))
        assert reply.status_code in (400, 401, 404) and b"SQLite" not in reply.content


def test_stored_images_open_only_through_an_unexpired_signed_link(editor):
    app = create_app(editor, ServerSettings(api_key=KEY))
    http = TestClient(app)
    keys = app.state.keys
    image_id = editor.store.put(PHOTO)
    editor.store.flush()
    link = f"/v1/images/{image_id}.png{keys.link_query(image_id, KEY)}"
    assert http.get(link).headers["content-type"] == "image/png"
    assert_error(http.get(f"/v1/images/{'b' * 64}.png{keys.link_query('b' * 64, KEY)}"), 404)
    # The id alone, even with the key, opens nothing: ids appear in every key's answers.
    assert_error(http.get(f"/v1/images/{image_id}.png", headers=bearer(KEY)), 403)
    expired = keys.link_query(image_id, KEY, now=0)
    assert_error(http.get(f"/v1/images/{image_id}.png{expired}"), 401)
    moved = link.replace("exp=", "exp=1")  # a later expiry, with the old signature
    assert_error(http.get(moved), 401)
    for sig in ("0" * 32, "", "é" * 32, "%00"):
        assert_error(http.get(f"/v1/images/{image_id}.png?exp=9999999999&sig={sig}"), 401)


def test_a_picture_linked_in_a_chat_is_read_only_under_the_key_it_was_made_for(editor):
    """Key B cannot edit key A's picture by linking it, nor fetch it by its id; key A can go on with it."""
    other = "sk-other-key"
    app = create_app(editor, ServerSettings(api_keys=[KEY, other], image_links="url"))
    http = TestClient(app)
    first = http.post("/v1/chat/completions", json=chat(EDIT, to_data_url(PHOTO)), headers=bearer(KEY))
    assert first.status_code == 200, first.text
    answer = first.json()["choices"][0]["message"]["content"]
    link = re.search(r"\((http://testserver/v1/images/([0-9a-f]{64})\.png\?[^)]+)\)", answer)
    url, image_id = link.group(1), link.group(2)
    assert http.get(url).status_code == 200
    assert_error(http.get(f"/v1/images/{image_id}.png", headers=bearer(other)), 403)
    follow = [{"role": "assistant", "content": answer}, {"role": "user", "content": "make it brighter"}]
    refused = http.post("/v1/chat/completions", json={"model": "chatedit", "messages": follow}, headers=bearer(other))
    assert "not made for this API key" in assert_error(refused, 400)
    mine = http.post("/v1/chat/completions", json={"model": "chatedit", "messages": follow}, headers=bearer(KEY))
    assert mine.status_code == 200, mine.text


# ---- remote image URLs -------------------------------------------------------------------------


class ImageHost:
    """A small HTTP server on 127.0.0.1 that serves test pictures and records every request it gets."""

    def __init__(self):
        self.requests: list[tuple[str, str]] = []
        """(path, Host header) of each request."""
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_GET(self):
                host.requests.append((self.path, self.headers.get("Host", "")))
                if self.path == "/photo.png":
                    self._send(png_bytes(PHOTO))
                elif self.path == "/big.png":
                    self._send(png_bytes(random_image(400, 300, seed=22)))
                elif self.path == "/redirect.png":
                    self.send_response(302)
                    self.send_header("Location", "/photo.png")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/slow.png":
                    # Each byte comes well within a read timeout; the whole takes far longer than the limit.
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    try:
                        for _ in range(1000):
                            self.wfile.write(b"\0")
                            self.wfile.flush()
                            time.sleep(0.05)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                else:
                    self.send_response(404)
                    self.end_headers()

            def _send(self, data: bytes):
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def image_host():
    host = ImageHost()
    yield host
    host.close()


def test_remote_urls_are_refused_unless_allowed(editor, image_host):
    http = TestClient(create_app(editor, ServerSettings()))
    for url in (f"http://127.0.0.1:{image_host.port}/photo.png", "https://example.com/cat.png"):
        assert "not accepted" in assert_error(http.post("/v1/chat/completions", json=chat(EDIT, url)), 400)
    assert image_host.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/photo.png",
        "http://localhost:{port}/photo.png",
        "http://[::1]:{port}/photo.png",
        "http://[::ffff:127.0.0.1]:{port}/photo.png",
        "http://[::127.0.0.1]:{port}/photo.png",
        "http://[64:ff9b::7f00:1]:{port}/photo.png",
        "http://[2002:7f00:1::]:{port}/photo.png",
        "http://2130706433:{port}/photo.png",
        "http://0.0.0.0:{port}/photo.png",
        "http://user:secret@127.0.0.1:{port}/photo.png",
        "http://10.1.2.3/photo.png",
        "http://192.168.0.1/photo.png",
        "http://172.16.0.1/photo.png",
        "http://100.64.0.1/photo.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/photo.png",
        "file:///etc/passwd",
        "file://localhost/etc/passwd",
        "ftp://example.com/photo.png",
        "gopher://example.com/photo.png",
        "javascript:alert(1)",
        "http://example.com:99999/photo.png",
        "//127.0.0.1:{port}/photo.png",
    ],
)
def test_allowed_remote_urls_are_http_to_public_addresses_only(editor, image_host, url):
    http = TestClient(create_app(editor, ServerSettings(allow_remote_images=True, remote_timeout_s=2)))
    reply = http.post("/v1/chat/completions", json=chat(EDIT, url.format(port=image_host.port)))
    message = assert_error(reply, 400)
    assert "public address" in message or "http(s)" in message, message
    assert image_host.requests == []


def test_deeply_nested_json_is_refused_in_words(editor):
    http = TestClient(create_app(editor, ServerSettings()))
    nested = "[" * 100_000 + "]" * 100_000
    reply = http.post("/v1/chat/completions", content=nested, headers={"Content-Type": "application/json"})
    assert "nested too deeply" in assert_error(reply, 400)


def test_a_client_that_leaves_in_the_middle_of_its_body_is_no_server_error(editor, caplog):
    app = create_app(editor, ServerSettings())
    messages = iter(
        [{"type": "http.request", "body": b'{"model": "chat', "more_body": True}, {"type": "http.disconnect"}]
    )
    sent: list[dict] = []

    async def receive() -> dict:
        return next(messages)

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json"), (b"host", b"test")]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http"}
    scope |= {"path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions", "query_string": b""}
    scope |= {"headers": headers, "client": ("127.0.0.1", 1), "server": ("test", 80), "root_path": ""}
    asyncio.run(app(scope, receive, send))
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [400]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.fixture
def public(monkeypatch):
    """Makes every host name resolve to 127.0.0.1 and count as public, so the local image host stands in."""
    monkeypatch.setattr(remote, "public_addresses", lambda host, port: ["127.0.0.1"])


def test_an_allowed_public_url_is_fetched_and_edited(editor, image_host, public):
    http = TestClient(create_app(editor, ServerSettings(allow_remote_images=True)))
    reply = http.post("/v1/chat/completions", json=chat(EDIT, f"http://images.example:{image_host.port}/photo.png"))
    assert reply.status_code == 200, reply.text
    assert "![edited](data:image/png;base64," in reply.json()["choices"][0]["message"]["content"]
    # The request went to the checked address, under the URL's own host name.
    assert image_host.requests == [("/photo.png", f"images.example:{image_host.port}")]


@pytest.mark.parametrize(
    "path, status, words",
    [
        ("/big.png", 413, "over the size limit"),
        ("/slow.png", 400, "took over 0.5 s"),
        ("/redirect.png", 400, "HTTP 302"),
        ("/missing.png", 400, "HTTP 404"),
    ],
)
def test_remote_fetches_have_size_and_time_limits(editor, image_host, public, path, status, words):
    settings = ServerSettings(allow_remote_images=True, remote_timeout_s=0.5, max_image_bytes=50_000)
    http = TestClient(create_app(editor, settings))
    reply = http.post("/v1/chat/completions", json=chat(EDIT, f"http://images.example:{image_host.port}{path}"))
    assert words in assert_error(reply, status)
    assert [p for p, _ in image_host.requests] == [path]  # a redirect is not followed


def test_a_second_dns_answer_cannot_redirect_the_fetch_to_a_private_address(editor, image_host, monkeypatch):
    """DNS rebinding: the name resolves to a public address for the check, then to 127.0.0.1."""
    real = socket.getaddrinfo
    answers = []

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        answers.append(host)
        address = "8.8.8.8" if len(answers) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    http = TestClient(create_app(editor, ServerSettings(allow_remote_images=True, remote_timeout_s=0.5)))
    reply = http.post("/v1/chat/completions", json=chat(EDIT, f"http://rebind.example:{image_host.port}/photo.png"))
    assert "Could not fetch" in assert_error(reply, 400)
    assert answers == ["rebind.example"]  # looked up once, for the check
    assert image_host.requests == []


# ---- size limits -------------------------------------------------------------------------------


def test_size_limits_are_settings(monkeypatch):
    defaults = ServerSettings()
    assert (defaults.max_request_bytes, defaults.max_image_bytes) == (64 * 1024 * 1024, 20 * 1024 * 1024)
    assert (defaults.allow_remote_images, defaults.remote_timeout_s) == (False, 10.0)
    monkeypatch.setenv("CHATEDIT_MAX_REQUEST_BYTES", "1000")
    monkeypatch.setenv("CHATEDIT_MAX_IMAGE_BYTES", "500")
    monkeypatch.setenv("CHATEDIT_ALLOW_REMOTE_IMAGES", "true")
    monkeypatch.setenv("CHATEDIT_API_KEYS", "sk-a, sk-b")
    settings = ServerSettings()
    assert (settings.max_request_bytes, settings.max_image_bytes, settings.allow_remote_images) == (1000, 500, True)
    assert settings.keys == ["sk-a", "sk-b"]


def test_request_and_image_size_limits_answer_413(editor):
    http = TestClient(create_app(editor, ServerSettings(max_request_bytes=200_000, max_image_bytes=20_000)))
    small = to_data_url(PHOTO)  # about 18 KB of PNG
    large = to_data_url(random_image(100, 100, seed=23))  # about 30 KB of PNG
    assert http.post("/v1/chat/completions", json=chat(EDIT, small)).status_code == 200
    assert "limit" in assert_error(http.post("/v1/chat/completions", json=chat(EDIT, large)), 413)
    padded = chat(EDIT, small)
    padded["messages"].insert(0, {"role": "system", "content": "x" * 200_000})
    assert_error(http.post("/v1/chat/completions", json=padded), 413)

    def pieces():
        # No Content-Length: the body arrives in chunks and is cut off once it passes the limit.
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(30):
            yield b"x" * 10_000
        yield b'"}]}'

    reply = http.post("/v1/chat/completions", content=pieces(), headers={"Content-Type": "application/json"})
    assert reply.json()["error"]["code"] == "request_too_large" and reply.status_code == 413


def test_a_picture_over_the_servers_pixel_limit_is_413_before_any_work(editor):
    http = TestClient(create_app(editor, ServerSettings(max_pixels=96 * 64 - 1)))
    message = assert_error(http.post("/v1/chat/completions", json=chat(EDIT, to_data_url(PHOTO))), 413)
    assert "megapixel limit" in message


def test_large_pictures_held_at_once_are_bounded_and_the_next_is_told_to_come_back(editor):
    """While one large picture waits or is edited, another answers 503 with Retry-After; then there is room."""
    http = TestClient(create_app(editor, ServerSettings(large_pixels=96 * 64 - 1, max_large_requests=1)))
    small = to_data_url(random_image(48, 32, seed=5))  # under the large-picture size: never held back
    with held_edits(editor) as (entered, go_on), ThreadPoolExecutor(1) as pool:
        first = pool.submit(http.post, "/v1/chat/completions", json=chat(EDIT, to_data_url(PHOTO)))
        assert entered.wait(60)
        busy = http.post("/v1/chat/completions", json=chat(EDIT, to_data_url(random_image(96, 64, seed=6))))
        assert "large picture" in assert_error(busy, 503) and busy.headers["Retry-After"]
        go_on.set()
        assert first.result(timeout=120).status_code == 200
    assert http.post("/v1/chat/completions", json=chat(EDIT, to_data_url(PHOTO))).status_code == 200
    assert http.post("/v1/chat/completions", json=chat(EDIT, small)).status_code == 200


# ---- sessions per key --------------------------------------------------------------------------


def test_sessions_of_one_key_cannot_be_read_or_changed_with_another(editor):
    http = TestClient(create_app(editor, ServerSettings(api_keys=["sk-ann", "sk-bob"])))

    def send(key: str, session: str, text: str, url: str | None = None):
        headers = {**bearer(key), "X-Chatedit-Session": session}
        reply = http.post("/v1/chat/completions", headers=headers, json=chat(text, url))
        assert reply.status_code == 200, reply.text
        return reply.json()["choices"][0]["message"]["content"], reply.headers["X-Chatedit-Session"]

    _, ann_id = send("sk-ann", "holiday", EDIT, to_data_url(PHOTO))
    ann_history, _ = send("sk-ann", "holiday", "history")
    assert "uploaded" in ann_history and EDIT in ann_history
    for name in ("holiday", ann_id):  # Bob tries Ann's name, then the id the server gave Ann
        for text in ("history", "undo"):
            # Under Bob's key no session has that name: the commands say so and store nothing.
            reply = http.post(
                "/v1/chat/completions", headers={**bearer("sk-bob"), "X-Chatedit-Session": name}, json=chat(text)
            )
            assert "No such session" in assert_error(reply, 400)
        answer, bob_id = send("sk-bob", name, EDIT)
        assert bob_id != ann_id
        assert "uploaded" not in answer and "![edited]" not in answer
    assert send("sk-ann", "holiday", "history")[0] == ann_history
    assert [v.instruction for v in editor.session(ann_id).history()] == ["uploaded", EDIT]


@pytest.mark.parametrize("command", ["history", "undo", "redo"])
def test_a_read_only_command_under_an_unused_name_stores_no_session(editor, command):
    http = TestClient(create_app(editor, ServerSettings(api_key=KEY)))
    name = f"nobody-used-this-{command}"
    reply = http.post("/v1/chat/completions", headers={**bearer(KEY), "X-Chatedit-Session": name}, json=chat(command))
    assert "No such session" in assert_error(reply, 400)
    from chatedit.agent.server.auth import scoped_session

    assert editor.graph.get_state({"configurable": {"thread_id": scoped_session(name, KEY)}}).values == {}


def test_the_images_api_reads_no_picture_of_another_keys_session(editor):
    """Key B naming key A's `user` edits nothing of A's: it is asked for a picture, as for any unused name."""
    http = TestClient(create_app(editor, ServerSettings(api_keys=["sk-ann", "sk-bob"])))
    made = http.post(
        "/v1/images/edits",
        data={"prompt": EDIT, "user": "shared"},
        files={"image": ("p.png", png_bytes(PHOTO), "image/png")},
        headers=bearer("sk-ann"),
    )
    assert made.status_code == 200, made.text
    other = http.post(
        "/v1/images/edits",
        data={"prompt": EDIT, "user": "shared"},
        files={"note": ("n.txt", b"no picture", "text/plain")},
        headers=bearer("sk-bob"),
    )
    assert "attach the picture to edit" in assert_error(other, 400)
    again = http.post(
        "/v1/images/edits",
        data={"prompt": EDIT, "user": "shared"},
        files={"note": ("n.txt", b"no picture", "text/plain")},
        headers=bearer("sk-ann"),
    )
    assert again.status_code == 200 and again.json()["chatedit"]["version"] == 2
