"""Reading an OpenAI chat request: the instruction, the current picture and any side task."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, Optional
from urllib.parse import parse_qsl

from chatedit.agent.server.settings import APIError
from chatedit.agent.server.side import is_side_task

OWN_IMAGE_LINK = re.compile(r"/v1/images/(?P<id>[0-9a-f]{64})(?:\.png)?(?:\?(?P<query>[^\s)]*))?$")
_MARKDOWN_IMAGE = re.compile(r"!\[[^\]\n]*\]\(")
_ATTACHED_FILES = re.compile(r"<attached_files>.*?</attached_files>", re.S)


@dataclass
class ImageRef:
    """Where the current picture is: a data URL, a remote URL, or an image of this server's store."""

    kind: Literal["data", "remote", "stored"]
    value: str
    link: dict[str, str] = field(default_factory=dict)
    """A stored picture's link parameters (`exp`, `sig`): with API keys, they say whose picture it is."""

    @classmethod
    def own(cls, match: re.Match) -> "ImageRef":
        """Gives back the reference to this server's picture an `OWN_IMAGE_LINK` match names."""
        return cls("stored", match["id"], dict(parse_qsl(match["query"] or "")))


@dataclass
class Conversation:
    """What a chat request asks for, read without decoding any image."""

    text: str
    """The last user message's text, without attachment listings and markdown images."""
    image: Optional[ImageRef]
    """The last image of the conversation."""
    task: Optional[str] = None
    """The prompt of a side request (title, tags, follow-ups), when the request is one."""
    system: list[str] = field(default_factory=list)
    """The texts of system messages (a frontend's tool-selection prompt arrives there)."""


def _content_parts(content: Any) -> list[tuple[str, str]]:
    """Gives back a message's content as (kind, value) parts: ("text", text) or ("image", url)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [("text", content)]
    if not isinstance(content, list):
        raise APIError(400, "A message's content must be a string or a list of parts.", "invalid_request")
    parts = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(("text", part["text"]))
        elif kind in ("image_url", "input_image"):
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            if not isinstance(url, str) or not url.strip():
                raise APIError(400, "An image_url part has no URL; send the image as a data URL.", "invalid_image")
            parts.append(("image", url.strip()))
    return parts


def _last_markdown_image(text: str) -> Optional[ImageRef]:
    """Gives back the last data-URL or own-link markdown image of a text, copying out only that URL."""
    starts = [match.end() for match in _MARKDOWN_IMAGE.finditer(text)]
    for start in reversed(starts):
        end = text.find(")", start)
        if end < 0:
            continue
        # Only the URL's first characters are looked at before choosing: a data URL can be megabytes long.
        if text.startswith("data:image/", start):
            return ImageRef("data", text[start:end].strip().split(' "')[0])
        own = OWN_IMAGE_LINK.search(text[start:end].strip().split(" ")[0]) if end - start < 4096 else None
        if own:
            return ImageRef.own(own)
        # A picture from elsewhere (say, another model's answer) is not ours to fetch: look further back.
    return None


def _strip_markdown_images(text: str) -> str:
    out, position = [], 0
    for match in _MARKDOWN_IMAGE.finditer(text):
        if match.start() < position:
            continue
        end = text.find(")", match.end())
        if end < 0:
            break
        out.append(text[position : match.start()])
        position = end + 1
    out.append(text[position:])
    return "".join(out)


def read_conversation(body: dict) -> Conversation:
    """Gives back the instruction, the current image and any side task of an OpenAI chat request."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise APIError(
            400, "The request has no messages; send a user message with an instruction and an image.", "invalid_request"
        )
    if not all(isinstance(message, dict) for message in messages):
        raise APIError(400, "Each message must be an object with a role and content.", "invalid_request")
    system = [
        value
        for message in messages
        if message.get("role") in ("system", "developer")
        for kind, value in _content_parts(message.get("content"))
        if kind == "text"
    ]
    image: Optional[ImageRef] = None
    text: Optional[str] = None
    for message in reversed(messages):
        role = message.get("role")
        if role in ("system", "developer"):
            continue
        parts = _content_parts(message.get("content"))
        if role == "user" and text is None:
            text = "\n".join(value for kind, value in parts if kind == "text")
        if image is None:
            for kind, value in reversed(parts):
                if kind == "image":
                    if value.startswith("data:"):
                        image = ImageRef("data", value)
                    else:
                        # A data URL can be megabytes: only links are searched for chatedit's own ids.
                        own = OWN_IMAGE_LINK.search(value)
                        image = ImageRef.own(own) if own else ImageRef("remote", value)
                else:
                    image = _last_markdown_image(value)
                if image is not None:
                    break
        if text is not None and image is not None:
            break
    raw = text or ""
    task = raw.strip() if is_side_task(raw, system) else None
    clean = _strip_markdown_images(_ATTACHED_FILES.sub("", raw)).strip()
    return Conversation(text=clean, image=image, task=task, system=system)
