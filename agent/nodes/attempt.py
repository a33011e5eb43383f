"""One attempt at a step and the verdict on it: `edit`, `verify`, `judge`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from langgraph.runtime import Runtime
from PIL import Image

from chatedit.agent.context import Context
from chatedit.agent.nodes.common import compose, current_picture, emit, progress, timed
from chatedit.agent.plan import Plan
from chatedit.agent.state import ChatState
from chatedit.agent.verifier import check_attempt
from chatedit.tools import blend
from chatedit.tools.inpaint import EditResult

if TYPE_CHECKING:
    from chatedit.agent.llm import LLMResult


# ---- edit and verify -----------------------------------------------------------------------------


def _kept_inside(image: Image.Image, result: EditResult, drawn: np.ndarray) -> EditResult:
    """Gives back the attempt with every pixel outside the user's drawn mask the input's, bit for bit.

    A drawn mask is a hard boundary: editors grow and feather their paste masks outward, so the result is
    pasted again through the drawn mask, feathered inward only; the paste mask is what now changed.
    """
    kept, weight = blend.composite(image, result.image, drawn, inward=True)
    if result.mask is not None:
        weight = weight * result.mask
    return EditResult(image=kept, mask=weight, info=result.info)


def edit(state: ChatState, runtime: Runtime[Context]) -> dict:
    """Makes one attempt at the current step, changed from the earlier attempts."""
    context = runtime.context
    timings: dict[str, float] = {}
    index = state["current"]
    item = state["work"][index]
    tries = len(item["attempts"])
    base = compose(state, index, context.images)
    seed = context.seed + 1009 * tries
    prompt = item.get("new_prompt") or item["step"]["prompt"]
    region = context.images.get_mask(item["region"]) > 0.5 if item.get("region") else None
    drawn = context.images.get_mask(state["user_mask"]) > 0.5 if state.get("user_mask") else None
    started = time.perf_counter()
    stage, result = context.toolbox.edit_step(
        item["step"],
        context.images.get(base),
        region,
        prompt=prompt,
        tries=tries,
        seed=seed,
        drawn=drawn is not None,
        on_step=partial(progress, index + 1),
    )
    if drawn is not None:
        result = _kept_inside(context.images.get(base), result, drawn)
    timed(stage, timings, started)
    started = time.perf_counter()
    attempt = {
        "image": context.images.put(result.image),
        "mask": context.images.put_mask(result.mask) if result.mask is not None else None,
        "passed": False,
        "reason": "",
        "score": 0.0,
        "seed": seed,
        "prompt": prompt,
        "box": item.get("box"),
        # The tools retry once at a smaller working size after a GPU out-of-memory error; the report says so.
        "oom_retry": result.info.get("oom_retry") or False,
        # What this attempt changed from the first (the family's retry levers); empty on the first.
        "changed": list(result.info.get("changed") or []),
    }
    timed("store", timings, started)
    return {"work": {index: {"base": base, "attempts": [*item["attempts"], attempt]}}, "timings": timings}


def verify(state: ChatState, runtime: Runtime[Context]) -> dict:
    """Runs the model checks on the attempt just made."""
    images = runtime.context.images
    started = time.perf_counter()
    timings: dict[str, float] = {}
    index = state["current"]
    item = state["work"][index]
    attempt = dict(item["attempts"][-1])
    mask = images.get_mask(attempt["mask"]) if attempt["mask"] else None
    if state.get("user_mask"):
        # Nothing may change outside the mask the user drew, whatever the editor's own paste mask was.
        mask = images.get_mask(state["user_mask"])
    region = images.get_mask(item["region"]) > 0.5 if item.get("region") else None
    before, after = images.get(item["base"]), images.get(attempt["image"])
    check = check_attempt(runtime.context.toolbox, item["step"], before, after, mask, region, item.get("box"))
    attempt.update(passed=check.passed, reason=check.reason, score=check.score, evidence=check.evidence)
    attempts = [*item["attempts"][:-1], attempt]
    emit("checked", index=index + 1, passed=check.passed, reason=check.reason)
    timed("verify", timings, started)
    return {"work": {index: {"attempts": attempts, "kept": len(attempts) - 1}}, "timings": timings}


# ---- judge ---------------------------------------------------------------------------------------


def _llm_verdicts(
    state: ChatState, work: Sequence[Mapping[str, Any]], tried: list[int], context: Context
) -> tuple[dict[int, dict], LLMResult]:
    """Gives back the LLM's verdict per step index, and the call's result (calls, tokens, error, mode)."""
    from chatedit.agent.llm import judge_with_llm

    evidence = [
        {
            "step": i + 1,
            "category": work[i]["step"]["category"],
            "target": work[i]["step"].get("target"),
            "checks": work[i]["attempts"][-1].get("evidence"),
            "model_check_passed": work[i]["attempts"][-1]["passed"],
            "model_check_reason": work[i]["attempts"][-1]["reason"],
        }
        for i in tried
    ]
    before = context.images.get(current_picture(state))
    after = context.images.get(compose(state, len(work), context.images))
    result = judge_with_llm(context.llm, before, after, Plan.model_validate(state["plan"]), evidence)
    verdicts = {
        v.step - 1: {"passed": v.passed, "reason": v.reason, "new_prompt": v.new_prompt} for v in result.value or []
    }
    return verdicts, result


def _settle(
    item: Mapping[str, Any], verdict: Optional[dict], judge_error: Optional[str], max_attempts: int
) -> tuple[dict, bool]:
    """Gives back the step's changes with the verdict on its last attempt, and whether it goes round again."""
    attempts = [dict(a) for a in item["attempts"]]
    changes: dict = {"attempts": attempts}
    # Which judge decided, so the report shows when the model checks stood in for a failed LLM judge.
    attempts[-1]["judge"] = "llm" if verdict is not None else "model checks"
    if judge_error:
        attempts[-1]["judge_note"] = f"LLM judge failed ({judge_error}); the model checks decided"
    if verdict is not None:
        attempts[-1].update(passed=bool(verdict["passed"]), reason=verdict["reason"] or attempts[-1]["reason"])
        if verdict.get("new_prompt"):
            changes["new_prompt"] = verdict["new_prompt"]
    if attempts[-1]["passed"]:
        changes.update(status="done", kept=len(attempts) - 1)
        return changes, False
    if len(attempts) < max_attempts:
        return changes, True
    changes.update(status="failed", kept=max(range(len(attempts)), key=lambda k: attempts[k]["score"]))
    return changes, False


