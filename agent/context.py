"""What the graph's nodes work with besides the state: the tools, the image store, the LLM, settings.

LangGraph hands it to every node as `runtime.context` (`graph.invoke(..., context=Context(...))`), so
the nodes are plain module-level functions, and a test or a deployment swaps a part by passing another.
It lives for one run and is never checkpointed: the state keeps ids, the context keeps the things.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from chatedit.agent.store import ImageStore
from chatedit.agent.toolbox import Toolbox


@dataclass(kw_only=True)
class Context:
    """The run's tools, picture store, LLM and settings."""

    toolbox: Toolbox
    """The tools bound to loaded models (detector, segmenter, editors) and their generation settings.
    Used by `locate`, `edit` and `verify`."""

    images: ImageStore
    """The image store every picture and mask id in the state refers to. Used by every node that
    reads or writes pixels."""

    llm: Optional[Any] = None
    """A LangChain chat model that plans, judges and answers questions about the picture; None: the
    rules planner and the model checks alone. Used by `plan`, `judge` and `answer`."""

    max_attempts: int = 3
    """Tries per step before the best failed one is kept. Read by `judge`."""

    seed: int = 0
    """Base seed of every generation; each retry of a step moves it. Read by `edit`."""

    max_steps: int = 8
    """Most edit steps one message may ask for; a plan with more edits nothing. Read by `plan`."""

    @classmethod
    def of(cls, settings: Any, *, toolbox: Toolbox, images: ImageStore, llm: Optional[Any]) -> "Context":
        """Gives back the context of runs with these parts and the run settings (`max_attempts`, `seed`, `max_steps`) of `settings`.

        `settings` is the editor's `Settings` or the LangGraph entry's run context: both name them alike.
        """
        return cls(
            toolbox=toolbox,
            images=images,
            llm=llm,
            max_attempts=settings.max_attempts,
            seed=settings.seed,
            max_steps=settings.max_steps,
        )
