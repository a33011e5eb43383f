"""`python -m chatedit.agent.cli`: the `chatedit` command."""

from chatedit.agent.cli import app

app()
