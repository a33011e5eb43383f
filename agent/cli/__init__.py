"""The `chatedit` command: edit a picture, chat about it, print plans, fetch models, serve the API.

    chatedit edit photo.jpg "remove the cup and make it sunset" -o out.png
    chatedit chat photo.jpg
    chatedit plan "make the car red" ; chatedit plan --input instructions.jsonl
    chatedit models list ; chatedit models download
    chatedit serve --port 8000
    chatedit ui

Progress goes to stderr, results to stdout, so `--json` output can be piped. Exit codes: 0 an image
was written (even when a step failed: the report says so), 2 bad input or usage, 1 internal error.
Heavy imports (torch, diffusers) happen inside the commands that need them, so `--help` and
`chatedit plan` start fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from chatedit.agent.cli import bench, chat, edit, models, plan, serve, support
from chatedit.agent.eval import command as eval_command

COMMAND_GROUPS = [edit, chat, plan, serve, bench, models, eval_command]
"""The modules whose `register(app)` adds their commands, in the order `--help` lists them."""

app = typer.Typer(
    name="chatedit",
    help="A chat agent that edits images: say what to change, get the edited picture back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


@app.callback()
def main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show tracebacks of internal errors (or set CHATEDIT_DEBUG=1).")
    ] = False,
) -> None:
    """A chat agent that edits images: say what to change, get the edited picture back."""
    from chatedit.agent.config import Settings

    support.verbose = verbose or Settings().debug


for group in COMMAND_GROUPS:
    group.register(app)
