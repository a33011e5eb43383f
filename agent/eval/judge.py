"""A VLM's scores of an edit, VIEScore-style, as GEdit-Bench gives them.

Semantic consistency (SC) and perceptual quality (PQ) are each the smaller of two 0-10 sub-scores
(prompts/eval_sc.txt: editing success and over-editing, seeing the picture before and after and the
instruction; prompts/eval_pq.txt: naturalness and artifacts, seeing the picture after), and the
overall score is sqrt(SC * PQ). The judge is any chat model the project can talk to: an
OpenAI-compatible server (`--judge URL`, the model named by CHATEDIT_LLM_MODEL), an in-process
transformers VLM (`--judge local:ID`), or the family's own encoder (`--judge editor`). It is asked
through agent/llm_ask.py, as plans and verdicts are: a tool call, else JSON, retried when unusable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from PIL import Image
from pydantic import BaseModel, Field, ValidationError

from chatedit import prompts
from chatedit.agent.llm import image_part
from chatedit.agent.llm_ask import Unusable, ask_for
from chatedit.tools.errors import InputError


class SemanticConsistency(BaseModel):
    """How well the edit did what was asked, and kept the rest."""

    editing_success: int = Field(ge=0, le=10, description="0: the asked change is absent; 10: exactly as asked.")
    over_editing: int = Field(ge=0, le=10, description="0: a different picture; 10: only the asked part changed.")
    reasoning: str = Field(description="One or two sentences on what decides the scores.")


class PerceptualQuality(BaseModel):
    """How natural and clean the edited picture looks."""

    naturalness: int = Field(ge=0, le=10, description="0: unnatural throughout; 10: looks real or coherent.")
    artifacts: int = Field(ge=0, le=10, description="0: heavy artifacts; 10: none visible.")
    reasoning: str = Field(description="One or two sentences on what decides the scores.")


def _parser(schema: type[BaseModel]):
    def parse(args: dict) -> BaseModel:
        try:
            return schema.model_validate(args)
        except ValidationError as exc:
            problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise Unusable(f"The scores must be whole numbers from 0 to 10 ({problem}).") from exc

    return parse


@dataclass
class Judge:
    """Scores edits with a chat model that sees pictures."""

    llm: BaseChatModel

    def score(self, before: Image.Image, after: Image.Image, instruction: str) -> dict[str, Any]:
        """Gives back {sc, pq, overall, the sub-scores, reasoning, calls}; an `error` and no scores when it failed."""
        asked = [{"type": "text", "text": f"Editing instruction: {instruction}"}]
        sc_content = [*asked, {"type": "text", "text": "Before:"}, image_part(before)]
        sc_content += [{"type": "text", "text": "After:"}, image_part(after)]
        sc = ask_for(
            self.llm,
            [SystemMessage(prompts.load("eval_sc")), HumanMessage(sc_content)],
            SemanticConsistency,
            _parser(SemanticConsistency),
        )
        pq = ask_for(
            self.llm,
            [SystemMessage(prompts.load("eval_pq")), HumanMessage([image_part(after)])],
            PerceptualQuality,
            _parser(PerceptualQuality),
        )
        result: dict[str, Any] = {"calls": sc.calls + pq.calls}
        if sc.value is None or pq.value is None:
            return {**result, "error": sc.error or pq.error}
        semantic = min(sc.value.editing_success, sc.value.over_editing)
        quality = min(pq.value.naturalness, pq.value.artifacts)
        return {
            **result,
            "sc": semantic,
            "pq": quality,
            "overall": round(math.sqrt(semantic * quality), 3),
            "editing_success": sc.value.editing_success,
            "over_editing": sc.value.over_editing,
            "naturalness": pq.value.naturalness,
            "artifacts": pq.value.artifacts,
            "sc_reasoning": sc.value.reasoning,
            "pq_reasoning": pq.value.reasoning,
        }


def judge_choice(spec: str) -> str:
    """Gives back `spec` when it names a judge (an http(s) URL, `local:ID`, `editor` or `server`), else raises InputError."""
    if spec.startswith(("http://", "https://")) or (spec.startswith("local:") and len(spec) > 6):
        return spec
    if spec in ("editor", "server"):
        return spec
    raise InputError(
        f"Unknown judge {spec!r}: give an OpenAI-compatible server's URL (http://host:8000/v1), "
        "local:MODEL for an in-process transformers VLM, editor, or server (CHATEDIT_LLM_BASE_URL)."
    )


def make_judge(spec: Optional[str], config: Any, models: Any) -> Optional[Judge]:
    """Gives back the Judge `spec` names, made as the planner's LLM would be (agent/brain.py); None: no judge."""
    if spec is None:
        return None
    from chatedit.agent.brain import planner_llm

    chosen = config.model_copy(update={"llm": judge_choice(spec), "planner": "llm"})
    llm = planner_llm(chosen, models)
    assert llm is not None  # planner "llm" raises rather than give back no model
    return Judge(llm)
