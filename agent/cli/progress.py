"""The CLI's live view of a turn on stderr: the plan, each step, a denoising bar, the checks."""

from __future__ import annotations

import contextlib
from typing import Optional

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from chatedit.agent.cli.support import stderr
from chatedit.agent.events import StepTracker


class ProgressView:
    """Shows a turn's events on stderr as they happen: the plan, each step, a denoising bar, the checks.

    While it shows them, the libraries underneath load models without bars of their own
    (`tools.loading.quiet_loading`): the terminal carries chatedit's progress only.
    """

    def __init__(self, console: Console = stderr):
        self.console = console
        self.bar = Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = None
        self.steps = StepTracker()
        self.quiet = contextlib.ExitStack()

    def __enter__(self) -> "ProgressView":
        from chatedit.tools.loading import quiet_loading

        self.quiet.enter_context(quiet_loading())
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self._end_bar()
        self.bar.stop()
        self.quiet.close()

    def _end_bar(self) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
            self.task = None

    def __call__(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "progress":
            if self.task is None or event["step"] <= 1:
                self._end_bar()
                self.task = self.bar.add_task(f"step {event['index']} denoising", total=event["total"])
            self.bar.update(self.task, completed=event["step"], total=event["total"])
            return
        self._end_bar()
        line = self.describe(event)
        if line:
            self.console.print(line)

    def describe(self, event: dict) -> Optional[str]:
        """Gives back the rich-markup line for one event (None: nothing to show)."""
        kind = event.get("event")
        if kind == "plan":
            steps = self.steps.plan(event)
            lines = [f"[bold]Plan[/] ({escape(str(event.get('planner')))}): {len(steps)} step{'s' * (len(steps) != 1)}"]
            lines += [
                f"  {i}. {escape(self.steps.names[i])} [dim]({step['category']})[/]" for i, step in enumerate(steps, 1)
            ]
            return "\n".join(lines)
        if kind == "step":
            name, again = self.steps.step(event)
            return f"[bold]Step {event['index']}/{event['total']}{again}[/]: {escape(name)}"
        if kind == "located":
            box = event.get("box")
            where = "[" + ", ".join(str(round(v)) for v in box) + "]" if box else "the whole picture"
            return f"  located: {where}"
        if kind == "not_found":
            return f"  [yellow]not found:[/] {escape(str(event.get('target')))}"
        if kind == "question":
            return f"[yellow]Question:[/] {escape(event['text'])}"
        if kind == "checked":
            return f"  check: {_outcome(event)}"
        if kind == "verdict":
            return f"  step {event['index']} verdict: {_outcome(event)}"
        return None


def _outcome(event: dict) -> str:
    """Gives back "passed" or "failed" of a check or verdict event, with its reason when it has one."""
    verdict = "[green]passed[/]" if event["passed"] else "[red]failed[/]"
    return verdict + (f" ({escape(event['reason'])})" if event.get("reason") else "")
