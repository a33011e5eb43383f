"""The web UI's screen and what each control does: `EditorUI` holds the editor, `build` lays it out.

Every handler is a plain method that takes the controls' values and gives back a `Screen`, a dict of
what to show (keys are the names in `SCREEN`; a key left out leaves its control as it is). A turn's
handler is a generator: it shows the plan and each step as they come, then the new picture. Tests
call the handlers directly; `build` wires them to Gradio's controls.

What lives where: the session's name in the browser (`gr.BrowserState`, so a reload or a server
restart reopens the same session from the editor's store; with API keys the stored session is the
login key's session of that name, agent/ui/access.py); the marks (clicks, box) and the chat of this tab
in Gradio's per-tab state; everything else (versions, cursor, a pending question) in the session.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import gradio as gr
from PIL import Image

from chatedit.agent.config import ServerSettings
from chatedit.agent.database import DatabaseUnavailableError, SessionBusyError
from chatedit.agent.session import Editor, Session
from chatedit.agent.ui.access import Logins, named
from chatedit.agent.ui.drawing import candidate_at, overlay, thumbnail
from chatedit.agent.ui.marks import ClickMode, Marks, brush_mask, click, for_display, picture_xy
from chatedit.agent.ui.progress import Transcript
from chatedit.tools.errors import InputError, ModelUnavailableError, TooLargeError
from chatedit.tools.images import check_editable, load_image

logger = logging.getLogger("chatedit.ui")

Screen = dict[str, Any]
SCREEN = ("session", "marks", "masks", "chat", "picture", "compare", "brush", "versions", "about", "text")
"""What a handler may show: the session id (kept in the browser), the marks, the ids of the masks drawn
over the picture, the chat, the picture, the before/after slider, the brush canvas, the versions strip
(thumbnails with captions, the current one's marked), the line that names the session, and the
instruction box."""

OPENED = "(opened a picture)"
CURRENT = " (current)"
"""Marks the current version's caption in the versions strip."""
BROWSER_STATE_SECRET = "chatedit-session"
"""What Gradio encrypts the browser's copy of the session name with: no secret, since every page gets it."""
PLACEHOLDER = "Say what to change: remove the cup, make it sunset, make it blue (after a click on it)…"


class EditorUI:
    """The handlers of the web UI over one editor; `build()` gives back the Gradio app.

    Args:
        editor: the editor whose sessions the UI edits (the CLI's and the server's store).
        settings: the server's limits (upload bytes and pixels) and API keys.
    """

    def __init__(self, editor: Editor, settings: ServerSettings):
        self.editor = editor
        self.settings = settings
        self.logins = Logins(settings.keys)

    # ---- opening and showing a session ------------------------------------------------------------

    def session(self, session_id: Optional[str]) -> Optional[Session]:
        """Gives back the session with this id, or None when there is none (a new browser, or a new store)."""
        if not session_id:
            return None
        try:
            return self.editor.session(session_id)
        except InputError:
            return None

    def restore(self, session_id: Optional[str]) -> Screen:
        """Shows the browser's session as it was left: its picture, versions and chat (on page load)."""
        session = self.session(session_id)
        if session is None:
            return {**self._empty(), "session": ""}
        # An upload's message is "(image)" in the session (agent/nodes.py, `start`).
        chat = [
            {"role": role, "content": OPENED if text == "(image)" else text} for role, text in session.conversation()
        ]
        return {**self._pictures(session, Marks(), []), "session": session.id, "chat": chat}

    def _empty(self) -> Screen:
        return {
            "marks": Marks(),
            "masks": [],
            "chat": [],
            "picture": None,
            "compare": None,
            "brush": None,
            "versions": [],
            "about": "",
        }

    def _pictures(self, session: Session, marks: Marks, masks: list[str]) -> Screen:
        """Gives back the screen's pictures: the current one with marks and masks, before/after, brush, versions."""
        history = session.history()
        current = next((v for v in history if v.current), None)
        if current is None:
            return self._empty()
        picture = current.image
        shown = for_display(picture)
        before = history[current.parent].image if current.parent is not None else picture
        versions = [(thumbnail(v.image), f"{v.index}. {v.instruction}" + CURRENT * v.current) for v in history]
        return {
            "marks": marks,
            "masks": masks,
            "picture": self._overlay(session, picture, marks, masks),
            "compare": (for_display(before), shown),
            "brush": {"background": shown, "layers": [], "composite": None},
            "versions": versions,
            "about": f"Session `{session.id}`: `chatedit chat --session {session.id}` continues it in a terminal.",
        }

    def _overlay(self, session: Session, picture: Image.Image, marks: Marks, masks: list[str]) -> Image.Image:
        regions = [self.editor.store.get_mask(mask) for mask in masks]
        return overlay(picture, marks, regions, session.candidates())

    # ---- the controls ------------------------------------------------------------------------------

    def open_picture(self, path: Optional[str], session_id: Optional[str], chat: list) -> Screen:
        """Opens an uploaded file as the session's next version (a new session when there is none).

        Raises:
            gr.Error: not a picture chatedit can read, too many bytes or pixels, too small.
        """
        if not path:
            return {}
        session = self.editor.session(session_id, create=True) if session_id else self.editor.session()
        name = Path(path).name
        try:
            if Path(path).stat().st_size > self.settings.max_image_bytes:
                raise TooLargeError(
                    f"{name} is over the {self.settings.max_image_bytes / 1024 / 1024:g} MB limit; open a smaller picture."
                )
            picture = check_editable(
                load_image(
                    path,
                    max_side=self.editor.max_side,
                    max_bytes=self.settings.max_image_bytes,
                    max_pixels=self.settings.max_pixels,
                )
            )
            turn = session.send("", image=picture)
        except Exception as exc:
            raise ui_error(exc) from exc
        said = [
            {"role": "user", "content": f"(opened {name}, {picture.width}x{picture.height})"},
            {"role": "assistant", "content": turn.message},
        ]
        return {**self._pictures(session, Marks(), []), "session": session.id, "chat": [*chat, *said]}

    def click(
        self, mode: ClickMode, marks: Marks, session_id: Optional[str], chat: list, index: Any
    ) -> Iterator[Screen]:
        """Takes a click on the picture (`index`: x, y on the browser's copy): a point, a box corner, or an answer.

        While chatedit asks "which one?", a click inside a candidate's box answers with its number, as
        typing the number would; elsewhere a click marks as usual.
        """
        session = self.session(session_id)
        picture = session.image if session is not None else None
        if session is None or picture is None:
            gr.Warning("Open a picture first.")
            return
        xy = picture_xy(index, picture.size)
        number = candidate_at(session.candidates(), xy)
        if number is not None:
            yield from self._turn(session, str(number), Marks(), None, chat)
            return
        marked = click(marks, mode, xy)
        if marked == marks:
            gr.Warning("The second corner is in line with the first: click the opposite corner of the box.")
        yield {"marks": marked, "masks": [], "picture": self._overlay(session, picture, marked, [])}

    def clear_marks(self, session_id: Optional[str]) -> Screen:
        """Forgets the clicks, the box and the brush stroke, and the last edit's mask drawn over the picture."""
        session = self.session(session_id)
        if session is None:
            return {"marks": Marks(), "masks": []}
        return self._pictures(session, Marks(), [])

    def send(self, text: str, marks: Marks, brush: Any, session_id: Optional[str], chat: list) -> Iterator[Screen]:
        """Sends an instruction, acting where the marks or the brush say, and shows the turn as it runs."""
        if not (text or "").strip():
            return
        session = self.session(session_id)
        picture = session.image if session is not None else None
        if session is None or picture is None:
            gr.Warning("Open a picture first, then say what to change.")
            return
        if marks.corner is not None:
            gr.Warning("The box has one corner: click the opposite corner, or Clear marks.")
            return
        yield from self._turn(session, text, marks, brush_mask(brush, picture.size), chat)

    def undo(self, session_id: Optional[str], chat: list) -> Screen:
        """Steps back one version."""
        return self._command(session_id, "undo", chat)

    def redo(self, session_id: Optional[str], chat: list) -> Screen:
        """Steps forward again after an undo."""
        return self._command(session_id, "redo", chat)

    def goto(self, session_id: Optional[str], chat: list, index: int) -> Screen:
        """Makes the version picked in the strip current; the other versions stay."""
        session = self.session(session_id)
        if session is None:
            return {}
        try:
            session.goto(index)
        except Exception as exc:
            raise ui_error(exc) from exc
        message = session.conversation()[-1][1]
        return {**self._pictures(session, Marks(), []), "chat": [*chat, {"role": "assistant", "content": message}]}

    def new_session(self) -> Screen:
        """Starts afresh: the next picture opened begins a new session (the old one stays in the store)."""
        return {**self._empty(), "session": ""}

    def _command(self, session_id: Optional[str], verb: str, chat: list) -> Screen:
        session = self.session(session_id)
        if session is None:
            gr.Warning("Open a picture first.")
            return {}
        try:
            turn = session.send(verb)
        except Exception as exc:
            raise ui_error(exc) from exc
        said = [{"role": "user", "content": verb}, {"role": "assistant", "content": turn.message}]
        return {**self._pictures(session, Marks(), []), "chat": [*chat, *said]}

    # ---- a turn ------------------------------------------------------------------------------------

    def _turn(self, session: Session, text: str, marks: Marks, mask: Any, chat: list) -> Iterator[Screen]:
        """Runs one turn on a worker thread and shows its events as they come, then its result."""
        events: queue.Queue = queue.Queue()
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["turn"] = session.send(
                    text, mask=mask, box=marks.boxed(), point=marks.point(), on_event=events.put
                )
            except Exception as exc:  # shown in the UI by the generator below
                outcome["error"] = exc
            finally:
                events.put(None)

        started = time.monotonic()
        transcript = Transcript()
        asked = {"role": "user", "content": text + _where(marks, mask)}
        chat = [*chat, asked, _working(transcript)]
        yield {"chat": chat, "text": ""}
        worker = threading.Thread(target=work, name="chatedit-ui-turn", daemon=True)
        worker.start()
        while (event := events.get()) is not None:
            transcript.add(event)
            chat = [*chat[:-1], _working(transcript)]
            shown: Screen = {"chat": chat}
            if event.get("event") == "located" and event.get("mask"):
                picture = session.image
                if picture is not None:
                    shown["picture"] = self._overlay(session, picture, marks, [event["mask"]])
            yield shown
        worker.join()
        log = [*chat[:-1], _worked(transcript, "done", time.monotonic() - started)]
        if "error" in outcome:
            yield {"chat": [*log, {"role": "assistant", "content": f"Stopped: {outcome['error']}"}]}
            raise ui_error(outcome["error"])
        turn = outcome["turn"]
        masks = [s["mask"] or s["region"] for s in turn.report.get("steps") or [] if s["mask"] or s["region"]]
        answer = {"role": "assistant", "content": turn.message}
        yield {**self._pictures(session, Marks(), masks), "chat": [*log, answer]}

    # ---- the page ----------------------------------------------------------------------------------

    def build(self) -> gr.Blocks:
        """Gives back the Gradio app: the picture and its history on the left, the chat on the right."""
        with gr.Blocks(title="chatedit", analytics_enabled=False) as app:
            controls = self._layout()
            self._wire(app, controls)
        return app

    def _layout(self) -> dict[str, Any]:
        c: dict[str, Any] = {
            # Gradio hands a BrowserState's secret to every page (/config): it hides nothing, so it is a
            # fixed word, the same across restarts. The login's key, not the browser, keeps sessions apart.
            "session": gr.BrowserState("", storage_key="chatedit-session", secret=BROWSER_STATE_SECRET),
            "marks": gr.State(Marks()),
            "masks": gr.State([]),
            "chat": gr.State([]),
        }
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Row():
                    c["upload"] = gr.UploadButton(
                        "Open a picture",
                        file_types=["image"],
                        type="filepath",
                        variant="primary",
                        size="md",
                        min_width=120,
                    )
                    c["undo"] = gr.Button("Undo", size="md", min_width=60)
                    c["redo"] = gr.Button("Redo", size="md", min_width=60)
                    c["clear"] = gr.Button("Clear marks", size="md", min_width=100)
                    c["new"] = gr.Button("New session", size="md", min_width=100)
                with gr.Tabs():
                    with gr.Tab("Click"):
                        c["picture"] = gr.Image(
                            type="pil",
                            format="png",
                            interactive=False,
                            show_label=False,
                            elem_id="picture",
                            height=520,
                            buttons=["download", "fullscreen"],
                            placeholder="Open a picture, then click on what to change.",
                        )
                        c["mode"] = gr.Radio(
                            [("a point on the object", "point"), ("a box: two opposite corners", "box")],
                            value="point",
                            label="A click on the picture marks",
                            elem_id="click-mode",
                        )
                    with gr.Tab("Brush"):
                        c["brush"] = gr.ImageEditor(
                            type="numpy",
                            format="png",
                            sources=(),
                            transforms=(),
                            layers=False,
                            brush=gr.Brush(colors=["rgba(255, 0, 170, 0.6)"], color_mode="fixed"),
                            show_label=False,
                            elem_id="brush",
                            height=520,
                        )
                        gr.Markdown("Paint over what to change; the next instruction acts inside the paint.")
                    with gr.Tab("Before / after"):
                        c["compare"] = gr.ImageSlider(
                            type="pil", format="png", show_label=False, elem_id="compare", max_height=520
                        )
                c["versions"] = gr.Gallery(
                    label="Versions (pick one to go back to it)",
                    columns=8,
                    fit_columns=False,
                    height=150,
                    allow_preview=False,
                    object_fit="contain",
                    elem_id="versions",
                )
                c["about"] = gr.Markdown(elem_id="about")
            with gr.Column(scale=2):
                c["chatbot"] = gr.Chatbot(
                    show_label=False, elem_id="chat", height=560, feedback_options=None, layout="bubble"
                )
                c["text"] = gr.Textbox(
                    placeholder=PLACEHOLDER, show_label=False, submit_btn="Send", elem_id="instruction", lines=1
                )
                with gr.Accordion("Settings", open=False):
                    gr.Markdown(settings_markdown(self.editor, self.settings), elem_id="settings")
        return c

    def _wire(self, app: gr.Blocks, c: dict[str, Any]) -> None:
        outputs = [c[name] for name in SCREEN] + [c["chatbot"]]

        def shown(screen: Screen) -> dict:
            """Gives back the screen as Gradio's {control: value}; the chat goes to its state and its view."""
            values = {c[name]: value for name, value in screen.items()}
            if "chat" in screen:
                values[c["chatbot"]] = screen["chat"]
            # An empty dict would read to Gradio as one value, not as "change nothing".
            return values or {c["text"]: gr.skip()}

        def each(screens: Iterator[Screen]) -> Iterator[dict]:
            for screen in screens:
                yield shown(screen)

        # The browser sends its session's name; each handler works on the login key's session of that name.
        own = self.logins.stored

        def on_load(name, request: gr.Request):
            stored = own(name, request)
            return shown(named(self.restore(stored), name, stored))

        def on_upload(path, name, chat, request: gr.Request):
            name = name or self.logins.new_name()
            stored = own(name, request)
            return shown(named(self.open_picture(path, stored, chat), name, stored))

        def on_click(mode, marks, name, chat, evt: gr.SelectData, request: gr.Request):
            yield from each(self.click(mode, marks, own(name, request), chat, evt.index))

        def on_send(text, marks, brush, name, chat, request: gr.Request):
            yield from each(self.send(text, marks, brush, own(name, request), chat))

        def on_pick(name, chat, evt: gr.SelectData, request: gr.Request):
            return shown(self.goto(own(name, request), chat, evt.index))

        def on_clear(name, request: gr.Request):
            return shown(self.clear_marks(own(name, request)))

        def on_undo(name, chat, request: gr.Request):
            return shown(self.undo(own(name, request), chat))

        def on_redo(name, chat, request: gr.Request):
            return shown(self.redo(own(name, request), chat))

        app.load(on_load, [c["session"]], outputs)
        c["upload"].upload(on_upload, [c["upload"], c["session"], c["chat"]], outputs)
        c["picture"].select(on_click, [c["mode"], c["marks"], c["session"], c["chat"]], outputs)
        c["text"].submit(on_send, [c["text"], c["marks"], c["brush"], c["session"], c["chat"]], outputs)
        c["clear"].click(on_clear, [c["session"]], outputs)
        c["undo"].click(on_undo, [c["session"], c["chat"]], outputs)
        c["redo"].click(on_redo, [c["session"], c["chat"]], outputs)
        c["versions"].select(on_pick, [c["session"], c["chat"]], outputs)
        c["new"].click(lambda: shown(self.new_session()), None, outputs)


def _working(transcript: Transcript) -> dict:
    return {"role": "assistant", "content": transcript.text(), "metadata": {"title": "Working", "status": "pending"}}


def _worked(transcript: Transcript, status: str, seconds: float) -> dict:
    title = "Plan and steps"
    return {
        "role": "assistant",
        "content": transcript.text(),
        "metadata": {"title": title, "status": status, "duration": round(seconds, 1)},
    }


def _where(marks: Marks, mask: Any) -> str:
    """Gives back how the chat says where the user pointed ("" when nowhere)."""
    if mask is not None:
        return " *(in the painted region)*"
    parts = []
    if marks.points:
        parts.append(", ".join(f"({x}, {y})" for x, y in marks.points))
    if marks.box is not None:
        parts.append("box [" + ", ".join(str(v) for v in marks.box) + "]")
    return f" *(at {' and '.join(parts)})*" if parts else ""


def ui_error(exc: Exception) -> gr.Error:
    """Gives back the error the UI shows for a failed action: what went wrong and what to do, never a traceback."""
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, TooLargeError):
        return gr.Error(str(exc), title="Picture too large", print_exception=False)
    if isinstance(exc, InputError):
        return gr.Error(str(exc), title="Cannot do that", print_exception=False)
    if isinstance(exc, SessionBusyError):
        return gr.Error(str(exc), title="Session busy", print_exception=False)
    if isinstance(exc, (ModelUnavailableError, DatabaseUnavailableError)):
        return gr.Error(str(exc), title="Unavailable", print_exception=False)
    logger.error("the web UI's action failed", exc_info=exc)
    return gr.Error("chatedit hit an internal error; the terminal that runs `chatedit ui` shows it.", title="Error")


