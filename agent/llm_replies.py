"""What a model's plan or verdicts must be to be used: the schema's types, and more than the schema says.

A plan is refused (and asked for again once) when a step has an unknown category or no target where
one is needed, when it has neither steps nor a message, when two steps are the same edit, or when its
words are the schema's own descriptions of the fields (a weak model copies them in). Boxes come back
in pixels of the full picture.
"""

from __future__ import annotations

import math
import re
from typing import Optional

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic.dataclasses import dataclass as schema_dataclass

from chatedit.agent.llm_ask import Unusable
from chatedit.agent.plan import CATEGORIES, Plan


@schema_dataclass
class Verdict:
    """The judgement of one step of the plan."""

    step: int = Field(description="The step's number in the plan, from 1.")
    passed: bool = Field(description="True when the after image carries out the step well.")
    reason: str = Field(description="One sentence: what you see that makes the step pass or fail.")
    new_prompt: Optional[str] = Field(
        default=None,
        description="When failing: a better prompt for the generator for the next attempt, with the same "
        "meaning as the step's prompt field. Null when passing.",
    )

    @field_validator("new_prompt", mode="before")
    @classmethod
    def _blank_is_none(cls, value):
        if isinstance(value, str) and not value.strip():
            return None
        return value


class Verdicts(BaseModel):
    """Pass or fail for each judged step of the plan, with reasons."""

    verdicts: list[Verdict] = Field(description="One verdict per judged step.")


def plan_from(args: dict, shown: Optional[tuple[int, int]], image_size: Optional[tuple[int, int]]) -> Plan:
    """Gives back the validated Plan in `args`, boxes mapped to `image_size`, or raises Unusable.

    `shown` is the size of the picture the model saw; None when it saw none (its boxes are dropped).
    """
    args = dict(args)
    steps = args.get("steps") or []
    if not isinstance(steps, list):
        raise Unusable("steps must be a list of step objects.")
    args["steps"] = [dict(step) if isinstance(step, dict) else step for step in steps]
    for number, step in enumerate(args["steps"], 1):
        if isinstance(step, dict) and isinstance(step.get("category"), str):
            step["category"] = step["category"].strip().lower()
            if step["category"] not in CATEGORIES:
                raise Unusable(
                    f"step {number} has the unknown category {step['category']!r}; use one of {', '.join(CATEGORIES)}."
                )
    try:
        plan = Plan.model_validate(args)
    except ValidationError as exc:
        raise Unusable(f"the plan does not follow the tool's schema ({_errors(exc)}).") from None
    if not plan.steps and not (plan.message and plan.message.strip()):
        raise Unusable(
            "the plan has neither steps nor a message; give the edit steps, or a message that answers or asks."
        )
    _check_words(plan)
    for number, step in enumerate(plan.steps, 1):
        if step.category in ("remove", "replace", "local", "move") and not step.target:
            raise Unusable(f"step {number} ({step.category}) has no target; name the object to find.")
        if step.box is not None:
            step.box = _fit_box(step.box, shown, image_size) if shown and image_size else None
    return plan


ECHO_LENGTH = 20
"""Characters of a field's text from which, when it is part of a schema description, it is a copy of one."""


def _descriptions(schema: dict) -> list[str]:
    """Gives back every description in a JSON schema, lowercased, spaces evened, without its quoted examples.

    The examples ('second cup from the right') may well be a right answer; the words around them never are.
    """
    found: list[str] = []
    for key, value in schema.items():
        if key == "description" and isinstance(value, str):
            prose = re.sub(r"'[^']*'|\([^)]*\)", " ", value.lower())
            found.append(" ".join(prose.split()))
        elif isinstance(value, dict):
            found.extend(_descriptions(value))
    return found


_PLAN_DESCRIPTIONS = _descriptions(Plan.model_json_schema())


def _check_words(plan: Plan) -> None:
    """Raises Unusable when the plan's words are the schema's own descriptions, or two steps are the same edit."""
    fields = [("message", plan.message)]
    for number, step in enumerate(plan.steps, 1):
        fields += [(f"step {number}'s {name}", getattr(step, name)) for name in ("target", "prompt", "anchor")]
    for where, text in fields:
        said = " ".join((text or "").lower().split())
        if len(said) >= ECHO_LENGTH and any(said in description for description in _PLAN_DESCRIPTIONS):
            raise Unusable(
                f"{where} copies the schema's description of a field; write the words of this edit "
                "(the object's name, what to paint) instead."
            )
    seen: dict[tuple, int] = {}
    for number, step in enumerate(plan.steps, 1):
        edit = (step.category, step.target, step.prompt)
        if edit in seen:
            raise Unusable(f"steps {seen[edit]} and {number} are the same edit; give each edit once.")
        seen[edit] = number


def _fit_box(box: list[float], shown: tuple[int, int], image_size: tuple[int, int]) -> Optional[list[float]]:
    """Gives back `box` in pixels of `image_size`, clamped to the image; None when nothing of it is inside.

    The model gives pixels of the picture it was shown (`shown`), or 0-1 fractions, which the Step
    schema also allows.
    """
    if not all(math.isfinite(v) for v in box):
        return None
    width, height = image_size
    scale_x: float
    scale_y: float
    if all(0 <= v <= 1 for v in box):
        scale_x, scale_y = width, height
    else:
        scale_x, scale_y = width / shown[0], height / shown[1]
    x0, x1 = sorted((box[0] * scale_x, box[2] * scale_x))
    y0, y1 = sorted((box[1] * scale_y, box[3] * scale_y))
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return None
    return [math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)]


def verdicts_from(args: dict, steps: list[int]) -> list[Verdict]:
    """Gives back one Verdict per step in `steps`, sorted, or raises Unusable."""
    try:
        verdicts = Verdicts.model_validate(args).verdicts
    except ValidationError as exc:
        raise Unusable(f"the verdicts do not follow the tool's schema ({_errors(exc)}).") from None
    kept = {v.step: v for v in verdicts if v.step in steps}
    missing = [step for step in steps if step not in kept]
    if missing:
        listed = ", ".join(map(str, missing))
        raise Unusable(f"there is no verdict for step(s) {listed}; give one verdict per judged step.")
    return [kept[step] for step in steps]


def _errors(exc: ValidationError) -> str:
    """Gives back pydantic's errors as one short line: where, and what is wrong."""
    parts = [".".join(map(str, e["loc"])) + ": " + e["msg"] for e in exc.errors()[:3]]
    return "; ".join(parts)
