"""Who is logged in to the web UI, and which sessions are theirs: the API's key scoping, for the UI.

The login asks for a name and a password: any name, and an API key as the password. While the server
runs, a name stands for the key it first logged in with (Gradio's login keeps the name, not the key),
so a name taken under one key does not log in under another.

The browser keeps a session's name, not its id. The id of the stored session is derived from the
login's key and that name (`scoped_session`, as the HTTP API derives it), so a browser logged in with
another key that sends a session's name, or its stored id, reaches a session of its own, never that
one. Without API keys there is no login, and the name is the id.
"""

from __future__ import annotations

import hmac
import threading
import uuid
from typing import Any, Optional

import gradio as gr

from chatedit.agent.server.auth import scoped_session

LOGIN_MESSAGE = (
    "Log in with any name and chatedit's API key (CHATEDIT_API_KEY or --api-key) as the password. A name "
    "used with another key since the server started is that key's: pick another."
)


class Logins:
    """The UI's logins over the server's API keys, and the stored session each browser's session name stands for.

    Args:
        keys: the accepted API keys (none: no login, and every browser sees the sessions it names).
    """

    def __init__(self, keys: list[str]):
        self.keys = list(keys)
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()

    def check(self, name: str, password: str) -> bool:
        """Gives back whether a login is accepted: the password is an API key, and the name is not another key's."""
        key = next((k for k in self.keys if hmac.compare_digest(password.encode(), k.encode())), None)
        if key is None:
            return False
        with self._lock:
            bound = self._names.setdefault(name.strip(), key)
        return hmac.compare_digest(bound.encode(), key.encode())

    def key_of(self, request: Any) -> Optional[str]:
        """Gives back the API key the request's login was made with (None without keys).

        Raises:
            gr.Error: keys are set and the request carries no login this server accepted.
        """
        if not self.keys:
            return None
        name = getattr(request, "username", None)
        key = self._names.get(name) if isinstance(name, str) else None
        if key is None:
            raise gr.Error(
                "Log in again: this server does not know your login (it may have restarted).", title="Log in"
            )
        return key

    def stored(self, name: Optional[str], request: Any) -> Optional[str]:
        """Gives back the id of the stored session a browser's session name stands for under its login (None: no name)."""
        key = self.key_of(request)
        return scoped_session(name, key) if name else None

    def new_name(self) -> str:
        """Gives back the name of a new session, as the browser keeps it."""
        return uuid.uuid4().hex


def named(screen: dict, name: Optional[str], stored: Optional[str]) -> dict:
    """Gives back a handler's screen with the stored session's id shown to the browser as its name."""
    if stored is not None and screen.get("session") == stored:
        return {**screen, "session": name}
    return screen
