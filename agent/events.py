"""What the CLI's progress view and the server's streamed lines share when they show a turn's events.

The graph emits events (plan, step, located, not_found, question, progress, checked, verdict, done)
through LangGraph's custom stream; each interface renders them in its own style, but names the steps
and counts the tries the same way.
"""

from __future__ import annotations


def step_name(step: dict) -> str:
    """Gives back how a plan step is named to the user: its instruction, else category and target."""
    return step.get("instruction") or f"{step['category']} {step.get('target') or step.get('prompt', '')}".strip()


class StepTracker:
    """Remembers the plan's step names and counts each step's tries as events arrive."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.tries: dict[int, int] = {}

    def plan(self, event: dict) -> list[dict]:
        """Records the step names of a `plan` event and gives back its steps."""
        steps = event["plan"].get("steps") or []
        self.names = {i: step_name(step) for i, step in enumerate(steps, 1)}
        return steps

    def step(self, event: dict) -> tuple[str, str]:
        """Counts a `step` event and gives back the step's name and ", try N" from the second try on."""
        index = event["index"]
        self.tries[index] = self.tries.get(index, 0) + 1
        again = f", try {self.tries[index]}" if self.tries[index] > 1 else ""
        name = self.names.get(index) or f"{event['category']} {event.get('target') or ''}".rstrip()
        return name, again
