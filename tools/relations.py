"""Relation words: where a new object goes ("next to", "on top of"), read from tools/relations.toml.

One data file serves the rules planner, which reads the wordings (`PHRASINGS`), and the placement,
which reads what a planner or an LLM names (`PLACEMENT`, `ALIASES`). No torch, no numpy: planning
reads it without loading the models.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

with open(Path(__file__).with_name("relations.toml"), "rb") as _handle:
    _WORDS = tomllib.load(_handle)

PHRASINGS: dict[str, list[str]] = _WORDS["phrasings"]
"""Each relation the rules planner names, and the wordings that mean it."""
PLACEMENT: tuple[str, ...] = tuple(_WORDS["placement"]["relations"])
"""The relations the placement knows (its canonical names)."""
ALIASES: dict[str, str] = _WORDS["placement"]["aliases"]
"""Other spellings of the placement's relations."""
