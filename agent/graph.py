"""The LangGraph state machine of one chat turn.

    start ─┬─ command ──┬─ finish ── END
           ├─ answer ───┘
           ├─ respond ── END                     (no picture yet, or a picture without words)
           └─ plan ─┬─ respond ── END            (nothing to edit)
                    └─ next_step ◄─────────────────────────────┐
                          ├─ locate ─┬─ edit ── verify ────────┤
                          │          ├─ next_step (not found) ─┤
                          │          └─ respond (a question)   │
                          ├─ edit ── verify ───────────────────┤  (a retry in the same place)
                          └─ judge ─┬─ next_step (retries) ────┘
                                    └─ respond ── END

`start` stores an uploaded image and picks the path. `plan` asks the planner for the steps. Each
round, `next_step` takes the next step of the queue: `locate` finds where it acts (or takes the mask
the user drew), `edit` makes an attempt, `verify` runs the model checks. When the queue is empty,
`judge` decides (the LLM in one call for all steps, or the model checks) and queues failed steps for
another, changed attempt. `respond` composes the kept attempts into a new version and writes the
answer and the report; `finish` does that for commands and questions.

Every node is a plain function of the state; what it works with (toolbox, image store, LLM,
settings) comes from `runtime.context`, a `Context` (agent/context.py) passed at `invoke`/`stream`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Optional

import numpy as np
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from PIL import Image

from chatedit.agent import choose
from chatedit.agent.context import Context
from chatedit.agent.events import step_name
from chatedit.agent.plan import INSTRUCTION_CATEGORIES, Plan
from chatedit.agent.planner import make_plan
from chatedit.agent.rules import is_question, parse_command
from chatedit.agent.state import ChatState
from chatedit.agent.store import ImageStore
from chatedit.agent.toolbox import Toolbox
from chatedit.agent.verifier import check_attempt
from chatedit.tools import blend
from chatedit.tools import locate as L
from chatedit.tools import masks as M
from chatedit.tools.errors import InputError
from chatedit.tools.inpaint import EditResult

SALIENT_PHRASES = ["person", "animal", "main object"]
"""What `background` keeps when the instruction names no subject."""


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


def _compose(state: ChatState, upto: int, images: ImageStore) -> str:
    """Gives back the id of the version image with the kept attempts of steps before `upto` applied."""
    image_id = _current_image_id(state)
    for work in state["work"][:upto]:
        if work.get("kept") is None:
            continue
        attempt = work["attempts"][work["kept"]]
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
        "reply": None,
        "report": {},
        "timings": {},
    }
    upload = state.get("upload")
    versions = list(state.get("versions") or [])
    if upload:
        origin = state.get("origin") or "uploaded"
        versions.append({"image": upload, "parent": None, "instruction": origin, "masks": [], "targets": []})
        update.update(versions=versions, cursor=len(versions) - 1, redo=[], pending=None)
    return update


def route_turn(state: ChatState) -> Literal["command", "answer", "plan", "respond"]:
    """Picks the path: a session command, a question, an answer to our question, or an edit."""
    text = (state.get("instruction") or "").strip()
    if parse_command(text):
        return "command"
    if not state.get("versions"):
        return "respond"
    if not text or (is_question(text) and not state.get("pending")):
        return "answer" if text else "respond"
    return "plan"


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
            "reply": "I can only answer questions about the picture with a vision LLM configured "
            "(set CHATEDIT_LLM_BASE_URL / CHATEDIT_LLM_API_KEY). Tell me an edit instead, e.g. "
            "'remove the cup'."
        }
    from chatedit.agent.llm import answer_with_llm

    result = answer_with_llm(llm, images.get(_current_image_id(state)), state["instruction"], _history_lines(state))
    reply = result.value or f"I could not get an answer from the LLM ({result.error})."
    return {"reply": reply, "llm_calls": state.get("llm_calls", 0) + result.calls}


def finish(state: ChatState) -> dict:
    """Writes the answer of a command or question turn."""
    versions = state.get("versions") or []
    cursor = state.get("cursor", 0)
    report = {
        "image": versions[cursor]["image"] if versions else None,
        "version": cursor if versions else None,
        "planner": None,
        "planner_note": None,
        "planner_mode": None,
        "llm_calls": state.get("llm_calls", 0),
        "message": state["reply"],
        "question": False,
        "steps": [],
        "timings_ms": {},
        **(state.get("report") or {}),
    }
    _emit("done", message=state["reply"])
    return {"report": report, "messages": [AIMessage(content=state["reply"])], "user_mask": None}


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
    timings = dict(state.get("timings") or {})
    pending = state.get("pending")
    choice = _resumed_choice(state)
    if choice is not None:
        the_plan = Plan.model_validate(pending["plan"])
        planner, calls, note, mode = pending["planner"], 0, None, pending.get("planner_mode")
    else:
        image = runtime.context.images.get(_current_image_id(state))
        planned = make_plan(
            state["instruction"], image, _history_lines(state), _previous_targets(state), llm=runtime.context.llm
        )
        the_plan, planner, calls, note, mode = planned.plan, planned.planner, planned.calls, planned.note, planned.mode
    work = [{"step": s.model_dump(), "status": "pending", "attempts": [], "kept": None} for s in the_plan.steps]
    if choice is not None:
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
        "reply": the_plan.message if not the_plan.steps else None,
        "timings": timings,
    }


def route_planned(state: ChatState) -> Literal["next_step", "respond"]:
    """A plan with steps starts the first round; a plan without steps is answered at once."""
    return "next_step" if state["work"] else "respond"


def next_step(state: ChatState) -> dict:
    """Takes the next step of this round's queue."""
    queue = list(state.get("queue") or [])
    if not queue:
        return {"current": -1}
    index = queue.pop(0)
    step = state["work"][index]["step"]
    _emit("step", index=index + 1, total=len(state["work"]), category=step["category"], target=step.get("target"))
    return {"current": index, "queue": queue}


