"""Image routes: GET /v1/images/{id} serves a picture of the store, for answers that link their images."""

from __future__ import annotations

import base64
import re
from typing import Optional

from fastapi import APIRouter, Request
from fastapi.responses import Response

from chatedit.agent.server.auth import api_key
from chatedit.agent.server.settings import APIError
from chatedit.tools.errors import InputError

IMAGE_ID = re.compile(r"^(?P<id>[0-9a-f]{64})(?:\.png)?$")
router = APIRouter()


def image_link(request: Request, image_id: str, key: Optional[str], how: Optional[str] = None) -> str:
    """Gives back how an answer carries a stored image: a data URL, or a link to it (signed for `key`, with keys).

    Args:
        request: the request answered (its base URL is the link's, unless `public_url` is set).
        image_id: the stored image.
        key: the API key of the request answered (None without keys).
        how: `inline` or `url` (default: the server's `image_links` setting).
    """
    settings = request.app.state.settings
    if (how or settings.image_links) == "inline":
        data = request.app.state.backend.editor().store.png(image_id)
        return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    keys = request.app.state.keys
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return f"{base}/v1/images/{image_id}.png" + keys.link_query(image_id, key)


@router.get("/v1/images/{name}")
async def get_image(name: str, request: Request, exp: Optional[str] = None, sig: Optional[str] = None):
    """Gives back a stored PNG; with keys, only through a link an answer gave (signed, unexpired)."""
    match = IMAGE_ID.match(name)
    if not match:
        raise APIError(400, "An image id is 64 lowercase hex characters (optionally with .png).", "invalid_image_id")
    image_id = match["id"]
    keys = request.app.state.keys
    # Browsers load markdown images without headers: the signed link is the permission, and a key
    # alone opens no picture, since ids appear in answers to every key.
    if keys and keys.link_key(image_id, exp, sig) is None:
        api_key(request)
        raise APIError(
            403,
            "This picture opens only through the link an answer gave for it, before that link expires; "
            "ask again for a fresh link, or send the picture itself.",
            "image_link_invalid",
        )
    try:
        data = request.app.state.backend.editor().store.png(image_id)
    except InputError:
        raise APIError(404, "No image with this id.", "not_found") from None
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=31536000, immutable"})
