"""A turn's events as the web UI's chat shows them while it runs: the plan, each step, the denoising, the checks.

The same events as the CLI's progress view (agent/cli_progress.py), named and counted the same way
(agent/events.py), written as Markdown lines.
"""

from __future__ import annotations

from typing import Optional

from chatedit.agent.events import StepTracker

BAR_CELLS = 12


class Transcript:
    """Collects a turn's events; `text()` is what the chat shows of them so far."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.steps = StepTracker()
        self.denoising: Optional[str] = None
        """The denoising bar of the step being edited; it goes when the next event comes."""
        self.regions: list[str] = []
        """Store ids of the masks the steps were located at, in order."""

    def add(self, event: dict) -> None:
        """Takes one event of `Session.send(on_event=...)`."""
        kind = event.get("event")
        if kind == "progress":
            done, total = event["step"], max(event["total"], 1)
            filled = round(BAR_CELLS * done / total)
            self.denoising = f"  denoising `{'▰' * filled}{'▱' * (BAR_CELLS - filled)}` {done}/{total}"
            return
        self.denoising = None
        if kind == "located" and event.get("mask"):
            self.regions.append(event["mask"])
        self.lines += self.describe(event)

    def describe(self, event: dict) -> list[str]:
        """Gives back the Markdown lines of one event (none for events the chat does not show)."""
        kind = event.get("event")
        if kind == "plan":
            steps = self.steps.plan(event)
            head = f"**Plan** ({event.get('planner')}): {len(steps)} step{'s' * (len(steps) != 1)}"
            return [head] + [f"{i}. {self.steps.names[i]} *({s['category']})*" for i, s in enumerate(steps, 1)]
        if kind == "step":
            name, again = self.steps.step(event)
            return [f"**Step {event['index']}/{event['total']}{again}**: {name}"]
        if kind == "located":
            box = event.get("box")
            return ["  located: " + ("[" + ", ".join(str(round(v)) for v in box) + "]" if box else "the whole picture")]
        if kind == "not_found":
            return [f"  not found: {event.get('target')}"]
        if kind == "checked":
            return [f"  check: {_outcome(event)}"]
        if kind == "verdict":
            return [f"  step {event['index']} verdict: {_outcome(event)}"]
        return []

    def text(self) -> str:
        """Gives back the lines so far, the denoising bar last."""
        return "\n".join(self.lines + ([self.denoising] if self.denoising else [])) or "Starting…"


def _outcome(event: dict) -> str:
    return ("passed" if event["passed"] else "failed") + (f" ({event['reason']})" if event.get("reason") else "")