def route_next(state: ChatState) -> Literal["locate", "edit", "judge", "respond"]:
    """Sends the step taken to `locate` or straight to `edit`; an empty queue to `judge`."""
    if state["current"] < 0:
        return "judge" if state["work"] else "respond"
    work = state["work"][state["current"]]
    category = work["step"]["category"]
    if state.get("user_mask"):
        # The drawn mask is every step's region, a whole-image step's too.
        return "edit" if work.get("region") else "locate"
    if category == "global":
        return "edit"
    # A retry keeps the located region, except for an add, which tries another place.
    return "locate" if work.get("region") is None or category == "add" else "edit"


# ---- locate --------------------------------------------------------------------------------------


@dataclass
class Region:
    """Where a step acts: a bool mask of the picture's size and its box (None: no box to check)."""

    mask: np.ndarray
    box: Optional[list[float]]


def _drawn_region(mask: np.ndarray) -> Region:
    """Gives back the user's drawn mask as the region, boxed by its extent."""
    drawn = mask > 0.5
    box = M.bbox(drawn)
    return Region(drawn, [float(v) for v in box] if box else None)


def _placement(item: dict, image: Image.Image, toolbox: Toolbox) -> Region:
    """Gives back a place for a new object: the planner's box, else beside its anchor."""
    step = item["step"]
    width, height = image.size
    if step.get("box") and not item["attempts"]:
        box = L.parse_box(step["box"], width, height)
    else:
        anchor_name = step.get("anchor")
        anchors = toolbox.detect(image, [anchor_name]).get(anchor_name, []) if anchor_name else []
        # Earlier tries' boxes count as obstacles, so a retry lands somewhere else.
        obstacles = [a.get("box") for a in item["attempts"] if a.get("box")]
        box = L.place_object(
            (width, height),
            step["prompt"],
            step.get("relation"),
            anchors[0].box if anchors else None,
            obstacles,
            anchor_name=anchor_name,
        )
    return Region(L.add_mask((width, height), box), list(box))


