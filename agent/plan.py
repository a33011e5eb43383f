"""The Plan: the contract between the agent and whoever plans a turn (the VLM or the rules parser).

`chatedit plan` prints it; the LLM planner receives its JSON schema as a tool; the rules planner
builds it from the instruction alone. Both planners return this one type.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, Field, field_validator

from chatedit.tools.errors import InputError

Category = Literal["remove", "replace", "local", "add", "background", "global", "text", "move", "count", "pose"]
CATEGORIES: tuple[str, ...] = (
    "remove",
    "replace",
    "local",
    "add",
    "background",
    "global",
    "text",
    "move",
    "count",
    "pose",
)
MAX_INSTRUCTION = 4000
"""Characters of instruction kept; longer text is refused (no planner needs more)."""
INSTRUCTION_CATEGORIES: frozenset[str] = frozenset({"text", "move", "count", "pose"})
"""Kinds of edit no mask-and-inpaint step can do well: they go to an instruction-following editor."""


class Step(BaseModel):
    """One edit: what kind, on what, and what the generator should paint."""

    category: Category = Field(
        description="remove | replace (object becomes another object) | local (colour, material or "
        "attribute of an object) | add | background | global (style, season, time of day, weather, lighting) "
        "| text (writing on a sign, shirt, cake...) | move (an object to another place) | count (how many of "
        "an object) | pose (a person's or animal's posture, gesture or expression)"
    )
    target: Optional[str] = Field(
        default=None,
        description="The object to find, as a noun phrase without articles, with the words that pick it "
        "among others of its kind ('the red car' -> 'red car', 'second cup from the right', 'woman in red'). "
        "For background: the subject to keep (null: the main subject). Null for add and global.",
    )
    prompt: str = Field(
        description="What the generator paints. remove: what is behind the object (a neutral scene); "
        "replace: the new object; local: the object as it should look ('a red car'); add: the new "
        "object; background: the new background; global, text, move, count, pose: the edit instruction itself."
    )
    instruction: str = Field(description="The part of the user's instruction this step carries out.")
    anchor: Optional[str] = Field(default=None, description="add only: the object the new one is placed relative to.")
    relation: Optional[str] = Field(
        default=None,
        description="add only: on, next to, left of, right of, above, below, in front of, behind, in the sky, on the ground.",
    )
    box: Optional[list[float]] = Field(
        default=None,
        min_length=4,
        max_length=4,
        description="[x0, y0, x1, y1] in pixels or 0-1 fractions of the image. add: where the new object goes. "
        "remove, replace, local, move: when the instruction singles out one of several objects ('the man on "
        "the left', 'the second cup'), the box around that one; else null.",
    )

    @field_validator("target", "anchor", "relation", mode="before")
    @classmethod
    def _blank_is_none(cls, value):
        if isinstance(value, str) and not value.strip():
            return None
        return value


class Plan(BaseModel):
    """The steps of one turn, in order; or, for a turn with no edit, the answer in `message`."""

    steps: list[Step] = Field(default_factory=list, description="Edits in the order to apply them.")
    message: Optional[str] = Field(
        default=None,
        description="For turns with no edit: the answer to a question, or a question back when the "
        "instruction is ambiguous. Otherwise null.",
    )


def instruction_text(text: Optional[str]) -> str:
    """Gives back the instruction stripped, or raises InputError when it is longer than MAX_INSTRUCTION."""
    text = (text or "").strip()
    if len(text) > MAX_INSTRUCTION:
        raise InputError(f"The instruction is {len(text)} characters; keep it under {MAX_INSTRUCTION}.")
    return text
