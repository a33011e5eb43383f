"""Planning a turn: the VLM when one is configured, the rules parser otherwise or when it fails.

One LLM call per turn (plus bounded retries inside `agent.llm`). A malformed, refused or failed
answer falls back to the rules planner, and the turn report says why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Optional

from PIL import Image

from chatedit.agent.plan import Plan
from chatedit.agent.rules import plan_rules

PRONOUNS = {"it", "them", "that", "this", "those", "these", "one", "the other one", "the same"}


@dataclass
class Planned:
    plan: Plan
    planner: str
    """llm | rules"""
    calls: int
    note: Optional[str] = None
    """Why the rules planner was used when an LLM was asked for."""
    mode: Optional[str] = None
    """How the LLM was asked: "tools" (a Plan tool call), "json" (a model that cannot call tools) or
    "local" (an in-process model, decoding constrained to the Plan schema)."""
    tokens: int = 0
    """Tokens the LLM generated for the plan (0 for the rules, or when a server does not say)."""
    seconds: float = 0.0
    """Seconds the LLM took, retries included (0 for the rules)."""


def resolve_references(plan: Plan, previous_targets: list[str]) -> Plan:
    """Gives back the plan with "it"/"them" targets replaced by what the previous turn acted on."""
    if not previous_targets:
        return plan
    steps = []
    for step in plan.steps:
        if step.target and step.target.lower().strip() in PRONOUNS:
            step = step.model_copy(update={"target": previous_targets[-1]})
        steps.append(step)
    return plan.model_copy(update={"steps": steps})


def make_plan(
    instruction: str,
    image: Optional[Image.Image],
    history: list[str],
    previous_targets: list[str],
    *,
    llm=None,
) -> Planned:
    """Gives back this turn's plan, from the LLM when given one, else (or on failure) from the rules.

    `image` is None for a model that plans from the words alone.
    """
    if llm is not None:
        from chatedit.agent.llm import plan_with_llm

        started = time.perf_counter()
        result = plan_with_llm(llm, image, instruction, history, image_size=image.size if image else None)
        seconds = round(time.perf_counter() - started, 3)
        if result.value is not None:
            plan = resolve_references(result.value, previous_targets)
            return Planned(plan, "llm", result.calls, mode=result.mode, tokens=result.tokens, seconds=seconds)
        plan = resolve_references(plan_rules(instruction), previous_targets)
        note = f"LLM planner failed ({result.error}); used the rules planner"
        return Planned(plan, "rules", result.calls, note, mode=result.mode, tokens=result.tokens, seconds=seconds)
    return Planned(resolve_references(plan_rules(instruction), previous_targets), "rules", 0)