def _background_region(step: dict, image: Image.Image, toolbox: Toolbox) -> Region:
    """Gives back everything but the subject (the named one, else the likeliest salient object)."""
    subject = step.get("target")
    found = toolbox.detect(image, [subject] if subject else SALIENT_PHRASES)
    best = max((d for dets in found.values() for d in dets), key=lambda d: d.score, default=None)
    if best is None:
        # Nothing to keep in front: the whole picture is background.
        return Region(np.ones((image.height, image.width), bool), None)
    kept = toolbox.segment_box(image, best.box)
    if not kept.any() or kept.all():
        kept = M.box_mask((image.height, image.width), best.box)
    return Region(L.background_mask(kept), list(best.box))


def _pick(text: str, target: str, candidates: list, toolbox: Toolbox) -> Optional[list[int]]:
    """Gives back the candidates the instruction means, or None when the user must be asked."""
    picked = choose.select(text, candidates)
    if picked is None and choose.wants_all(text, target):
        picked = list(range(len(candidates)))
    if picked is None and toolbox.settings.ask_when_ambiguous and choose.should_ask(candidates):
        return None
    if picked is None:
        # Not worth a question: take the most likely one.
        picked = [max(range(len(candidates)), key=lambda i: candidates[i].score)]
    return picked


def _question(state: ChatState, target: str, candidates: list, size: tuple[int, int]) -> dict:
    """Gives back the state update that asks which of the candidates to edit."""
    where = choose.describe(candidates, *size)
    options = "; ".join(f"{i + 1}: the one {w}" for i, w in enumerate(where))
    question = (
        f"I see {len(candidates)} {target}s ({options}). Which one should I edit? "
        "Answer with a number, 'the left one', or 'all'."
    )
    _emit("question", text=question)
    return {
        "reply": question,
        "pending": {
            "plan": state["plan"],
            "planner": state.get("planner", "rules"),
            "planner_mode": state.get("planner_mode"),
            "step": state["current"],
            "candidates": [{"label": d.label, "box": list(d.box), "score": d.score} for d in candidates],
        },
    }


def _target_region(state: ChatState, item: dict, image: Image.Image, toolbox: Toolbox) -> Region | dict:
    """Gives back the named target's mask, or the state update when the step stops (not found, a question)."""
    target = item["step"].get("target") or ""
    if item.get("choice"):
        boxes = item["choice"]
    else:
        candidates = choose.contenders(toolbox.detect(image, [target]).get(target, []))
        if not candidates:
            message = f"I could not find {_the(target)} in the picture, so I left that part unchanged."
            item.update(status="not_found", message=message)
            _emit("not_found", index=state["current"] + 1, target=target)
            return {}
        text = f"{item['step'].get('instruction', '')} {state.get('instruction', '')}"
        picked = _pick(text, target, candidates, toolbox)
        if picked is None:
            return _question(state, target, candidates, image.size)
        boxes = [list(candidates[i].box) for i in picked]
    mask = M.union(*[toolbox.segment_box(image, b) for b in boxes])
    if not mask.any():
        mask = M.union(*[M.box_mask((image.height, image.width), b) for b in boxes])
    box = [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]
    return Region(mask, box)


def _find_region(state: ChatState, context: Context) -> dict:
    """Gives back the state update with where the step acts: the drawn mask, the target, a place, the background."""
    started = time.perf_counter()
    timings = dict(state.get("timings") or {})
    work = [dict(w) for w in state["work"]]
    item = work[state["current"]]
    item["base"] = _compose(state, state["current"], context.images)
    image = context.images.get(item["base"])
    category = item["step"]["category"]
    if state.get("user_mask"):
        found = _drawn_region(context.images.get_mask(state["user_mask"]))
    elif category == "add":
        found = _placement(item, image, context.toolbox)
    elif category == "background":
        found = _background_region(item["step"], image, context.toolbox)
    elif category in INSTRUCTION_CATEGORIES and not item["step"].get("target"):
        # Nothing named to find: the instruction editor may act anywhere, and ZONE keeps what changed.
        found = Region(np.ones((image.height, image.width), bool), None)
    else:
        found = _target_region(state, item, image, context.toolbox)
    update: dict = {"work": work, "timings": timings}
    if isinstance(found, Region):
        item.update(region=context.images.put_mask(found.mask), box=found.box)
        _emit("located", index=state["current"] + 1, mask=item["region"], box=item["box"])
    else:
        update.update(found)
    _timed("locate", timings, started)
    return update


