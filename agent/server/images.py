"""Image routes: GET /v1/images/{id} serves a picture of the store, for answers that link their images."""

from __future__ import annotations

import base64
import re
from typing import Optional

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from chatedit.agent.server.auth import api_key
from chatedit.agent.server.settings import APIError

IMAGE_ID = re.compile(r"^(?P<id>[0-9a-f]{64})(?:\.png)?$")
router = APIRouter()


def image_link(request: Request, image_id: str, how: Optional[str] = None) -> str:
    """Gives back how an answer carries a stored image: a data URL, or a (signed, with keys) link to it.

    Args:
        request: the request answered (its base URL is the link's, unless `public_url` is set).
        image_id: the stored image.
        how: `inline` or `url` (default: the server's `image_links` setting).
    """
    settings = request.app.state.settings
    if (how or settings.image_links) == "inline":
        data = request.app.state.backend.editor().store.path(image_id).read_bytes()
        return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    keys = request.app.state.keys
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return f"{base}/v1/images/{image_id}.png" + (f"?sig={keys.link_signature(image_id)}" if keys else "")


@router.get("/v1/images/{name}")
async def get_image(name: str, request: Request, sig: Optional[str] = None):
    """Gives back a stored PNG; the key is needed unless the link is signed."""
    match = IMAGE_ID.match(name)
    if not match:
        raise APIError(400, "An image id is 64 lowercase hex characters (optionally with .png).", "invalid_image_id")
    image_id = match["id"]
    # Browsers load markdown images without headers, so a signed link stands in for the key.
    if not request.app.state.keys.signed(image_id, sig):
        api_key(request)
    path = request.app.state.backend.editor().store.path(image_id)
    if not path.is_file():
        raise APIError(404, "No image with this id.", "not_found")
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private, max-age=31536000, immutable"})