def settings_markdown(editor: Editor, settings: ServerSettings) -> str:
    """Gives back what runs, as a Markdown table: family, weights, finder, planner, quantization, limits."""
    models = editor.toolbox.models
    report = models.report()
    weights = report["weights"]
    if weights in ("tiny", "random"):
        weights += " (random stand-ins: pictures come out as noise)"
    rows = [
        ("family", report["family"]),
        ("weights", weights),
        ("finder", report["finder"]),
        ("planner", _planner(editor)),
        ("quantization", report.get("quantize") or "none"),
        ("device", f"{models.device} ({str(models.dtype).removeprefix('torch.')})"),
        *((role, f"`{checkpoint}`") for role, checkpoint in report["roles"].items()),
        ("sessions", f"`{editor.database.where}`"),
        (
            "uploads",
            f"up to {settings.max_image_bytes / 1024 / 1024:g} MB and {settings.max_pixels / 1_000_000:g} MP",
        ),
    ]
    return "| setting | value |\n|---|---|\n" + "\n".join(f"| {name} | {value} |" for name, value in rows)


def _planner(editor: Editor) -> str:
    """Gives back which planner plans: the rules, or the LLM (in-process or at its server), as the CLI says it."""
    from chatedit.agent.brain import llm_line

    if editor.llm is None:
        return "rules (no LLM)" if editor.config.planner != "rules" else "rules"
    return llm_line(editor.llm).removeprefix("Planner: ")