def locate(state: ChatState, runtime: Runtime[Context]) -> dict:
    """Finds where the step acts; a step that cannot be placed, or made by these models, is skipped."""
    unable = runtime.context.toolbox.cannot(state["work"][state["current"]]["step"]["category"])
    if unable:
        return _skipped(state, unable)
    try:
        return _find_region(state, runtime.context)
    except InputError as exc:
        return _skipped(state, str(exc))


def _skipped(state: ChatState, reason: str) -> dict:
    """Gives back the state update that skips the current step, saying why."""
    work = [dict(w) for w in state["work"]]
    work[state["current"]].update(status="skipped", message=f"Skipped: {reason}")
    return {"work": work}


def route_located(state: ChatState) -> Literal["edit", "next_step", "respond"]:
    """A found target is edited; a missing one is skipped; an ambiguous one becomes a question."""
    if state.get("pending"):
        return "respond"
    return "next_step" if state["work"][state["current"]]["status"] in ("not_found", "skipped") else "edit"


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
    timings = dict(state.get("timings") or {})
    work = [dict(w) for w in state["work"]]
    index = state["current"]
    item = work[index]
    tries = len(item["attempts"])
    item["base"] = _compose(state, index, context.images)
    seed = context.seed + 1009 * tries
    prompt = item.get("new_prompt") or item["step"]["prompt"]
    region = context.images.get_mask(item["region"]) > 0.5 if item.get("region") else None
    drawn = context.images.get_mask(state["user_mask"]) > 0.5 if state.get("user_mask") else None
    started = time.perf_counter()
    stage, result = context.toolbox.edit_step(
        item["step"],
        context.images.get(item["base"]),
        region,
        prompt=prompt,
        tries=tries,
        seed=seed,
        drawn=drawn is not None,
        on_step=partial(_progress, index + 1),
    )
    if drawn is not None:
        result = _kept_inside(context.images.get(item["base"]), result, drawn)
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
        "oom_retry": bool(result.info.get("oom_retry")),
    }
    _timed("store", timings, started)
    item["attempts"] = list(item["attempts"]) + [attempt]
    return {"work": work, "timings": timings}


def verify(state: ChatState, runtime: Runtime[Context]) -> dict:
    """Runs the model checks on the attempt just made."""
    images = runtime.context.images
    started = time.perf_counter()
    timings = dict(state.get("timings") or {})
    work = [dict(w) for w in state["work"]]
    item = work[state["current"]]
    attempt = dict(item["attempts"][-1])
    mask = images.get_mask(attempt["mask"]) if attempt["mask"] else None
    if state.get("user_mask"):
        # Nothing may change outside the mask the user drew, whatever the editor's own paste mask was.
        mask = images.get_mask(state["user_mask"])
    region = images.get_mask(item["region"]) > 0.5 if item.get("region") else None
    before, after = images.get(item["base"]), images.get(attempt["image"])
    check = check_attempt(runtime.context.toolbox, item["step"], before, after, mask, region, item.get("box"))
    attempt.update(passed=check.passed, reason=check.reason, score=check.score, evidence=check.evidence)
    item["attempts"] = item["attempts"][:-1] + [attempt]
    item["kept"] = len(item["attempts"]) - 1
    _emit("checked", index=state["current"] + 1, passed=check.passed, reason=check.reason)
    _timed("verify", timings, started)
    return {"work": work, "timings": timings}


# ---- judge ---------------------------------------------------------------------------------------


def _llm_verdicts(
    state: ChatState, work: list[dict], tried: list[int], context: Context
) -> tuple[dict[int, dict], int, Optional[str], Optional[str]]:
    """Gives back the LLM's verdict per step index, the calls it took, its error (if it failed) and its mode."""
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
    before = context.images.get(_current_image_id(state))
    after = context.images.get(_compose(state, len(work), context.images))
    result = judge_with_llm(context.llm, before, after, Plan.model_validate(state["plan"]), evidence)
    verdicts = {
        v.step - 1: {"passed": v.passed, "reason": v.reason, "new_prompt": v.new_prompt} for v in result.value or []
    }
    return verdicts, result.calls, result.error, result.mode


