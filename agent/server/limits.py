"""The limits on what a request sends, applied alike at every way in: chat, the Images API and MCP over HTTP.

- A picture: at most `max_image_bytes` encoded (checked before a data URL's base64 is decoded) and
  `max_pixels` as its header declares them (checked before decoding); too large is TooLargeError.
- A mask: the same byte limit; its size must be the picture's, read from its header before decoding
  (`tools.images.load_mask`).
- Pictures over `large_pixels`: at most `max_large_requests` held at once (`Backend.admit`).
"""

from __future__ import annotations

from PIL import Image

from chatedit.agent.config import ServerSettings
from chatedit.tools.images import ImageSource, load_image, read_source


def read_picture(source: ImageSource, settings: ServerSettings) -> Image.Image:
    """Gives back a sent picture decoded under the server's byte and pixel limits, or raises InputError."""
    return load_image(source, max_bytes=settings.max_image_bytes, max_pixels=settings.max_pixels)


def read_mask(source: str | bytes, settings: ServerSettings) -> bytes:
    """Gives back a sent mask's encoded bytes under the server's byte limit, or raises InputError."""
    return read_source(source, settings.max_image_bytes)
