"""`chatedit ui`: a chat beside the picture, where a click, a box or a brush stroke says "this one".

A Gradio app (it runs locally, and on a Hugging Face Space unchanged) over the same `Editor` and
store as the CLI and the server: every instruction goes through `Session.send(..., mask=, box=,
point=)`. Modules: `app` (the handlers and the layout), `access` (logins and the sessions each
login key reaches), `marks` (clicks, boxes and brush strokes as
plain values), `drawing` (what is drawn over the picture), `progress` (a turn's events as chat lines).
Needs the `ui` extra: `pip install -e ".[ui]"`.
"""

from __future__ import annotations

from chatedit.agent.config import ServerSettings
from chatedit.agent.session import Editor
from chatedit.agent.ui.access import LOGIN_MESSAGE, Logins
from chatedit.agent.ui.app import EditorUI

__all__ = ["EditorUI", "Logins", "launch"]


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
    ui = EditorUI(editor, settings)
    app = ui.build()
    # No limit per control: the editor runs one edit at a time (its lock), and clicks, views and undo
    # answer while another browser's edit runs.
    app.queue(default_concurrency_limit=None)
    app.launch(
        server_name=host,
        server_port=port,
        share=share,
        auth=ui.logins.check if settings.keys else None,
        auth_message=LOGIN_MESSAGE,
        max_file_size=settings.max_image_bytes,
        show_error=True,
        quiet=True,
    )