def _settle(item: dict, verdict: Optional[dict], judge_error: Optional[str], max_attempts: int) -> bool:
    """Records the verdict on the step's last attempt and gives back whether the step goes round again."""
    attempts = [dict(a) for a in item["attempts"]]
    # Which judge decided, so the report shows when the model checks stood in for a failed LLM judge.
    attempts[-1]["judge"] = "llm" if verdict is not None else "model checks"
    if judge_error:
        attempts[-1]["judge_note"] = f"LLM judge failed ({judge_error}); the model checks decided"
    if verdict is not None:
        attempts[-1].update(passed=bool(verdict["passed"]), reason=verdict["reason"] or attempts[-1]["reason"])
        if verdict.get("new_prompt"):
            item["new_prompt"] = verdict["new_prompt"]
    item["attempts"] = attempts
    if attempts[-1]["passed"]:
        item.update(status="done", kept=len(attempts) - 1)
        return False
    if len(attempts) < max_attempts:
        return True
    item.update(status="failed", kept=max(range(len(attempts)), key=lambda k: attempts[k]["score"]))
    return False


def _with_replays(work: list[dict], retry: list[int]) -> list[int]:
    """Gives back the retried steps plus the whole-image steps made after them, which must be made again."""
    if not retry:
        return retry
    # Whole-image steps after a retried step were made on its old result.
    first = min(retry)
    replay = [i for i, w in enumerate(work) if i > first and w["step"]["category"] == "global" and i not in retry]
    for i in replay:
        work[i]["status"] = "pending"
    return sorted(set(retry) | set(replay))


def judge(state: ChatState, runtime: Runtime[Context]) -> dict:
    """Decides each step of this round (one LLM call, or the model checks) and queues retries."""
    context = runtime.context
    started = time.perf_counter()
    timings = dict(state.get("timings") or {})
    work = [dict(w) for w in state["work"]]
    tried = [i for i, w in enumerate(work) if w["attempts"] and w["status"] == "pending"]
    calls = state.get("llm_calls", 0)
    verdicts: dict[int, dict] = {}
    judge_error: Optional[str] = None
    judge_mode = state.get("judge_mode")
    if context.llm is not None and tried:
        verdicts, used, judge_error, judge_mode = _llm_verdicts(state, work, tried, context)
        calls += used
    retry = []
    for i in tried:
        if _settle(work[i], verdicts.get(i), judge_error, context.max_attempts):
            retry.append(i)
        last = work[i]["attempts"][-1]
        _emit("verdict", index=i + 1, passed=last["passed"], reason=last["reason"])
    retry = _with_replays(work, retry)
    _timed("verify", timings, started)
    next_round = state.get("round", 1) + (1 if retry else 0)
    return {
        "work": work,
        "queue": retry,
        "round": next_round,
        "llm_calls": calls,
        "timings": timings,
        "judge_mode": judge_mode,
    }


def route_judged(state: ChatState) -> Literal["next_step", "respond"]:
    """Failed steps with attempts left go round again; otherwise answer."""
    return "next_step" if state.get("queue") else "respond"


# ---- respond -------------------------------------------------------------------------------------


def _new_version(state: ChatState, edited: list[dict], images: ImageStore) -> dict:
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
        reply = _summary(work)
    elif work and not state.get("pending"):
        reply = reply + "\n" + _summary(work)
    _timed("respond", timings, started)
    versions = update.get("versions") or state.get("versions") or []
    cursor = update.get("cursor", state.get("cursor", 0))
    drawn = bool(state.get("user_mask"))
    report = {
        "image": versions[cursor]["image"] if versions else None,
        "version": cursor if versions else None,
        "planner": state.get("planner", "rules"),
        "planner_note": state.get("planner_note"),
        "planner_mode": state.get("planner_mode"),
        "judge_mode": state.get("judge_mode"),
        "llm_calls": state.get("llm_calls", 0),
        "models": runtime.context.toolbox.models.report(),
        "message": reply,
        "question": bool(state.get("pending")),
        "steps": [_step_report(w, drawn) for w in work],
        "timings_ms": {k: round(v, 1) for k, v in timings.items()},
    }
    _emit("done", message=reply)
    update.update(reply=reply, report=report, messages=[AIMessage(content=reply)], user_mask=None)
    return update


