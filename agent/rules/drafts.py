"""Steps being built: a Step's fields plus what ties a step to the one before, and the simplest steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from chatedit.agent.plan import Category, Step
from chatedit.agent.rules.clauses import (
    target_of,
)
from chatedit.agent.rules.lexicon import (
    PERSON_PRONOUNS,
    described_as,
    indefinite,
    strip_determiners,
)


@dataclass
class Draft:
    """A step being built: a Step's fields, plus what ties it to the step before."""

    category: Category
    instruction: str
    target: Optional[str] = None
    prompt: Optional[str] = None
    look: Optional[str] = None
    """local: how the target should look, a template with {} for the target ("red {}")."""
    anchor: Optional[str] = None
    relation: Optional[str] = None
    in_place: bool = False
    """add: "... where it was", "instead": the new object goes where the previous step's object was."""

    def step(self) -> Step:
        # "him" and "her" with nothing before them in the turn: a person the detector can find.
        target = PERSON_PRONOUNS.get(self.target or "", self.target)
        anchor = PERSON_PRONOUNS.get(self.anchor or "", self.anchor)
        prompt = self.prompt
        if self.category == "local" and self.look:
            prompt = (
                described_as(target, self.look).strip()
                if target is not None and target not in ("it", "them")
                else self.look.format("").strip()
            )
        return Step(
            category=self.category,
            target=target,
            prompt=prompt or self.instruction,
            instruction=self.instruction,
            anchor=anchor if self.category == "add" else None,
            relation=self.relation if self.category == "add" else None,
        )


def global_step(instruction: str) -> list[Draft]:
    return [Draft("global", instruction)]


def local_step(instruction: str, target: str, look: str) -> list[Draft]:
    return [Draft("local", instruction, target=target_of(target), look=look)]


def background_step(instruction: str, new: str, keep: Optional[str] = None) -> list[Draft]:
    return [Draft("background", instruction, target=keep, prompt=strip_determiners(new, keep_numbers=True))]


def replace_step(instruction: str, old: str, new: str) -> list[Draft]:
    return [Draft("replace", instruction, target=target_of(old), prompt=indefinite(strip_determiners(new, True)))]
