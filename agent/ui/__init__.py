"""`chatedit ui`: a chat beside the picture, where a click, a box or a brush stroke says "this one".

A Gradio app (it runs locally, and on a Hugging Face Space unchanged) over the same `Editor` and
store as the CLI and the server: every instruction goes through `Session.send(..., mask=, box=,
point=)`. Modules: `app` (the handlers and the layout), `marks` (clicks, boxes and brush strokes as
plain values), `drawing` (what is drawn over the picture), `progress` (a turn's events as chat lines).
Needs the `ui` extra: `pip install -e ".[ui]"`.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import Callable, Optional

from chatedit.agent.config import ServerSettings
from chatedit.agent.session import Editor
from chatedit.agent.ui.app import EditorUI

__all__ = ["EditorUI", "browser_secret", "check_key", "launch"]


def browser_secret(data_dir: Path) -> str:
    """Gives back the key that encrypts the session id the browser keeps, made once and kept in the data dir.

    The same key after a restart lets a browser reopen its session.
    """
    path = Path(data_dir) / "ui-secret"
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def check_key(keys: list[str]) -> Optional[Callable[[str, str], bool]]:
    """Gives back Gradio's login check for these API keys (None: no key, no login).

    The login asks for a name and a password: any name, and an API key as the password.
    """
    if not keys:
        return None

    def check(_name: str, password: str) -> bool:
        return any(hmac.compare_digest(password.encode(), key.encode()) for key in keys)

    return check


def launch(
    editor: Editor,
    settings: ServerSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
) -> None:
    """Serves the web UI until interrupted.

    Args:
        editor: the editor whose sessions it edits.
        settings: the server's upload limits and API keys (a key is the login's password).
        host: the address to listen on (0.0.0.0: every interface).
        port: the port to listen on.
        share: also open a temporary public link through Gradio's share servers.
    """
    app = EditorUI(editor, settings).build(browser_secret(editor.data_dir))
    # No limit per control: the editor runs one edit at a time (its lock), and clicks, views and undo
    # answer while another browser's edit runs.
    app.queue(default_concurrency_limit=None)
    app.launch(
        server_name=host,
        server_port=port,
        share=share,
        auth=check_key(settings.keys),
        auth_message="Log in with any name and chatedit's API key (CHATEDIT_API_KEY or --api-key) as the password.",
        max_file_size=settings.max_image_bytes,
        show_error=True,
        quiet=True,
    )
