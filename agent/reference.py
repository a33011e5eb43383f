"""What a phrase naming one object among several says: the noun a detector is asked for and the qualifiers.

agent/refer.py reads phrases into these records; agent/choose.py picks among detections by them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Order:
    """A count along a row: "the second from the right" is Order(2, "right")."""

    position: int
    """1 for the first; a negative number counts from the far end (-1: the last, -2: the one before it)."""
    side: Optional[str] = None
    """The side counted from (a key of agent/words/refer.toml's [places]); None: the way the row reads."""


@dataclass(frozen=True)
class Relation:
    """Where the object is relative to another one: "the cup next to the laptop" is Relation("next to", "laptop")."""

    kind: str
    """A key of agent/words/refer.toml's [relations]: "next to", "left of", "behind", "holding", ..."""
    other: str
    """The other object's noun, what the detector is asked for to find it."""


@dataclass(frozen=True)
class Reference:
    """What a phrase naming an object asks the detector for, and the qualifiers that pick among what it finds."""

    noun: str
    """What the detector is asked for: "cup" in "the second cup from the right" ("" when only qualifiers were said)."""
    places: tuple[str, ...] = ()
    """Sides of the picture: ("top", "left") for "the chair at the top left"; "front" is the nearest."""
    order: Optional[Order] = None
    """A count along a row: "the third from the left", "the last one"."""
    size: Optional[str] = None
    """The most of a measure: "biggest", "smallest", "tallest", "shortest", "widest", "narrowest", "nearest", "farthest"."""
    colour: Optional[str] = None
    """A colour name of tools/colours.toml: "red" for "the woman in red", "the red car"."""
    worn: Optional[str] = None
    """Where the colour is worn on a person (a key of BANDS: "upper" for a shirt); None: the whole object."""
    relation: Optional[Relation] = None
    """Where it is relative to another object."""
    every: bool = False
    """Every instance is meant: "all the cups", "both dogs", "the red cars"."""
    count: Optional[int] = None
    """How many are meant: 2 for "the two cups on the left"."""

    @property
    def qualified(self) -> bool:
        """Whether anything besides the noun picks among the instances."""
        return bool(self.places or self.order or self.size or self.colour or self.relation or self.count)

    @property
    def phrases(self) -> list[str]:
        """Gives back what the detector is asked for: the noun, and the relation's other object."""
        names = [self.noun]
        if self.relation and self.relation.other != self.noun:
            names.append(self.relation.other)
        return names
