"""API keys: the FastAPI dependency every route but /health uses, signed image links, per-key sessions."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Annotated, Optional

from fastapi import Depends, Request

from chatedit.agent.server.settings import APIError
from chatedit.agent.session import SESSION_ID


class Keys:
    """The accepted API keys, and the links to stored pictures each key's answers carry.

    A picture's id names its pixels and appears in every answer, so the id alone opens nothing when
    keys are set: a link carries an expiry and a signature made with the key it was made for. It
    opens the picture for a browser (which sends no key) until it expires, and a chat message that
    links it is read only under that same key.
    """

    def __init__(self, keys: list[str], link_ttl_s: float = 7 * 24 * 3600):
        self.keys = [key.encode() for key in keys]
        self.link_ttl_s = link_ttl_s

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

    @staticmethod
    def _signature(key: bytes, image_id: str, expires: int) -> str:
        secret = hashlib.sha256(b"chatedit image link\n" + key).digest()
        return hmac.new(secret, f"{image_id}\n{expires}".encode(), hashlib.sha256).hexdigest()[:32]

    def link_query(self, image_id: str, key: Optional[str], now: Optional[float] = None) -> str:
        """Gives back the query (`?exp=...&sig=...`) that opens `image_id` for `key` until the link expires."""
        if not self.keys or key is None:
            return ""
        expires = int((time.time() if now is None else now) + self.link_ttl_s)
        return f"?exp={expires}&sig={self._signature(key.encode(), image_id, expires)}"

    def link_key(self, image_id: str, expires: Optional[str], signature: Optional[str]) -> Optional[str]:
        """Gives back the key a link to `image_id` was signed for, or None when it is unsigned, forged or expired."""
        if not self.keys or not signature or not expires or not expires.isdigit() or int(expires) < time.time():
            return None
        for key in self.keys:
            if hmac.compare_digest(signature.encode(), self._signature(key, image_id, int(expires)).encode()):
                return key.decode()
        return None


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


def request_id_for(request: Request, key: Optional[str]) -> Optional[str]:
    """Gives back the id of a request the client may send again (its Idempotency-Key), scoped to its key, or None.

    The official OpenAI clients send an Idempotency-Key with every POST and keep it on their retries;
    X-Client-Request-Id is read when there is none.
    """
    given = request.headers.get("idempotency-key") or request.headers.get("x-client-request-id")
    if not given or not given.strip():
        return None
    return hashlib.sha256(f"{key or ''}\n{given.strip()}".encode()).hexdigest()[:40]