# ---- the graph -----------------------------------------------------------------------------------


def build_graph(checkpointer=None, name: str = "chatedit"):
    """Gives back the compiled chat-turn graph; run it with `context=Context(...)`.

    Args:
        checkpointer: a LangGraph checkpointer (sessions persist in it); None: the caller's, or none.
        name: the graph's name in traces and LangGraph tooling.
    """
    builder = StateGraph(ChatState, context_schema=Context)
    for node in (start, command, answer, finish, plan, next_step, locate, edit, verify, judge, respond):
        builder.add_node(node)
    # Every turn begins by storing an upload and resetting the turn's fields.
    builder.add_edge(START, "start")
    # The user's text decides the path: command, question, or an edit to plan.
    builder.add_conditional_edges("start", route_turn)
    # Commands need no model; their answer is written at once.
    builder.add_edge("command", "finish")
    # Questions are answered from the picture, without editing.
    builder.add_edge("answer", "finish")
    # A command's or question's turn ends with its answer.
    builder.add_edge("finish", END)
    # A plan with steps starts the first round; a plan without steps is answered at once.
    builder.add_conditional_edges("plan", route_planned)
    # Each queued step is located (first try, or a new place for an add) or edited again.
    builder.add_conditional_edges("next_step", route_next)
    # A found target is edited; a missing one is skipped; an ambiguous one becomes a question.
    builder.add_conditional_edges("locate", route_located)
    # Every attempt is checked at once.
    builder.add_edge("edit", "verify")
    # After the check, the next step of the round.
    builder.add_edge("verify", "next_step")
    # Failed steps with attempts left go round again; otherwise answer.
    builder.add_conditional_edges("judge", route_judged)
    # The answer ends the turn.
    builder.add_edge("respond", END)
    return builder.compile(checkpointer=checkpointer, name=name)


# ---- the report ----------------------------------------------------------------------------------


def _the(target: str) -> str:
    """Gives back the target with "the" in front, unless it already has an article."""
    return (
        f"the {target}" if target and not target.lower().startswith(("the ", "a ", "an ")) else (target or "the target")
    )


def _step_report(work: dict, drawn: bool) -> dict:
    """Gives back one step's part of the turn report: what it was, where it acted, how each try went."""
    step = work["step"]
    kept = work.get("kept")
    attempts = work.get("attempts") or []
    region = work.get("region")
    return {
        "category": step["category"],
        "target": step.get("target"),
        "prompt": step["prompt"],
        "status": work.get("status"),
        "passed": work.get("status") == "done",
        "mask": attempts[kept]["mask"] if kept is not None else None,
        "region": region,
        "region_source": ("user mask" if drawn else "located") if region else None,
        "attempts": [
            {
                "passed": a["passed"],
                "reason": a["reason"],
                "evidence": a.get("evidence"),
                "mask": a["mask"],
                "judge": a.get("judge"),
                "judge_note": a.get("judge_note"),
                "oom_retry": a.get("oom_retry", False),
            }
            for a in attempts
        ],
    }


def _summary(work: list[dict]) -> str:
    """Gives back an honest one-line-per-step account of what was done."""
    lines = []
    for item in work:
        step = item["step"]
        what = step_name(step)
        status = item.get("status")
        tries = len(item.get("attempts") or [])
        if status == "done":
            lines.append(f"Done: {what}" + (f" (after {tries} tries)" if tries > 1 else "") + ".")
        elif status == "not_found":
            lines.append(item.get("message") or f"Could not find the target of: {what}.")
        elif status == "failed":
            reason = item["attempts"][item["kept"]]["reason"]
            tried = f"{tries} tries" if tries > 1 else "1 try"
            lines.append(
                f"Not sure this worked: {what}. After {tried} the check still says {reason}; I kept the best try."
            )
        else:
            lines.append(item.get("message") or f"Skipped: {what}.")
    return "\n".join(lines) if lines else "Nothing to change."
