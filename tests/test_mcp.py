"""The MCP server, through the official `mcp` client: `chatedit mcp` over stdio and `/mcp` on `chatedit serve`."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import sys
import threading

import httpx
import httpx2
import numpy as np
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.server.mcpserver.exceptions import ToolError
from PIL import Image

from chatedit.agent.server import ServerSettings, create_app
from chatedit.agent.server.backend import Backend
from chatedit.agent.server.mcp_tools import Tools
from chatedit.tools.errors import InputError
from tests.helpers import png, serve, tiny_editor

KEY = "sk-mcp"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def picture_of(result) -> Image.Image:
    """Gives back the PNG a tool result carries (fails when there is none)."""
    images = [block for block in result.content if block.type == "image"]
    assert images and images[0].mime_type == "image/png", result.content
    return Image.open(io.BytesIO(base64.b64decode(images[0].data))).convert("RGB")


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


async def stdio_calls(photo_path: str, not_an_image: str, data_dir: str) -> dict:
    env = {**os.environ, "CHATEDIT_INPAINT_STEPS": "2", "CHATEDIT_GLOBAL_STEPS": "2", "CHATEDIT_GLOBAL_MAX_SIDE": "64"}
    command = [
        "-m",
        "chatedit.agent.cli",
        "mcp",
        "--models",
        "tiny",
        "--planner",
        "rules",
        "--device",
        "cpu",
        "--data-dir",
        data_dir,
    ]
    params = StdioServerParameters(command=sys.executable, args=command, env=env)
    progress: list[str] = []

    async def on_progress(value, total, message):
        progress.append(message)

    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = [tool.name for tool in (await session.list_tools()).tools]
        edit = await session.call_tool(
            "edit_image",
            {"instruction": "make it look like winter", "image": photo_path},
            progress_callback=on_progress,
        )
        name = edit.structured_content["session"]
        return {
            "tools": tools,
            "edit": edit,
            "progress": progress,
            "history": await session.call_tool("history", {"session": name}),
            "undo": await session.call_tool("undo", {"session": name}),
            "plan": await session.call_tool("plan", {"instruction": "remove the dog and make it look like winter"}),
            "missing": await session.call_tool("edit_image", {"instruction": "make it red", "image": "/no/such.png"}),
            "not_an_image": await session.call_tool(
                "edit_image", {"instruction": "make it red", "image": not_an_image}
            ),
            "unknown": await session.call_tool("undo", {"session": "no-such-session"}),
        }


def test_stdio_tools_edit_report_undo_and_refuse_bad_input(small_photo, tmp_path):
    photo_path = tmp_path / "photo.png"
    small_photo.save(photo_path)
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a picture")
    calls = asyncio.run(asyncio.wait_for(stdio_calls(str(photo_path), str(text_file), str(tmp_path / "data")), 600))

    assert set(calls["tools"]) == {"edit_image", "undo", "redo", "history", "plan"}
    edit = calls["edit"]
    assert not edit.is_error
    edited = picture_of(edit)
    assert edited.size == small_photo.size and not np.array_equal(np.asarray(edited), np.asarray(small_photo))
    assert edit.structured_content["version"] == 1 and edit.structured_content["steps"][0]["category"] == "global"
    assert "winter" in text_of(edit)
    # Long edits tell the client how they go.
    assert any(line.startswith("Plan:") for line in calls["progress"])
    versions = calls["history"].structured_content["versions"]
    assert [v["current"] for v in versions] == [False, True]
    assert np.array_equal(np.asarray(picture_of(calls["undo"])), np.asarray(small_photo))
    assert [s["category"] for s in calls["plan"].structured_content["steps"]] == ["remove", "global"]
    # Bad input is a tool error the model can read, and the server goes on answering.
    assert calls["missing"].is_error and "No file" in text_of(calls["missing"])
    assert calls["not_an_image"].is_error and "image" in text_of(calls["not_an_image"]).lower()
    assert calls["unknown"].is_error and "no-such-session" in text_of(calls["unknown"])


@pytest.fixture(scope="module")
def editor(tmp_path_factory):
    with tiny_editor(tmp_path_factory.mktemp("mcp-data")) as editor:
        yield editor


async def http_calls(url: str, small_photo: Image.Image, photo_path: str) -> dict:
    data_url = "data:image/png;base64," + base64.b64encode(png(small_photo)).decode("ascii")
    mask = Image.new("L", small_photo.size, 0)
    mask.paste(255, (8, 8, 40, 40))
    client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=300)
    async with (
        client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        edit = await session.call_tool("edit_image", {"instruction": "make it brighter", "image": data_url})
        follow = await session.call_tool(
            "edit_image", {"instruction": "make it look like winter", "session": edit.structured_content["session"]}
        )
        masked = await session.call_tool(
            "edit_image",
            {
                "instruction": "make it red",
                "image": base64.b64encode(png(small_photo)).decode("ascii"),
                "mask": "data:image/png;base64," + base64.b64encode(png(mask)).decode("ascii"),
            },
        )
        path = await session.call_tool("edit_image", {"instruction": "make it brighter", "image": photo_path})
        return {"edit": edit, "follow": follow, "masked": masked, "path": path}


def test_http_tools_behind_the_key(editor, small_photo, tmp_path):
    small_photo.save(tmp_path / "photo.png")
    with serve(create_app(editor, ServerSettings(api_key=KEY))) as base:
        refused = httpx.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_api_key"
        calls = asyncio.run(asyncio.wait_for(http_calls(f"{base}/mcp", small_photo, str(tmp_path / "photo.png")), 600))

    edit, follow = calls["edit"], calls["follow"]
    assert not edit.is_error and picture_of(edit).size == small_photo.size
    # Naming the session continues from its latest version.
    assert follow.structured_content["session"] == edit.structured_content["session"]
    assert follow.structured_content["version"] == 2
    # A drawn mask is the step's region; outside it every pixel is the original's.
    masked = calls["masked"]
    assert masked.structured_content["steps"][0]["region_source"] == "user mask"
    # The report names stored images by id: no path of the server reaches the client.
    assert "/" not in json.dumps(masked.structured_content)
    edited, original = np.asarray(picture_of(masked)).astype(int), np.asarray(small_photo).astype(int)
    outside = np.ones(original.shape[:2], bool)
    outside[8:40, 8:40] = False
    assert np.array_equal(edited[outside], original[outside])
    # The server cannot read an HTTP client's files.
    assert calls["path"].is_error and "data URL or base64" in text_of(calls["path"])


OTHER_KEY = "sk-mcp-other"


@contextlib.asynccontextmanager
async def mcp_client(url: str, key: str):
    """Gives an initialized MCP client session over streamable HTTP with `key`."""
    client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=300)
    async with (
        client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def two_keys_calls(url: str, small_photo: Image.Image) -> dict:
    data_url = "data:image/png;base64," + base64.b64encode(png(small_photo)).decode("ascii")
    async with mcp_client(url, KEY) as owner, mcp_client(url, OTHER_KEY) as stranger:
        named = await owner.call_tool(
            "edit_image", {"instruction": "make it brighter", "image": data_url, "session": "holiday"}
        )
        unnamed = await owner.call_tool("edit_image", {"instruction": "make it brighter", "image": data_url})
        minted = unnamed.structured_content["session"]
        return {
            "named": named,
            "minted": minted,
            "stranger_history": await stranger.call_tool("history", {"session": "holiday"}),
            "stranger_undo": await stranger.call_tool("undo", {"session": minted}),
            "stranger_edit": await stranger.call_tool(
                "edit_image", {"instruction": "make it red", "session": "holiday"}
            ),
            "owner_history": await owner.call_tool("history", {"session": "holiday"}),
            "owner_follow": await owner.call_tool(
                "edit_image", {"instruction": "make it look like winter", "session": minted}
            ),
        }


def test_http_sessions_are_scoped_to_the_key(editor, small_photo):
    settings = ServerSettings(api_keys=[KEY, OTHER_KEY])
    with serve(create_app(editor, settings)) as base:
        calls = asyncio.run(asyncio.wait_for(two_keys_calls(f"{base}/mcp", small_photo), 600))

    assert not calls["named"].is_error and calls["named"].structured_content["session"] == "holiday"
    # Another key names the same session, or the one the server minted, and reaches nothing.
    assert calls["stranger_history"].is_error and "No session 'holiday'" in text_of(calls["stranger_history"])
    assert calls["stranger_undo"].is_error and calls["minted"] in text_of(calls["stranger_undo"])
    stranger_edit = calls["stranger_edit"]
    assert not [block for block in stranger_edit.content if block.type == "image"]
    assert stranger_edit.structured_content["version"] is None
    # The owner's session is untouched, and its minted name continues it.
    versions = calls["owner_history"].structured_content["versions"]
    assert [v["instruction"] for v in versions] == ["uploaded", "make it brighter"]
    assert calls["owner_follow"].structured_content["version"] == 2
    # The names are the client's; stored sessions are derived from key and name.
    with pytest.raises(InputError):
        editor.session("holiday")


def test_a_busy_session_is_a_tool_error_that_says_so(editor, small_photo, monkeypatch):
    monkeypatch.setattr(editor.database, "session_wait", 0)
    backend = Backend(editor)
    tools = Tools(backend, ServerSettings(), local_files=False)
    data_url = "data:image/png;base64," + base64.b64encode(png(small_photo)).decode("ascii")
    held, done = threading.Event(), threading.Event()

    def hold() -> None:
        with editor.database.session_lock("busy"):
            held.set()
            done.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(60)
        # The client reads why (and what to do), not only that the tool failed.
        with pytest.raises(ToolError, match="Session 'busy' is busy with another turn .*send the message again"):
            asyncio.run(tools.edit_image("make it brighter", image=data_url, session="busy"))
    finally:
        done.set()
        holder.join()
        backend.close()


def test_a_refused_picture_url_says_why_in_the_tool_error():
    """The reason the chat route gives for a refused URL reaches an MCP client too, not only the server log."""
    from mcp.server.mcpserver.exceptions import ToolError

    def never_built():
        raise AssertionError("a refused picture loaded the editor")

    tools = Tools(Backend(never_built), ServerSettings(allow_remote_images=True), local_files=False)
    with pytest.raises(ToolError) as refused:
        asyncio.run(tools.edit_image("make it red", image="http://127.0.0.1:9/photo.png"))
    assert "must point to a public address" in str(refused.value)


async def marked_calls(url: str, small_photo: Image.Image) -> dict:
    data_url = "data:image/png;base64," + base64.b64encode(png(small_photo)).decode("ascii")
    client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=300)
    async with (
        client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        boxed = await session.call_tool(
            "edit_image", {"instruction": "make it red", "image": data_url, "box": [10, 8, 60, 50]}
        )
        name = boxed.structured_content["session"]
        clicked = await session.call_tool(
            "edit_image", {"instruction": "make it blue", "session": name, "point": [30, 30, 40, 20]}
        )
        outside = await session.call_tool(
            "edit_image", {"instruction": "make it green", "session": name, "box": [10, 8, 600, 50]}
        )
        both = await session.call_tool(
            "edit_image", {"instruction": "make it green", "session": name, "mask": data_url, "point": [3, 4]}
        )
        history = await session.call_tool("history", {"session": name})
        return {"boxed": boxed, "clicked": clicked, "outside": outside, "both": both, "history": history}


def test_http_tools_take_a_box_or_clicks_instead_of_a_mask(editor, small_photo):
    from chatedit.tools.selection import Selection

    with serve(create_app(editor, ServerSettings(api_key=KEY))) as base:
        calls = asyncio.run(asyncio.wait_for(marked_calls(f"{base}/mcp", small_photo), 600))

    boxed, clicked = calls["boxed"], calls["clicked"]
    assert not boxed.is_error and not clicked.is_error, text_of(boxed) + text_of(clicked)
    assert boxed.structured_content["steps"][0]["region_source"] == "user mask"
    # Outside the outline of what the box marks, every pixel is the original's.
    region = editor.toolbox.segment_selection(small_photo, Selection(box=(10, 8, 60, 50)))
    first = picture_of(boxed)
    assert region.any() and np.array_equal(np.asarray(first)[~region], np.asarray(small_photo)[~region])
    # Two clicks on the same object, on the session's latest picture.
    clicks = editor.toolbox.segment_selection(first, Selection(points=((30, 30), (40, 20))))
    assert np.array_equal(np.asarray(picture_of(clicked))[~clicks], np.asarray(first)[~clicks])
    # Bad marks are tool errors in words, and the session keeps its versions.
    assert calls["outside"].is_error and "reaches outside the 96x64 picture" in text_of(calls["outside"])
    assert calls["both"].is_error and "not both" in text_of(calls["both"])
    versions = calls["history"].structured_content["versions"]
    assert [v["current"] for v in versions] == [False, False, True]
