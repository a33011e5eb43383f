"""Model families as objects: each family is one class behind the `Family` protocol (base.py).

A family owns its model roles (a `ModelSet`), how it edits each kind of step (`edit_step`), what it
cannot do (`cannot`), whether it draws from text (`can_generate`), its working sizes, steps and memory.
The graph asks the toolbox to edit a step, the toolbox asks its family, and nothing above this package
names a family. A new family, or a quantized variant of one, is one new module with a class registered
in `FAMILIES`.
"""

from __future__ import annotations

from chatedit.agent.config import EditSettings
from chatedit.agent.families.base import Family
from chatedit.agent.families.classic import Classic
from chatedit.agent.families.max import Max
from chatedit.agent.families.modern import Modern
from chatedit.tools.models import ModelSet

FAMILIES: dict[str, type[Family]] = {"classic": Classic, "modern": Modern, "max": Max}
"""Every family by the name `--models` gives it."""

__all__ = ["FAMILIES", "Classic", "Family", "Max", "Modern", "family_of"]


def family_of(models: ModelSet, settings: EditSettings) -> Family:
    """Gives back the family object for a ModelSet (its `family` names which) and the edit settings."""
    return FAMILIES[models.family](models, settings)
