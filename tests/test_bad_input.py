"""One corpus of bad and odd input, sent through all three entry points: the CLI, `agent.Editor`, the server.

Each kind either works (a valid if unusual picture is edited; an instruction with no edit is answered
without one) or is refused with one clear sentence: `chatedit edit` exits 2 and writes nothing, the
Python API raises InputError and leaves the session as it was, the server answers 400 or 413 in
OpenAI's error shape. Never a traceback, never a half-written file, never a damaged session.
"""

from __future__ import annotations

import base64
import io
import json
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from chatedit.agent import cli
from chatedit.agent.cli import common
from chatedit.agent.server import ServerSettings, create_app
from chatedit.agent.session import Editor
from chatedit.tools.errors import InputError, TooLargeError
from tests.helpers import FAST, random_image, serve, tiny_editor

TINY = ["--models", "tiny", "--planner", "rules", "--max-attempts", "1"]
EDIT = "make it look like a watercolor painting"
PHOTO = random_image(96, 64, seed=3)
HUGE_BYTES = 200 * 1024 * 1024
"""Base64 characters of the oversized data URL: far over every limit, built without decoding anything."""
PICTURE = re.compile(r"!\[edited\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Missing:
    """A file that does not exist."""


class Folder:
    """A folder where an image file is expected."""


class Huge:
    """A data URL of several hundred megabytes (a sparse file of that size for the CLI)."""


Source = bytes | str | type


@dataclass(frozen=True)
class Case:
    """One kind of input and what every entry point must make of it."""

    name: str
    expect: str
    """edited: a new picture; no_edit: an answer without one; refused: 400 / InputError; too_large: 413."""
    image: Callable[[], Source] = field(default=lambda: encode(PHOTO, "PNG"))
    instruction: str = EDIT
    size: tuple[int, int] = PHOTO.size
    """The edited picture's size (edited cases)."""


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def truncated(fmt: str) -> Callable[[], bytes]:
    return lambda: encode(PHOTO, fmt)[: len(encode(PHOTO, fmt)) // 2]


def png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header claims width x height pixels (a decompression bomb when large)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def animated(fmt: str) -> bytes:
    frames = [PHOTO, PHOTO.transpose(Image.Transpose.FLIP_LEFT_RIGHT), Image.new("RGB", PHOTO.size, (0, 90, 200))]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def sixteen_bit() -> bytes:
    ramp = np.tile(np.linspace(0, 65535, 96).astype(np.uint16), (64, 1))
    return encode(Image.fromarray(ramp), "PNG")


def grey_with_alpha() -> bytes:
    la = PHOTO.convert("LA")
    la.putalpha(Image.fromarray(np.tile(np.linspace(0, 255, 96).astype(np.uint8), (64, 1))))
    return encode(la, "PNG")


def palette_with_transparency() -> bytes:
    return encode(PHOTO.convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "PNG", transparency=0)


def exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees: portrait
    return encode(PHOTO, "JPEG", quality=95, exif=exif.tobytes())


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


CORPUS = [
    # Files that are not (whole) pictures.
    Case("empty-file", "refused", lambda: b""),
    Case("truncated-png", "refused", truncated("PNG")),
    Case("truncated-jpeg", "refused", truncated("JPEG")),
    Case("truncated-webp", "refused", truncated("WEBP")),
    Case("truncated-gif", "refused", truncated("GIF")),
    Case("png-signature-only", "refused", lambda: b"\x89PNG\r\n\x1a\n"),
    Case("text-posing-as-image", "refused", lambda: b"hello, this is a text file and not a picture\n"),
    Case("html-posing-as-image", "refused", lambda: b"<!DOCTYPE html><html><body><img src='cat.png'></body></html>"),
    Case(
        "svg-posing-as-image",
        "refused",
        lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="96" height="64"><rect width="96" height="64"/></svg>',
    ),
    Case("json-posing-as-image", "refused", lambda: b'{"image": "cat.png"}'),
    Case("pdf-posing-as-image", "refused", lambda: b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"),
    Case("random-bytes", "refused", lambda: bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8))),
    # Sizes.
    Case("decompression-bomb", "too_large", lambda: png_declaring(30_000, 30_000)),
    Case("72-megapixel-header", "too_large", lambda: png_declaring(9_000, 8_000)),
    Case("13000x8", "too_large", lambda: encode(Image.new("RGB", (13_000, 8), (30, 60, 90)), "PNG")),
    Case("4000x8", "refused", lambda: encode(Image.new("RGB", (4_000, 8), (30, 60, 90)), "PNG")),
    Case("1x1", "refused", lambda: encode(Image.new("RGB", (1, 1), (30, 60, 90)), "PNG")),
    Case("4096x32", "edited", lambda: encode(random_image(4096, 32, seed=4), "PNG"), size=(4096, 32)),
    # Odd but valid pictures.
    Case("animated-gif", "edited", lambda: animated("GIF")),
    Case("animated-webp", "edited", lambda: animated("WEBP")),
    Case("cmyk-jpeg", "edited", lambda: encode(PHOTO.convert("CMYK"), "JPEG", quality=95)),
    Case("16-bit-png", "edited", sixteen_bit),
    Case("grey-with-alpha", "edited", grey_with_alpha),
    Case("palette-with-transparency", "edited", palette_with_transparency),
    Case("exif-rotated-jpeg", "edited", exif_rotated, size=(64, 96)),
    Case("greyscale", "edited", lambda: encode(PHOTO.convert("L"), "PNG")),
    Case("bmp", "edited", lambda: encode(PHOTO, "BMP")),
    Case("tiff", "edited", lambda: encode(PHOTO, "TIFF")),
    # Data URLs and places that hold no picture.
    Case("data-url-not-base64", "refused", lambda: "data:image/png,hello"),
    Case("data-url-invalid-base64", "refused", lambda: "data:image/png;base64,@@not*base64@@"),
    Case("data-url-without-data", "refused", lambda: "data:image/png;base64"),
    Case("data-url-of-text", "refused", lambda: data_url(b"just some text")),
    Case("data-url-of-several-hundred-mb", "too_large", lambda: Huge),
    Case("missing-file", "refused", lambda: Missing),
    Case("directory", "refused", lambda: Folder),
    # Instructions.
    Case("empty-instruction", "no_edit", instruction=""),
    Case("whitespace-instruction", "no_edit", instruction=" \t\n  "),
    Case("100-kb-instruction", "refused", instruction="make the cup red and " * 5000),
    Case("german-instruction", "no_edit", instruction="mach das Bild zu einem Aquarell"),
    Case("chinese-instruction", "no_edit", instruction="把杯子去掉"),
    Case("emoji-instruction", "no_edit", instruction="🎨🖌️✨"),
    Case("no-edit-in-it", "no_edit", instruction="hello there, nice weather today"),
    Case("question-without-an-llm", "no_edit", instruction="what is in this picture?"),
    Case("path-as-instruction", "no_edit", instruction="/etc/passwd"),
    Case("control-characters", "edited", instruction=EDIT + "\x00\x07\x1b[31m"),
]
IDS = [case.name for case in CORPUS]


def test_the_corpus_has_at_least_30_kinds_of_every_outcome():
    outcomes = {case.expect for case in CORPUS}
    assert len(set(IDS)) == len(CORPUS) >= 30
    assert outcomes == {"edited", "no_edit", "refused", "too_large"}


def assert_one_sentence(message: str) -> None:
    """A message a person can act on: short, one line, no internals."""
    assert message.rstrip().endswith("."), message
    assert "\n" not in message.strip() and len(message) < 400, message
    for internal in ("Traceback", "Error(", " object at 0x", "Errno", 'File "'):
        assert internal not in message, message


# ---- the CLI -----------------------------------------------------------------------------------


def cli_input(source: Source, tmp_path: Path) -> str:
    if source is Missing:
        return str(tmp_path / "no-such-photo.png")
    if source is Folder:
        folder = tmp_path / "photos"
        folder.mkdir()
        return str(folder)
    if source is Huge:
        path = tmp_path / "huge.png"
        with open(path, "wb") as handle:
            handle.truncate(HUGE_BYTES)  # sparse: the size is real, the disk space is not used
        return str(path)
    if isinstance(source, str):
        return source  # a data URL where a path is expected
    path = tmp_path / "input.png"
    path.write_bytes(source)
    return str(path)


@pytest.mark.parametrize("case", CORPUS, ids=IDS)
def test_cli(case: Case, tmp_path, monkeypatch):
    monkeypatch.setenv("CHATEDIT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(common, "make_editor", lambda config: Editor(settings=FAST, config=config))
    outputs = tmp_path / "out"
    outputs.mkdir()
    out = outputs / "edited.png"
    result = CliRunner().invoke(
        cli.app, ["edit", cli_input(case.image(), tmp_path), case.instruction, "-o", str(out), *TINY]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    if case.expect == "edited":
        assert result.exit_code == 0, result.stderr
        assert [p.name for p in outputs.iterdir()] == ["edited.png"]
        with Image.open(out) as written:
            assert written.size == case.size
        return
    assert result.exit_code == 2, result.stderr
    assert list(outputs.iterdir()) == []  # nothing written, not even a temporary file
    assert result.stdout == ""
    if case.expect == "no_edit":
        assert "Nothing edited:" in result.stderr, result.stderr
    else:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        assert_one_sentence(lines[0])


# ---- the Python API ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def editor(tmp_path_factory):
    with tiny_editor(tmp_path_factory.mktemp("corpus-data")) as editor:
        yield editor


def api_input(source: Source, tmp_path: Path):
    if source is Missing:
        return str(tmp_path / "no-such-photo.png")
    if source is Folder:
        return str(tmp_path)
    if source is Huge:
        return "data:image/png;base64," + "A" * HUGE_BYTES
    return source


def snapshot(session) -> list[tuple]:
    return [(v.index, v.image_id, v.parent, v.instruction, v.current) for v in session.history()]


@pytest.mark.parametrize("case", CORPUS, ids=IDS)
def test_python_api(case: Case, editor, tmp_path):
    source = api_input(case.image(), tmp_path)
    if case.expect in ("refused", "too_large"):
        # A session with a picture: bad input must leave it exactly as it was.
        session = editor.session()
        session.send("", image=PHOTO)
        before = snapshot(session)
        error = TooLargeError if case.expect == "too_large" else InputError
        with pytest.raises(error) as caught:
            session.send(case.instruction, image=source)
        assert case.expect == "too_large" or not isinstance(caught.value, TooLargeError)
        assert_one_sentence(str(caught.value))
        assert snapshot(session) == before
        resumed = editor.session(session.id)
        turn = resumed.send(EDIT)
        assert turn.report["version"] == 1 and turn.report["steps"][0]["category"] == "global"
        assert [v.parent for v in resumed.history()] == [None, 0]
        return
    session = editor.session()
    turn = session.send(case.instruction, image=source)
    versions = session.history()
    assert versions[0].instruction == "uploaded" and versions[0].image.size == case.size
    if case.expect == "edited":
        assert len(versions) == 2 and versions[1].current and versions[1].parent == 0
        assert turn.image.size == case.size and turn.report["steps"]
    else:
        assert len(versions) == 1 and turn.report["steps"] == []
        assert turn.message.strip()
        assert np.array_equal(np.asarray(turn.image), np.asarray(versions[0].image))


# ---- the HTTP server ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(editor):
    with serve(create_app(editor, ServerSettings())) as url:
        yield url


def server_url(source: Source) -> str:
    if source is Missing:
        return "file:///no/such/photo.png"
    if source is Folder:
        return "file:///tmp/"
    if isinstance(source, str):
        return source
    return data_url(source)


def request(instruction: str, url: str | None) -> dict:
    parts: list[dict] = [{"type": "text", "text": instruction}]
    if url is not None:
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return {"model": "chatedit", "messages": [{"role": "user", "content": parts}]}


def huge_body(instruction: str) -> tuple[Iterator[bytes], int]:
    """Gives back a chat request holding a data URL of HUGE_BYTES characters, in 1 MB pieces, and its length."""
    head, tail = json.dumps(request(instruction, "URL")).encode().split(b'"URL"')
    head += b'"data:image/png;base64,'
    tail = b'"' + tail
    piece = b"A" * (1024 * 1024)

    def pieces() -> Iterator[bytes]:
        yield head
        for _ in range(HUGE_BYTES // len(piece)):
            yield piece
        yield tail

    return pieces(), len(head) + HUGE_BYTES + len(tail)


def post(server: str, body, session: str | None = None) -> httpx.Response:
    headers = {"X-Chatedit-Session": session} if session else {}
    headers["Content-Type"] = "application/json"
    if isinstance(body, tuple):
        pieces, length = body
        headers["Content-Length"] = str(length)
        return httpx.post(f"{server}/v1/chat/completions", content=pieces, headers=headers, timeout=120)
    return httpx.post(f"{server}/v1/chat/completions", json=body, headers=headers, timeout=120)


def history_text(server: str, session: str) -> str:
    reply = post(server, request("history", None), session)
    assert reply.status_code == 200, reply.text
    return reply.json()["choices"][0]["message"]["content"]


@pytest.mark.parametrize("case", CORPUS, ids=IDS)
def test_server(case: Case, server):
    source = case.image()
    body = huge_body(case.instruction) if source is Huge else request(case.instruction, server_url(source))
    if case.expect in ("refused", "too_large"):
        session = f"corpus-{case.name}"
        assert post(server, request("", data_url(encode(PHOTO, "PNG"))), session).status_code == 200
        before = history_text(server, session)
        reply = post(server, body, session)
        assert reply.status_code == (413 if case.expect == "too_large" else 400), reply.text
        error = reply.json()["error"]
        assert set(reply.json()) == {"error"} and set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "invalid_request_error" and error["code"]
        assert_one_sentence(error["message"])
        assert history_text(server, session) == before
        return
    reply = post(server, body)
    assert reply.status_code == 200, reply.text
    content = reply.json()["choices"][0]["message"]["content"]
    picture = PICTURE.search(content)
    if case.expect == "edited":
        assert picture, content[:300]
        assert Image.open(io.BytesIO(base64.b64decode(picture.group(1)))).size == case.size
    else:
        assert picture is None and content.strip()
