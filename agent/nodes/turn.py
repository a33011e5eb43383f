"""The nodes around the steps: `start`, `command`, `answer`, `finish`, `plan`, `next_step`, `locate`, `respond`."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.runtime import Runtime

from chatedit.agent import choose
from chatedit.agent.brain import llm_report
from chatedit.agent.context import Context
from chatedit.agent.nodes.common import (
    compose,
    current_picture,
    emit,
    history_lines,
    previous_targets,
    timed,
)
from chatedit.agent.plan import Plan
from chatedit.agent.planner import make_plan
from chatedit.agent.regions import Found, NotFound, find_region
from chatedit.agent.report import summary, turn_report
from chatedit.agent.rules import parse_command
from chatedit.agent.state import ChatState, StepWork
from chatedit.agent.store import ImageStore
from chatedit.tools.errors import InputError

if TYPE_CHECKING:
    pass


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

    result = answer_with_llm(llm, images.get(current_picture(state)), state["instruction"], history_lines(state))
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
    emit("done", message=reply)
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
        image = runtime.context.images.get(current_picture(state))
        planned = make_plan(
            state["instruction"], image, history_lines(state), previous_targets(state), llm=runtime.context.llm
        )
        the_plan, planner, note, mode = planned.plan, planned.planner, planned.note, planned.mode
        calls, tokens = planned.calls, planned.tokens
        the_plan = _bounded(the_plan, runtime.context.max_steps)
    work: list[StepWork] = [
        {"step": s.model_dump(), "status": "pending", "attempts": [], "kept": None} for s in the_plan.steps
    ]
    if pending is not None and choice is not None:
        work[pending["step"]]["choice"] = [pending["candidates"][i]["box"] for i in choice]
    timed("plan", timings, started)
    emit("plan", plan=the_plan.model_dump(), planner=planner)
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
    emit("step", index=index + 1, total=len(state["work"]), category=step["category"], target=step.get("target"))
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
    base = compose(state, index, context.images)
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
        emit("located", index=index + 1, mask=changes["region"], box=changes["box"])
    elif isinstance(found, NotFound):
        changes.update(status="not_found", message=found.message)
        emit("not_found", index=index + 1, target=found.target)
    else:
        emit("question", text=found.question)
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
    timed("locate", timings, started)
    return update


def _skipped(state: ChatState, reason: str) -> dict:
    """Gives back the state update that skips the current step, saying why."""
    return {"work": {state["current"]: {"status": "skipped", "message": f"Skipped: {reason}"}}}


# ---- respond -------------------------------------------------------------------------------------


def _new_version(state: ChatState, edited: Sequence[Mapping[str, Any]], images: ImageStore) -> dict:
    """Gives back the state update that saves the kept attempts as the new current version."""
    versions = list(state["versions"])
    versions.append(
        {
            "image": compose(state, len(state["work"]), images),
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
    timed("respond", timings, started)
    report = turn_report(
        state,
        reply,
        versions=update.get("versions") or state.get("versions") or [],
        cursor=update.get("cursor", state.get("cursor", 0)),
        models=runtime.context.toolbox.models.report(),
        llm=llm_report(runtime.context.llm),
        timings=timings,
    )
    emit("done", message=reply)
    update.update(reply=reply, report=report, messages=[AIMessage(content=reply)], user_mask=None)
    return update
