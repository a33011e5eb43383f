"""The LangGraph state machine of one chat turn.

    start ─┬─ command ─────────────────────────────────────────────┐
           ├─ answer ──────────────────────────────────────────────┤
           └─ plan ── next_step ─┬─ locate ─┬─ edit ── verify ─┐    │
                  ▲              │          ├─ next_step       │    │
                  │              │          └─ respond (ask)   │    │
                  │              └─ judge ─┬─ next_step (retry)│    ├─ respond ── END
                  │                        └─ respond          │    │
                  └────────────────────────────────────────────┘    │

`start` stores an uploaded image and picks the path. `plan` asks the planner for the steps. Each
round, `next_step` takes the next step of the queue: `locate` finds where it acts, `edit` makes an
attempt, `verify` runs the model checks. When the queue is empty, `judge` decides (the LLM in one
call for all steps, or the model checks) and queues failed steps for another, changed attempt.
`respond` composes the kept attempts into a new version and writes the answer and the report.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from PIL import Image

from chatedit.agent import choose
from chatedit.agent.events import step_name
from chatedit.agent.plan import Plan
from chatedit.agent.planner import make_plan
from chatedit.agent.rules import is_question, parse_command
from chatedit.agent.state import ChatState
from chatedit.agent.store import ImageStore
from chatedit.agent.toolbox import Toolbox
from chatedit.agent.verifier import check_attempt
from chatedit.tools import locate as L
from chatedit.tools import masks as M
from chatedit.tools.errors import InputError

SALIENT_PHRASES = ["person", "animal", "main object"]
"""What `background` keeps when the instruction names no subject."""


def _emit(event: str, **data: Any) -> None:
    get_stream_writer()({"event": event, **data})


def _timed(stage: str, timings: dict, started: float) -> None:
    timings[stage] = timings.get(stage, 0.0) + (time.perf_counter() - started) * 1000.0


def build_graph(
    toolbox: Toolbox,
    store: ImageStore,
    *,
    llm=None,
    max_attempts: int = 3,
    seed: Optional[int] = None,
    checkpointer=None,
    name: str = "chatedit",
):
    """Gives back the compiled chat-turn graph.

    Args:
        toolbox: the tools bound to loaded models.
        store: the image store every id in the state refers to.
        llm: a LangChain chat model for planning, judging and answering questions; None: rules and
            model checks only.
        max_attempts: tries per step before keeping the best failed one.
        seed: base seed of every generation (None: 0); each retry moves it.
        checkpointer: a LangGraph checkpointer (sessions persist in it).
    """
    base_seed = 0 if seed is None else int(seed)

    # ---- helpers over ids ------------------------------------------------------------------------

    def current_image_id(state: ChatState) -> Optional[str]:
        versions = state.get("versions") or []
        return versions[state["cursor"]]["image"] if versions else None

    def compose(state: ChatState, upto: int) -> str:
        """Gives back the id of the version image with the kept attempts of steps before `upto` applied."""
        image_id = current_image_id(state)
        for work in state["work"][:upto]:
            if work.get("kept") is None:
                continue
            attempt = work["attempts"][work["kept"]]
            if work.get("base") == image_id or attempt["mask"] is None:
                image_id = attempt["image"]
                continue
            # The step was made on an older base (an earlier step was retried): paste only its region.
            alpha = store.get_mask(attempt["mask"])[..., None]
            base = np.asarray(store.get(image_id), np.float32)
            edit = np.asarray(store.get(attempt["image"]), np.float32)
            mixed = np.where(alpha > 0, np.rint(base * (1 - alpha) + edit * alpha), base)
            image_id = store.put(Image.fromarray(mixed.astype(np.uint8)))
        return image_id

    def history_lines(state: ChatState) -> list[str]:
        return [v["instruction"] for v in (state.get("versions") or [])[1:]][-6:]

    def previous_targets(state: ChatState) -> list[str]:
        versions = state.get("versions") or []
        return versions[state["cursor"]]["targets"] if versions else []

    # ---- nodes -----------------------------------------------------------------------------------

    def start(state: ChatState) -> dict:
        """Stores an upload as a new version and resets the turn's fields."""
        text = (state.get("instruction") or "").strip()
        update: dict = {
            "messages": [HumanMessage(content=text or "(image)")],
            "plan": None,
            "planner": "rules",
            "planner_note": None,
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
            versions.append({"image": upload, "parent": None, "instruction": "uploaded", "masks": [], "targets": []})
            update.update(versions=versions, cursor=len(versions) - 1, redo=[], pending=None)
        return update

    def route_turn(state: ChatState) -> str:
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
            lines = [
                f"{i}. {v['instruction']}" + ("  <- current" if i == cursor else "") for i, v in enumerate(versions)
            ]
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
                "reply": f"Undid \"{versions[cursor]['instruction']}\".",
                "report": {"command": "undo"},
            }
        if not redo:
            return {"reply": "There is nothing to redo.", "report": {"command": "redo"}}
        target = redo.pop()
        return {
            "cursor": target,
            "redo": redo,
            "reply": f"Redid \"{versions[target]['instruction']}\".",
            "report": {"command": "redo"},
        }

    def answer(state: ChatState) -> dict:
        """Answers a question about the current image with the VLM, or says that needs one."""
        if llm is None:
            return {
                "reply": "I can only answer questions about the picture with a vision LLM configured "
                "(set CHATEDIT_LLM_BASE_URL / CHATEDIT_LLM_API_KEY). Tell me an edit instead, e.g. "
                "'remove the cup'."
            }
        from chatedit.agent.llm import answer_with_llm

        result = answer_with_llm(llm, store.get(current_image_id(state)), state["instruction"], history_lines(state))
        reply = result.value or f"I could not get an answer from the LLM ({result.error})."
        return {"reply": reply, "llm_calls": state.get("llm_calls", 0) + result.calls}

    def plan(state: ChatState) -> dict:
        """Makes the plan (or resumes the one that waited for the user's choice)."""
        started = time.perf_counter()
        timings = dict(state.get("timings") or {})
        pending = state.get("pending")
        choice = None
        if pending:
            candidates = [choose.Detection(d["label"], tuple(d["box"]), d["score"]) for d in pending["candidates"]]
            choice = choose.parse_choice(state["instruction"], len(candidates)) or choose.select(
                state["instruction"], candidates
            )
        if pending and choice is not None:
            the_plan = Plan.model_validate(pending["plan"])
            planner, calls, note = pending["planner"], 0, None
        else:
            image = store.get(current_image_id(state))
            planned = make_plan(state["instruction"], image, history_lines(state), previous_targets(state), llm=llm)
            the_plan, planner, calls, note = planned.plan, planned.planner, planned.calls, planned.note
        work = [{"step": s.model_dump(), "status": "pending", "attempts": [], "kept": None} for s in the_plan.steps]
        if pending and choice is not None:
            work[pending["step"]]["choice"] = [pending["candidates"][i]["box"] for i in choice]
        _timed("plan", timings, started)
        _emit("plan", plan=the_plan.model_dump(), planner=planner)
        return {
            "plan": the_plan.model_dump(),
            "planner": planner,
            "planner_note": note,
            "pending": None,
            "work": work,
            "queue": list(range(len(work))),
            "llm_calls": state.get("llm_calls", 0) + calls,
            "reply": the_plan.message if not the_plan.steps else None,
            "timings": timings,
        }

    def next_step(state: ChatState) -> dict:
        """Takes the next step of this round's queue."""
        queue = list(state.get("queue") or [])
        if not queue:
            return {"current": -1}
        index = queue.pop(0)
        step = state["work"][index]["step"]
        _emit("step", index=index + 1, total=len(state["work"]), category=step["category"], target=step.get("target"))
        return {"current": index, "queue": queue}

    def route_next(state: ChatState) -> str:
        if state["current"] < 0:
            return "judge" if state["work"] else "respond"
        work = state["work"][state["current"]]
        # A retry keeps the located region, except for an add, which tries another place.
        needs_place = work.get("region") is None or work["step"]["category"] == "add"
        if work["step"]["category"] == "global":
            needs_place = False
        return "locate" if needs_place else "edit"

    def locate(state: ChatState) -> dict:
        """Finds where the step acts; a step that cannot be placed is skipped, the others go on."""
        try:
            return find_region(state)
        except InputError as exc:
            work = [dict(w) for w in state["work"]]
            work[state["current"]].update(status="skipped", message=f"Skipped: {exc}")
            return {"work": work}

    def find_region(state: ChatState) -> dict:
        """Finds where the step acts: the target's mask, a place for a new object, or the background."""
        started = time.perf_counter()
        timings = dict(state.get("timings") or {})
        work = [dict(w) for w in state["work"]]
        index = state["current"]
        item = work[index]
        step = item["step"]
        base_id = compose(state, index)
        image = store.get(base_id)
        width, height = image.size
        category = step["category"]
        item["base"] = base_id
        result: dict = {"work": work, "timings": timings}

        if category == "add":
            tries = len(item["attempts"])
            if step.get("box") and tries == 0:
                box = L.parse_box(step["box"], width, height)
            else:
                phrases = [step["anchor"]] if step.get("anchor") else []
                found = toolbox.detect(image, phrases) if phrases else {}
                anchors = found.get(step.get("anchor"), []) if phrases else []
                anchor = anchors[0].box if anchors else None
                # Earlier tries' boxes count as obstacles, so a retry lands somewhere else.
                obstacles = [a.get("box") for a in item["attempts"] if a.get("box")]
                box = L.place_object(
                    (width, height), step["prompt"], step.get("relation"), anchor, obstacles, anchor_name=step.get("anchor")
                )
            region = L.add_mask((width, height), box)
        elif category == "background":
            subject = step.get("target")
            phrases = [subject] if subject else SALIENT_PHRASES
            found = toolbox.detect(image, phrases)
            best = max((d for dets in found.values() for d in dets), key=lambda d: d.score, default=None)
            if best is None:
                # Nothing to keep in front: the whole picture is background.
                box, region = None, np.ones((height, width), bool)
            else:
                box = list(best.box)
                subject = toolbox.segment_box(image, best.box)
                if not subject.any() or subject.all():
                    subject = M.box_mask((height, width), best.box)
                region = L.background_mask(subject)
        else:
            target = step.get("target") or ""
            if item.get("choice"):
                boxes = item["choice"]
            else:
                detections = toolbox.detect(image, [target]).get(target, [])
                candidates = choose.contenders(detections)
                if not candidates:
                    item.update(status="not_found", message=f"I could not find {_the(target)} in the picture, so I left that part unchanged.")
                    _emit("not_found", index=index + 1, target=target)
                    _timed("locate", timings, started)
                    return result
                text = f"{step.get('instruction', '')} {state.get('instruction', '')}"
                picked = choose.select(text, candidates)
                if picked is None and choose.wants_all(text, target):
                    picked = list(range(len(candidates)))
                if picked is None and toolbox.settings.ask_when_ambiguous and choose.should_ask(candidates):
                    where = choose.describe(candidates, width, height)
                    options = "; ".join(f"{i + 1}: the one {w}" for i, w in enumerate(where))
                    question = (
                        f"I see {len(candidates)} {target}s ({options}). Which one should I edit? "
                        "Answer with a number, 'the left one', or 'all'."
                    )
                    _emit("question", text=question)
                    _timed("locate", timings, started)
                    result.update(
                        reply=question,
                        pending={
                            "plan": state["plan"],
                            "planner": state.get("planner", "rules"),
                            "step": index,
                            "candidates": [{"label": d.label, "box": list(d.box), "score": d.score} for d in candidates],
                        },
                    )
                    return result
                if picked is None:
                    # Not worth a question: take the most likely one.
                    picked = [max(range(len(candidates)), key=lambda i: candidates[i].score)]
                boxes = [list(candidates[i].box) for i in picked]
            region = M.union(*[toolbox.segment_box(image, b) for b in boxes])
            box = [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]
            if not region.any():
                region = M.union(*[M.box_mask((height, width), b) for b in boxes])
        item.update(region=store.put_mask(region), box=list(box) if box is not None else None)
        _emit("located", index=index + 1, mask=item["region"], box=item["box"])
        _timed("locate", timings, started)
        return result

    def route_located(state: ChatState) -> str:
        if state.get("pending"):
            return "respond"
        return "next_step" if state["work"][state["current"]]["status"] in ("not_found", "skipped") else "edit"

    def edit(state: ChatState) -> dict:
        """Makes one attempt at the current step, changed from the earlier attempts."""
        timings = dict(state.get("timings") or {})
        work = [dict(w) for w in state["work"]]
        index = state["current"]
        item = work[index]
        step = item["step"]
        tries = len(item["attempts"])
        base_id = compose(state, index)
        item["base"] = base_id
        image = store.get(base_id)
        seed_now = base_seed + 1009 * tries
        prompt = item.get("new_prompt") or step["prompt"]
        region = store.get_mask(item["region"]) > 0.5 if item.get("region") else None

        def on_step(i: int, total: int) -> None:
            _emit("progress", index=index + 1, step=i + 1, total=total)

        category = step["category"]
        started = time.perf_counter()
        if category == "global":
            stage = "global_edit"
            # Stronger text guidance on each retry: the usual failure is an edit too weak to see.
            result = toolbox.global_edit(image, prompt, seed=seed_now, guidance=7.5 + 2.0 * tries, on_step=on_step)
        elif category == "remove":
            stage = "inpaint"
            dilation = int(M.dilation_for(region) * (1 + 0.5 * tries))
            result = toolbox.remove(image, region, step.get("target") or "", prompt=prompt, dilation=dilation, seed=seed_now, on_step=on_step)
        elif category == "local" and toolbox.settings.local_mode == "zone":
            stage = "global_edit"
            result = toolbox.zone_edit(image, step.get("instruction") or prompt, region, seed=seed_now, on_step=on_step)
        else:
            stage = "inpaint"
            negative = step.get("target") if category == "replace" else ""
            result = toolbox.inpaint(image, region, prompt, negative_prompt=negative or "", seed=seed_now, on_step=on_step)
        _timed(stage, timings, started)
        started = time.perf_counter()
        attempt = {
            "image": store.put(result.image),
            "mask": store.put_mask(result.mask) if result.mask is not None else None,
            "passed": False,
            "reason": "",
            "score": 0.0,
            "seed": seed_now,
            "prompt": prompt,
            "box": item.get("box"),
            # The tools retry once at a smaller working size after a GPU out-of-memory error; the report says so.
            "oom_retry": bool(result.info.get("oom_retry")),
        }
        _timed("store", timings, started)
        item["attempts"] = list(item["attempts"]) + [attempt]
        return {"work": work, "timings": timings}

    def verify(state: ChatState) -> dict:
        """Runs the model checks on the attempt just made."""
        started = time.perf_counter()
        timings = dict(state.get("timings") or {})
        work = [dict(w) for w in state["work"]]
        item = work[state["current"]]
        attempt = dict(item["attempts"][-1])
        mask = store.get_mask(attempt["mask"]) if attempt["mask"] else None
        region = store.get_mask(item["region"]) > 0.5 if item.get("region") else None
        check = check_attempt(
            toolbox, item["step"], store.get(item["base"]), store.get(attempt["image"]), mask, region, item.get("box")
        )
        attempt.update(passed=check.passed, reason=check.reason, score=check.score, evidence=check.evidence)
        item["attempts"] = item["attempts"][:-1] + [attempt]
        item["kept"] = len(item["attempts"]) - 1
        _emit("checked", index=state["current"] + 1, passed=check.passed, reason=check.reason)
        _timed("verify", timings, started)
        return {"work": work, "timings": timings}

    def judge(state: ChatState) -> dict:
        """Decides each step of this round (one LLM call, or the model checks) and queues retries."""
        started = time.perf_counter()
        timings = dict(state.get("timings") or {})
        work = [dict(w) for w in state["work"]]
        tried = [i for i, w in enumerate(work) if w["attempts"] and w["status"] == "pending"]
        calls = state.get("llm_calls", 0)
        verdicts: dict[int, dict] = {}
        judge_error: Optional[str] = None
        if llm is not None and tried:
            from chatedit.agent.llm import judge_with_llm

            evidence = [
                {"step": i + 1, "category": work[i]["step"]["category"], "target": work[i]["step"].get("target"),
                 "checks": work[i]["attempts"][-1].get("evidence"), "model_check_passed": work[i]["attempts"][-1]["passed"],
                 "model_check_reason": work[i]["attempts"][-1]["reason"]}
                for i in tried
            ]
            after = store.get(compose(state, len(work)))
            result = judge_with_llm(llm, store.get(current_image_id(state)), after, Plan.model_validate(state["plan"]), evidence)
            calls += result.calls
            judge_error = result.error
            for verdict in result.value or []:
                verdicts[verdict.step - 1] = {"passed": verdict.passed, "reason": verdict.reason, "new_prompt": verdict.new_prompt}
        retry: list[int] = []
        for i in tried:
            item = work[i]
            attempts = [dict(a) for a in item["attempts"]]
            verdict = verdicts.get(i)
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
            elif len(attempts) < max_attempts:
                retry.append(i)
            else:
                best = max(range(len(attempts)), key=lambda k: attempts[k]["score"])
                item.update(status="failed", kept=best)
            _emit("verdict", index=i + 1, passed=attempts[-1]["passed"], reason=attempts[-1]["reason"])
        if retry:
            # Whole-image steps after a retried step were made on its old result: make them again.
            first = min(retry)
            replay = [i for i, w in enumerate(work) if i > first and w["step"]["category"] == "global" and i not in retry]
            for i in replay:
                work[i]["status"] = "pending"
            retry = sorted(set(retry) | set(replay))
        _timed("verify", timings, started)
        return {"work": work, "queue": retry, "round": state.get("round", 1) + (1 if retry else 0), "llm_calls": calls, "timings": timings}

    def route_judged(state: ChatState) -> str:
        return "next_step" if state.get("queue") else "respond"

    def respond(state: ChatState) -> dict:
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
            image_id = compose(state, len(work))
            versions = list(state["versions"])
            versions.append(
                {
                    "image": image_id,
                    "parent": state["cursor"],
                    "instruction": state["instruction"],
                    "masks": [w["attempts"][w["kept"]]["mask"] for w in edited if w["attempts"][w["kept"]]["mask"]],
                    "targets": [w["step"].get("target") or w["step"]["prompt"] for w in edited],
                }
            )
            update.update(versions=versions, cursor=len(versions) - 1, redo=[])
        if reply is None:
            reply = _summary(work)
        elif work and not state.get("pending"):
            reply = reply + "\n" + _summary(work)
        _timed("respond", timings, started)
        versions = update.get("versions") or state.get("versions") or []
        cursor = update.get("cursor", state.get("cursor", 0))
        report = {
            "image": versions[cursor]["image"] if versions else None,
            "version": cursor if versions else None,
            "planner": state.get("planner", "rules"),
            "planner_note": state.get("planner_note"),
            "llm_calls": state.get("llm_calls", 0),
            "message": reply,
            "question": bool(state.get("pending")),
            "steps": [_step_report(w) for w in work],
            "timings_ms": {k: round(v, 1) for k, v in timings.items()},
        }
        _emit("done", message=reply)
        update.update(reply=reply, report=report, messages=[AIMessage(content=reply)])
        return update

    def finish_command(state: ChatState) -> dict:
        """Writes the answer of a command or question turn."""
        versions = state.get("versions") or []
        cursor = state.get("cursor", 0)
        report = {
            "image": versions[cursor]["image"] if versions else None,
            "version": cursor if versions else None,
            "planner": None,
            "planner_note": None,
            "llm_calls": state.get("llm_calls", 0),
            "message": state["reply"],
            "question": False,
            "steps": [],
            "timings_ms": {},
            **(state.get("report") or {}),
        }
        _emit("done", message=state["reply"])
        return {"report": report, "messages": [AIMessage(content=state["reply"])]}

    builder = StateGraph(ChatState)
    for node in (start, command, answer, plan, next_step, locate, edit, verify, judge, respond):
        builder.add_node(node.__name__, node)
    builder.add_node("finish", finish_command)
    builder.add_edge(START, "start")
    # The user's text decides the path: command, question, or an edit to plan.
    builder.add_conditional_edges("start", route_turn, ["command", "answer", "plan", "respond"])
    # Commands and answers need no edit.
    builder.add_edge("command", "finish")
    builder.add_edge("answer", "finish")
    builder.add_edge("finish", END)
    # A plan with steps starts the first round; a plan without steps is answered at once.
    builder.add_conditional_edges("plan", lambda s: "next_step" if s["work"] else "respond", ["next_step", "respond"])
    # Each queued step is located (first try, or a new place for an add) or edited again.
    builder.add_conditional_edges("next_step", route_next, ["locate", "edit", "judge", "respond"])
    # A found target is edited; a missing one is skipped; an ambiguous one becomes a question.
    builder.add_conditional_edges("locate", route_located, ["edit", "next_step", "respond"])
    # Every attempt is checked before the next step.
    builder.add_edge("edit", "verify")
    builder.add_edge("verify", "next_step")
    # Failed steps with attempts left go round again; otherwise answer.
    builder.add_conditional_edges("judge", route_judged, ["next_step", "respond"])
    builder.add_edge("respond", END)
    return builder.compile(checkpointer=checkpointer, name=name)


def _the(target: str) -> str:
    return f"the {target}" if target and not target.lower().startswith(("the ", "a ", "an ")) else (target or "the target")


def _step_report(work: dict) -> dict:
    step = work["step"]
    kept = work.get("kept")
    attempts = work.get("attempts") or []
    return {
        "category": step["category"],
        "target": step.get("target"),
        "prompt": step["prompt"],
        "status": work.get("status"),
        "passed": work.get("status") == "done",
        "mask": attempts[kept]["mask"] if kept is not None else None,
        "attempts": [
            {
                "passed": a["passed"],
                "reason": a["reason"],
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
    for i, item in enumerate(work, 1):
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
            lines.append(f"Not sure this worked: {what}. After {tried} the check still says {reason}; I kept the best try.")
        else:
            lines.append(item.get("message") or f"Skipped: {what}.")
    return "\n".join(lines) if lines else "Nothing to change."
