"""The nodes of the chat-turn graph (agent/graph.py wires them): plain functions of the state.

`start` stores an uploaded image and resets the turn. `plan` asks the planner for the steps. Each
round, `next_step` takes the next step of the queue: `locate` finds where it acts (agent/regions.py),
`edit` makes an attempt through the toolbox's family, `verify` runs the model checks. When the queue
is empty, `judge` decides (the LLM in one call for all steps, or the model checks) and queues failed
steps for another, changed attempt. `respond` composes the kept attempts into a new version and writes
the answer and the report (agent/report.py); `finish` does that for commands and questions.

What a node works with (toolbox, image store, LLM, settings) comes from `runtime.context`, a `Context`
(agent/context.py) passed at `invoke`/`stream`. Nodes return state updates and change nothing given.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime
from PIL import Image

from chatedit.agent import choose
from chatedit.agent.brain import llm_report
from chatedit.agent.context import Context
from chatedit.agent.plan import Plan
from chatedit.agent.planner import make_plan
from chatedit.agent.regions import Found, NotFound, find_region
from chatedit.agent.report import summary, turn_report
from chatedit.agent.rules import parse_command
from chatedit.agent.state import ChatState, StepWork
from chatedit.agent.store import ImageStore
from chatedit.agent.verifier import check_attempt
from chatedit.tools import blend
from chatedit.tools.errors import InputError
from chatedit.tools.inpaint import EditResult

if TYPE_CHECKING:
    from chatedit.agent.llm import LLMResult

# ---- helpers over ids ----------------------------------------------------------------------------


def _emit(event: str, **data: Any) -> None:
    """Sends a progress event to whoever streams the run in "custom" mode."""
    get_stream_writer()({"event": event, **data})


def _progress(index: int, i: int, total: int) -> None:
    """Reports denoising step `i` of `total` of plan step `index` (the editors' step callback)."""
    _emit("progress", index=index, step=i + 1, total=total)


def _timed(stage: str, timings: dict, started: float) -> None:
    """Adds the milliseconds since `started` to the stage's total."""
    timings[stage] = timings.get(stage, 0.0) + (time.perf_counter() - started) * 1000.0


def _current_image_id(state: ChatState) -> Optional[str]:
    """Gives back the id of the current version's image, or None before any upload."""
    versions = state.get("versions") or []
    return versions[state["cursor"]]["image"] if versions else None


def _current_picture(state: ChatState) -> str:
    """Gives back the current version's image id; the nodes that ask run only once the session has a picture."""
    image_id = _current_image_id(state)
    if image_id is None:
        raise InputError("Send an image first (attach it to your message), then tell me what to change.")
    return image_id


def _compose(state: ChatState, upto: int, images: ImageStore) -> str:
    """Gives back the id of the version image with the kept attempts of steps before `upto` applied."""
    image_id = _current_picture(state)
    for work in state["work"][:upto]:
        kept = work.get("kept")
        if kept is None:
            continue
        attempt = work["attempts"][kept]
        if work.get("base") == image_id or attempt["mask"] is None:
            image_id = attempt["image"]
            continue
        # The step was made on an older base (an earlier step was retried): paste only its region.
        alpha = images.get_mask(attempt["mask"])
        image_id = images.put(blend.alpha_composite(images.get(image_id), images.get(attempt["image"]), alpha))
    return image_id


def _history_lines(state: ChatState) -> list[str]:
    """Gives back the instructions of the latest edits, for the planner's sense of "it" and "again"."""
    return [v["instruction"] for v in (state.get("versions") or [])[1:]][-6:]


def _previous_targets(state: ChatState) -> list[str]:
    """Gives back what the turn that made the current version acted on."""
    versions = state.get("versions") or []
    return versions[state["cursor"]]["targets"] if versions else []


# ---- start, commands and questions ---------------------------------------------------------------


def start(state: ChatState) -> dict:
    """Stores an upload as a new version and resets the turn's fields."""
    text = (state.get("instruction") or "").strip()
    update: dict = {
        "messages": [HumanMessage(content=text or "(image)")],
        "plan": None,
        "planner": "rules",
        "planner_note": None,
        "planner_mode": None,
        "judge_mode": None,
        "work": [],
        "queue": [],
        "current": 0,
        "round": 1,
        "llm_calls": 0,
        "llm_tokens": 0,
        "reply": None,
        "report": {},
        "timings": None,
    }
    upload = state.get("upload")
    versions = list(state.get("versions") or [])
    if upload:
        origin = state.get("origin") or "uploaded"
        versions.append({"image": upload, "parent": None, "instruction": origin, "masks": [], "targets": []})
        update.update(versions=versions, cursor=len(versions) - 1, redo=[], pending=None)
    return update


def command(state: ChatState) -> dict:
    """Undo, redo and history: handled without any model."""
    verb = parse_command(state["instruction"])
    versions = state.get("versions") or []
    cursor, redo = state.get("cursor", 0), list(state.get("redo") or [])
    if verb == "history":
        lines = [f"{i}. {v['instruction']}" + ("  <- current" if i == cursor else "") for i, v in enumerate(versions)]
        reply = "History:\n" + "\n".join(lines) if lines else "There is no image in this session yet."
        return {"reply": reply, "report": {"command": "history"}}
    if verb == "undo":
        parent = versions[cursor]["parent"] if versions else None
        if parent is None:
            return {"reply": "There is nothing to undo: this is the original image.", "report": {"command": "undo"}}
        redo.append(cursor)
        return {
            "cursor": parent,
            "redo": redo,
            "pending": None,
            "reply": f'Undid "{versions[cursor]["instruction"]}".',
            "report": {"command": "undo"},
        }
    if not redo:
        return {"reply": "There is nothing to redo.", "report": {"command": "redo"}}
    target = redo.pop()
    return {
        "cursor": target,
        "redo": redo,
        "reply": f'Redid "{versions[target]["instruction"]}".',
        "report": {"command": "redo"},
    }


def answer(state: ChatState, runtime: Runtime[Context]) -> dict:
    """Answers a question about the current image with the VLM, or says that needs one."""
    llm, images = runtime.context.llm, runtime.context.images
    if llm is None:
        return {
            "reply": "I can only answer questions about the picture with an LLM: --llm editor (with the "
            "modern or max models), --llm local:MODEL, or a server (CHATEDIT_LLM_BASE_URL). Tell me an "
            "edit instead, e.g. 'remove the cup'."
        }
    from chatedit.agent.llm import answer_with_llm

    result = answer_with_llm(llm, images.get(_current_picture(state)), state["instruction"], _history_lines(state))
    reply = result.value or f"I could not get an answer from the LLM ({result.error})."
    return {
        "reply": reply,
        "llm_calls": state.get("llm_calls", 0) + result.calls,
        "llm_tokens": state.get("llm_tokens", 0) + result.tokens,
    }


def finish(state: ChatState) -> dict:
    """Writes the answer of a command or question turn."""
    versions = state.get("versions") or []
    reply = state.get("reply") or ""
    report = turn_report(state, reply, versions=versions, cursor=state.get("cursor", 0), edited=False)
    report.update(state.get("report") or {})
    _emit("done", message=reply)
    return {"report": report, "messages": [AIMessage(content=reply)], "user_mask": None}


# ---- plan and the step queue ---------------------------------------------------------------------


def _resumed_choice(state: ChatState) -> Optional[list[int]]:
    """Gives back the candidates the user picked in answer to our question, or None (no question, or no pick)."""
    pending = state.get("pending")
    if not pending:
        return None
    candidates = [choose.Detection(d["label"], tuple(d["box"]), d["score"]) for d in pending["candidates"]]
    return choose.parse_choice(state["instruction"], len(candidates)) or choose.select(state["instruction"], candidates)


def plan(state: ChatState, runtime: Runtime[Context]) -> dict:
    """Makes the plan (or resumes the one that waited for the user's choice)."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    pending = state.get("pending")
    choice = _resumed_choice(state)
    if pending is not None and choice is not None:
        the_plan = Plan.model_validate(pending["plan"])
        planner, calls, tokens, note, mode = pending["planner"], 0, 0, None, pending.get("planner_mode")
    else:
        image = runtime.context.images.get(_current_picture(state))
        planned = make_plan(
            state["instruction"], image, _history_lines(state), _previous_targets(state), llm=runtime.context.llm
        )
        the_plan, planner, note, mode = planned.plan, planned.planner, planned.note, planned.mode
        calls, tokens = planned.calls, planned.tokens
        the_plan = _bounded(the_plan, runtime.context.max_steps)
    work: list[StepWork] = [
        {"step": s.model_dump(), "status": "pending", "attempts": [], "kept": None} for s in the_plan.steps
    ]
    if pending is not None and choice is not None:
        work[pending["step"]]["choice"] = [pending["candidates"][i]["box"] for i in choice]
    _timed("plan", timings, started)
    _emit("plan", plan=the_plan.model_dump(), planner=planner)
    return {
        "plan": the_plan.model_dump(),
        "planner": planner,
        "planner_note": note,
        "planner_mode": mode,
        "pending": None,
        "work": work,
        "queue": list(range(len(work))),
        "llm_calls": state.get("llm_calls", 0) + calls,
        "llm_tokens": state.get("llm_tokens", 0) + tokens,
        "reply": the_plan.message if not the_plan.steps else None,
        "timings": timings,
    }


def _bounded(the_plan: Plan, max_steps: int) -> Plan:
    """Gives back the plan, or, when it has more steps than one message may ask for, none and the reason."""
    if len(the_plan.steps) <= max_steps:
        return the_plan
    message = (
        f"That message asks for {len(the_plan.steps)} edits; one message may ask for at most {max_steps}. "
        f"Nothing was changed: send the first {max_steps} now and the rest in the next messages."
    )
    return Plan(steps=[], message=message)


def next_step(state: ChatState) -> dict:
    """Takes the next step of this round's queue."""
    queue = list(state.get("queue") or [])
    if not queue:
        return {"current": -1}
    index = queue.pop(0)
    step = state["work"][index]["step"]
    _emit("step", index=index + 1, total=len(state["work"]), category=step["category"], target=step.get("target"))
    return {"current": index, "queue": queue}


# ---- locate --------------------------------------------------------------------------------------


def locate(state: ChatState, runtime: Runtime[Context]) -> dict:
    """Finds where the step acts; a step that cannot be placed, or made by these models, is skipped."""
    context = runtime.context
    index = state["current"]
    unable = context.toolbox.cannot(state["work"][index]["step"]["category"])
    if unable:
        return _skipped(state, unable)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    base = _compose(state, index, context.images)
    item = state["work"][index]
    try:
        found = find_region(
            item["step"],
            context.images.get(base),
            context.toolbox,
            drawn=context.images.get_mask(state["user_mask"]) if state.get("user_mask") else None,
            earlier_boxes=[a.get("box") for a in item["attempts"] if a.get("box")],
            first_try=not item["attempts"],
            choice=item.get("choice"),
            words=item["step"].get("instruction") or state.get("instruction") or "",
        )
    except InputError as exc:
        return _skipped(state, str(exc))
    changes: dict = {"base": base}
    update: dict = {"work": {index: changes}, "timings": timings}
    if isinstance(found, Found):
        changes.update(region=context.images.put_mask(found.mask), box=found.box)
        _emit("located", index=index + 1, mask=changes["region"], box=changes["box"])
    elif isinstance(found, NotFound):
        changes.update(status="not_found", message=found.message)
        _emit("not_found", index=index + 1, target=found.target)
    else:
        _emit("question", text=found.question)
        update.update(
            reply=found.question,
            pending={
                "plan": state["plan"],
                "planner": state.get("planner", "rules"),
                "planner_mode": state.get("planner_mode"),
                "step": index,
                "candidates": [{"label": d.label, "box": list(d.box), "score": d.score} for d in found.candidates],
            },
        )
    _timed("locate", timings, started)
    return update


def _skipped(state: ChatState, reason: str) -> dict:
    """Gives back the state update that skips the current step, saying why."""
    return {"work": {state["current"]: {"status": "skipped", "message": f"Skipped: {reason}"}}}


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
    base = _compose(state, index, context.images)
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
        on_step=partial(_progress, index + 1),
    )
    if drawn is not None:
        result = _kept_inside(context.images.get(base), result, drawn)
    _timed(stage, timings, started)
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
    _timed("store", timings, started)
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
    _emit("checked", index=index + 1, passed=check.passed, reason=check.reason)
    _timed("verify", timings, started)
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
    before = context.images.get(_current_picture(state))
    after = context.images.get(_compose(state, len(work), context.images))
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
        _emit("verdict", index=i + 1, passed=last["passed"], reason=last["reason"])
    replay = _replays(work, retry)
    for i in replay:
        changes.setdefault(i, {})["status"] = "pending"
    retry = sorted(set(retry) | set(replay))
    _timed("verify", timings, started)
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


