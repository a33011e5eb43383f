"""`chatedit chat`: one instruction or slash command per line, with undo, history, save and open."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer
from rich.console import Console
from rich.markup import escape

from chatedit.agent.cli import common, support
from chatedit.agent.cli.common import (
    AttemptsOption,
    DatabaseOption,
    DataDirOption,
    DeviceOption,
    FinderOption,
    LLMOption,
    ModelsOption,
    OffloadOption,
    PlannerOption,
    QuantizeOption,
    SeedOption,
    WeightsOption,
    settings_of,
)
from chatedit.agent.cli.progress import ProgressView
from chatedit.agent.cli.support import exit_codes, print_error, save_image, say, stderr
from chatedit.tools.errors import InputError


def register(app: typer.Typer) -> None:
    app.command(cls=support.Command)(chat)


def chat(
    image: Annotated[
        Optional[Path], typer.Argument(help="A picture to start with (or /open one later).", show_default=False)
    ] = None,
    session_id: Annotated[
        Optional[str], typer.Option("--session", help="Resume this session (its id is printed when it starts).")
    ] = None,
    planner: PlannerOption = None,
    llm: LLMOption = None,
    models: ModelsOption = None,
    weights: WeightsOption = None,
    device: DeviceOption = None,
    finder: FinderOption = None,
    quantize: QuantizeOption = None,
    offload: OffloadOption = None,
    data_dir: DataDirOption = None,
    seed: SeedOption = None,
    max_attempts: AttemptsOption = None,
    database: DatabaseOption = None,
) -> None:
    """Chat with the editor in the terminal: one instruction per line, with undo and history.

    Reads lines from stdin, so it also works with a pipe:
    `printf 'make it sunset\\n/undo\\n' | chatedit chat photo.jpg`.
    Commands: /undo, /redo, /history, /save PATH, /open PATH, /quit (quit and exit work without the
    slash too). Every version stays in the session; /save PATH writes the current one.
    """
    with exit_codes():
        editor = common.make_editor(
            settings_of(
                models=models,
                weights=weights,
                planner=planner,
                llm=llm,
                device=device,
                finder=finder,
                quantize=quantize,
                offload=offload,
                data_dir=data_dir,
                max_attempts=max_attempts,
                seed=seed,
                database_url=database,
            )
        )
        session = editor.session(session_id)
        started = "Resumed" if session_id else "Started"
        stderr.print(f"{started} session [bold]{session.id}[/] (resume with --session {session.id}). {CHAT_HELP}")
        if image is not None:
            open_image(session, image)
        for line in read_lines(stderr):
            if not line:
                continue
            if is_quit(line):
                break
            if line.startswith("/"):
                verb, _, argument = line[1:].partition(" ")
                chat_command(session, verb, argument.strip())
                continue
            chat_turn(session, line)


def read_lines(console: Console) -> Iterator[str]:
    """Gives back stdin's lines one at a time, with a prompt only when a person is typing."""
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            console.print("[bold]you>[/] ", end="")
        line = sys.stdin.readline()
        if not line:
            if interactive:
                console.print()  # Ctrl-D: end the prompt's line before the shell's comes back
            return
        yield line.strip()


CHAT_HELP = (
    "Commands: /undo, /redo, /history, /save PATH, /open PATH, /quit (or quit, exit, Ctrl-D). "
    "Anything else is sent to the editor."
)
QUIT_WORDS = frozenset({"quit", "exit", "bye"})
"""Words that end the chat when typed alone (with or without a slash), never sent to the editor."""


def is_quit(line: str) -> bool:
    """Gives back whether the line asks to leave the chat: /quit, /exit, /q, or quit, exit, bye alone."""
    word = line.strip().lower().rstrip(".!")
    return word.lstrip("/") in QUIT_WORDS or word == "/q"


def chat_turn(session, text: str) -> None:
    """Sends one line to the editor with a live view, and prints its answer and the version it made current."""
    before = current_index(session)
    try:
        with ProgressView() as view:
            turn = session.send(text, on_event=view)
    except Exception as exc:  # one failed turn must not end the conversation
        print_error(exc)
        return
    say(turn.message)
    version = turn.report.get("version")
    if version is None or version == before:
        return
    if turn.report.get("command"):
        # "undo" or "redo" typed as words: the session moved to an existing version, it saved none.
        say(f"Now at version {version}. /save PATH writes it.")
    else:
        say(f"Saved version {version}. /save PATH writes it.")


def current_version(session):
    """Gives back the session's current version (None before the first picture)."""
    return next((v for v in session.history() if v.current), None)


def current_index(session) -> Optional[int]:
    """Gives back the index of the session's current version (None before the first picture)."""
    current = current_version(session)
    return current.index if current is not None else None


def open_image(session, path: Path) -> None:
    """Loads the picture at `path` into the session as a new version, or says why not."""
    from chatedit.tools.images import load_image

    try:
        image = load_image(path, max_side=session.editor.max_side)
        session.send("", image=image)
    except InputError as exc:
        print_error(exc)
        return
    current = current_version(session)
    say(f"Opened {path} ({image.width}x{image.height}) as version {current.index}.")


def chat_command(session, verb: str, argument: str) -> None:
    """Runs one slash command of `chatedit chat`."""
    if verb in ("undo", "redo"):
        before = current_index(session)
        session.undo() if verb == "undo" else session.redo()
        now = current_version(session)
        if now is None or now.index == before:
            say(f"Nothing to {verb}.")
        else:
            say(f"Now at version {now.index} ({now.instruction or 'the picture as opened'}).")
    elif verb == "history":
        versions = session.history()
        if not versions:
            say("No image yet: /open PATH first.")
        for v in versions:
            marker = "*" if v.current else " "
            say(f"{marker} {v.index}. {v.instruction or '(opened)'}")
    elif verb == "save":
        if not argument:
            stderr.print("Usage: /save PATH (.png, .jpg or .webp)")
        elif session.image is None:
            stderr.print("No image yet: /open PATH first.")
        else:
            try:
                say(f"Saved {save_image(session.image, Path(argument).expanduser())}")
            except InputError as exc:
                print_error(exc)
    elif verb == "open":
        if argument:
            open_image(session, Path(argument).expanduser())
        else:
            stderr.print("Usage: /open PATH")
    else:
        stderr.print(f"Unknown command /{escape(verb)}. {CHAT_HELP}")