def _replays(work: Sequence[Mapping[str, Any]], retry: list[int]) -> list[int]:
    """Gives back the whole-image steps made after a retried step, which must be made again on its new result."""
    if not retry:
        return []
    first = min(retry)
    return [i for i, w in enumerate(work) if i > first and w["step"]["category"] == "global" and i not in retry]


def judge(state: ChatState, runtime: Runtime[Context]) -> dict:
    """Decides each step of this round (one LLM call, or the model checks) and queues retries."""
    context = runtime.context
    started = time.perf_counter()
    timings: dict[str, float] = {}
    work = state["work"]
    tried = [i for i, w in enumerate(work) if w["attempts"] and w["status"] == "pending"]
    calls, tokens = state.get("llm_calls", 0), state.get("llm_tokens", 0)
    verdicts: dict[int, dict] = {}
    judge_error: Optional[str] = None
    judge_mode = state.get("judge_mode")
    # A text-only model cannot see the result: the model checks judge.
    if context.llm is not None and tried and getattr(context.llm, "sees_images", True):
        verdicts, result = _llm_verdicts(state, work, tried, context)
        calls, tokens = calls + result.calls, tokens + result.tokens
        judge_error, judge_mode = result.error, result.mode
    changes: dict[int, dict] = {}
    retry = []
    for i in tried:
        changes[i], again = _settle(work[i], verdicts.get(i), judge_error, context.max_attempts)
        if again:
            retry.append(i)
        last = changes[i]["attempts"][-1]
        emit("verdict", index=i + 1, passed=last["passed"], reason=last["reason"])
    replay = _replays(work, retry)
    for i in replay:
        changes.setdefault(i, {})["status"] = "pending"
    retry = sorted(set(retry) | set(replay))
    timed("verify", timings, started)
    next_round = state.get("round", 1) + (1 if retry else 0)
    return {
        "work": changes,
        "queue": retry,
        "round": next_round,
        "llm_calls": calls,
        "llm_tokens": tokens,
        "timings": timings,
        "judge_mode": judge_mode,
    }
