"""The turn report: what was asked, planned and done, where each step acted and how each try went.

Built once per turn by `turn_report`, for `respond` (edit turns) and `finish` (commands, questions).
The report holds store ids, never pixels or paths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from chatedit.agent.events import step_name
from chatedit.agent.state import ChatState


def turn_report(
    state: ChatState,
    reply: str,
    *,
    versions: list,
    cursor: int,
    models: Optional[dict] = None,
    timings: Optional[dict] = None,
    edited: bool = True,
    llm: Optional[dict] = None,
) -> dict:
    """Gives back the report of a turn that answered `reply` and left the session at `cursor`.

    Args:
        state: the turn's state.
        reply: the answer.
        versions: the session's versions after the turn.
        cursor: the current version after the turn.
        models: what ran (`ModelSet.report()`), for edit turns.
        timings: milliseconds per stage.
        edited: an edit turn (planned, maybe edited); False for commands and questions.
        llm: which LLM planned and judged ({"source", "model"}); None when the rules did.
    """
    drawn = bool(state.get("user_mask"))
    work = (state.get("work") or []) if edited else []
    report = {
        "image": versions[cursor]["image"] if versions else None,
        "version": cursor if versions else None,
        "planner": state.get("planner", "rules") if edited else None,
        "planner_note": state.get("planner_note") if edited else None,
        "planner_mode": state.get("planner_mode") if edited else None,
        "judge_mode": state.get("judge_mode") if edited else None,
        "llm_calls": state.get("llm_calls", 0),
        "llm_tokens": state.get("llm_tokens", 0),
        "llm": llm,
        "message": reply,
        "question": bool(state.get("pending")) if edited else False,
        "steps": [step_report(w, drawn) for w in work],
        "timings_ms": {k: round(v, 1) for k, v in (timings or {}).items()},
    }
    if models is not None:
        report["models"] = models
    return report


def step_report(work: Mapping[str, Any], drawn: bool) -> dict:
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
                "changed": a.get("changed") or [],
            }
            for a in attempts
        ],
    }


def summary(work: Sequence[Mapping[str, Any]]) -> str:
    """Gives back an honest one-line-per-step account of what was done."""
    lines = []
    for item in work:
        step = item["step"]
        what = step_name(step)
        status = item.get("status")
        tries = len(item.get("attempts") or [])
        if status == "done":
            lines.append(f"Done: {what}" + (f" (after {tries} tries{_changed(item)})" if tries > 1 else "") + ".")
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


def _changed(item: Mapping[str, Any]) -> str:
    """Gives back what the kept attempt changed from the first, for the summary ("; the last with ...")."""
    kept = item.get("kept")
    changed = item["attempts"][kept].get("changed") if kept is not None else None
    return f"; the one kept with {', '.join(changed)}" if changed else ""
