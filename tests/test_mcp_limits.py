"""MCP over HTTP takes what chat and the Images API take, no more: the same byte and pixel limits, a mask
refused by the size its header declares before it is decoded, and an answer too large for the official
client's event reader sent as a preview and a link to the full picture."""

from __future__ import annotations

import asyncio
import base64
import io

import httpx
import numpy as np
import pytest
from PIL import Image
from test_crash import request
from test_mcp import KEY, mcp_client, text_of

from chatedit.agent.server import ServerSettings, create_app, mcp_tools
from chatedit.agent.server.auth import scoped_session
from chatedit.tools.errors import InputError
from chatedit.tools.images import load_mask
from tests.helpers import png, random_image, serve, tiny_editor

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LIMITS = ServerSettings(api_keys=[KEY], max_image_bytes=50_000, max_pixels=100_000)


def data_url(picture: Image.Image) -> str:
    return "data:image/png;base64," + base64.b64encode(png(picture)).decode("ascii")


def header_only_png(width: int, height: int) -> bytes:
    """Gives back the first bytes of a PNG of this size: a header that declares it, and no pixels to decode."""
    return png(Image.new("L", (width, height)))[:64]


def test_a_mask_of_another_size_is_refused_from_its_header_before_decoding():
    # Decoding these bytes would fail (no pixels); the header alone says the size is wrong.
    with pytest.raises(InputError, match="The mask is 7900x7900 but the picture is 96x64"):
        load_mask(header_only_png(7900, 7900), (96, 64))


async def limited_calls(url: str, photo: Image.Image) -> dict:
    noisy = random_image(200, 200, seed=5)  # about 120 KB as PNG, 40 thousand pixels
    wide = Image.new("RGB", (400, 400), (200, 120, 40))  # a few hundred bytes, 160 thousand pixels
    mask = "data:image/png;base64," + base64.b64encode(header_only_png(7900, 7900)).decode("ascii")
    async with mcp_client(url, KEY) as client:
        return {
            "bytes": await client.call_tool(
                "edit_image", {"instruction": "make it brighter", "image": data_url(noisy)}
            ),
            "pixels": await client.call_tool(
                "edit_image", {"instruction": "make it brighter", "image": data_url(wide)}
            ),
            "mask": await client.call_tool(
                "edit_image", {"instruction": "make it brighter", "image": data_url(photo), "mask": mask}
            ),
            "edit": await client.call_tool(
                "edit_image", {"instruction": "make it look like a watercolor painting", "image": data_url(photo)}
            ),
        }


def test_mcp_over_http_has_the_limits_of_chat_and_answers_a_large_picture_by_link(tmp_path, monkeypatch):
    # Any answer's PNG counts as large here, so the tiny models' pictures go by link.
    monkeypatch.setattr(mcp_tools, "MAX_INLINE_PNG", 2_000)
    photo = random_image(96, 64, seed=6)
    with tiny_editor(tmp_path) as editor, serve(create_app(editor, LIMITS)) as base:
        calls = asyncio.run(asyncio.wait_for(limited_calls(f"{base}/mcp", photo), 600))
        # Chat answers 413 for the same two pictures.
        for picture in (random_image(200, 200, seed=5), Image.new("RGB", (400, 400), (200, 120, 40))):
            sent = request("limits", "make it brighter", picture)
            chat = httpx.post(
                f"{base}/v1/chat/completions", json=sent["json"], headers={"Authorization": f"Bearer {KEY}"}, timeout=60
            )
            assert chat.status_code == 413, chat.text
        edit = calls["edit"]
        assert not edit.is_error, text_of(edit)
        preview = [block for block in edit.content if block.type == "image"]
        links = [block for block in edit.content if block.type == "resource_link"]
        assert [block.mime_type for block in preview] == ["image/jpeg"] and len(links) == 1
        full = httpx.get(str(links[0].uri), timeout=60)
        stored = editor.store.png(_image_of(editor, edit))
        assert full.status_code == 200 and full.content == stored and links[0].size == len(stored)
    assert calls["bytes"].is_error and "larger than the 49 KB limit" in text_of(calls["bytes"])
    assert calls["pixels"].is_error and "megapixel limit" in text_of(calls["pixels"])
    assert calls["mask"].is_error and "The mask is 7900x7900 but the picture is 96x64" in text_of(calls["mask"])
    shown = Image.open(io.BytesIO(base64.b64decode(preview[0].data)))
    assert shown.size == (96, 64) and np.asarray(shown).std() > 0


def _image_of(editor, edit) -> str:
    """Gives back the store id of the picture an edit's session now shows."""
    name = edit.structured_content["session"]
    return editor.session(scoped_session(name, KEY)).history()[-1].image_id
