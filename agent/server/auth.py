"""API keys: the FastAPI dependency every route but /health uses, signed image links, per-key sessions."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated, Optional

from fastapi import Depends, Request

from chatedit.agent.server.settings import APIError
from chatedit.agent.session import SESSION_ID


class Keys:
    """The accepted API keys, and the secret that signs image links made for them."""

    def __init__(self, keys: list[str]):
        self.keys = [key.encode() for key in keys]
        self._link_secret = hashlib.sha256(b"\n".join(sorted(self.keys))).digest()

    def __bool__(self) -> bool:
        return bool(self.keys)

    def check(self, authorization: str) -> Optional[str]:
        """Gives back the key an Authorization header carries (None when no keys are configured), or raises 401."""
        if not self.keys:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token:
            for key in self.keys:
                if hmac.compare_digest(token.strip().encode(), key):
                    return key.decode()
        raise APIError(401, "Missing or wrong API key; send it as 'Authorization: Bearer KEY'.", "invalid_api_key")

    def link_signature(self, image_id: str) -> str:
        """Gives back the signature that lets a link to `image_id` be opened without the key."""
        return hmac.new(self._link_secret, image_id.encode(), hashlib.sha256).hexdigest()[:32]

    def signed(self, image_id: str, signature: Optional[str]) -> bool:
        """True when keys are configured and `signature` is the link signature of `image_id`."""
        return bool(self.keys and signature) and hmac.compare_digest(
            signature.encode(), self.link_signature(image_id).encode()
        )


def api_key(request: Request) -> Optional[str]:
    """Gives back the caller's API key (None when the server needs none), or raises 401."""
    return request.app.state.keys.check(request.headers.get("authorization", ""))


ApiKey = Annotated[Optional[str], Depends(api_key)]
"""A route parameter that makes the route need the API key, and gives it to the route."""


def session_for(request: Request, user: object, key: Optional[str]) -> Optional[str]:
    """Gives back the persistent session a request names (header or `user` field), scoped to its key."""
    name = request.headers.get("x-chatedit-session") or user
    if not name or not isinstance(name, str):
        return None
    return scoped_session(name, key)


def scoped_session(name: str, key: Optional[str]) -> str:
    """Gives back the stored session a client's session name stands for under its key (the name itself without keys)."""
    if key is None and SESSION_ID.match(name):
        return name
    # Each key sees only its own sessions: the id is derived from the key and the name.
    return hashlib.sha256(f"{key or ''}\n{name}".encode()).hexdigest()[:40]