# ---- respond -------------------------------------------------------------------------------------


def _new_version(state: ChatState, edited: Sequence[Mapping[str, Any]], images: ImageStore) -> dict:
    """Gives back the state update that saves the kept attempts as the new current version."""
    versions = list(state["versions"])
    versions.append(
        {
            "image": _compose(state, len(state["work"]), images),
            "parent": state["cursor"],
            "instruction": state["instruction"],
            "masks": [w["attempts"][w["kept"]]["mask"] for w in edited if w["attempts"][w["kept"]]["mask"]],
            "targets": [w["step"].get("target") or w["step"]["prompt"] for w in edited],
            "request": state.get("request_id"),
            "made_at": time.time(),
        }
    )
    return {"versions": versions, "cursor": len(versions) - 1, "redo": []}


def respond(state: ChatState, runtime: Runtime[Context]) -> dict:
    """Saves the new version and writes the answer and the turn report."""
    started = time.perf_counter()
    timings = dict(state.get("timings") or {})
    update: dict = {}
    work = state.get("work") or []
    reply = state.get("reply")
    edited = [w for w in work if w.get("kept") is not None]
    if not state.get("versions"):
        reply = "Send an image first (attach it to your message), then tell me what to change."
    elif not work and reply is None and not (state.get("instruction") or "").strip():
        reply = "Got the picture. What should I change?"
    elif edited and not state.get("pending"):
        update.update(_new_version(state, edited, runtime.context.images))
    if reply is None:
        reply = summary(work)
    elif work and not state.get("pending"):
        reply = reply + "\n" + summary(work)
    _timed("respond", timings, started)
    report = turn_report(
        state,
        reply,
        versions=update.get("versions") or state.get("versions") or [],
        cursor=update.get("cursor", state.get("cursor", 0)),
        models=runtime.context.toolbox.models.report(),
        llm=llm_report(runtime.context.llm),
        timings=timings,
    )
    _emit("done", message=reply)
    update.update(reply=reply, report=report, messages=[AIMessage(content=reply)], user_mask=None)
    return update
