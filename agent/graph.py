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

This module is the wiring: the routers (which node comes next) and `build_graph`. The nodes are in
agent/nodes/, where a step's region is found in agent/regions.py, and the report is written by
agent/report.py. Every node is a plain function of the state; what it works with (toolbox, image
store, LLM, settings) comes from `runtime.context`, a `Context` (agent/context.py).
"""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END, START, StateGraph

from chatedit.agent.context import Context
from chatedit.agent.nodes import answer, command, edit, finish, judge, locate, next_step, plan, respond, start, verify
from chatedit.agent.rules import is_question, parse_command
from chatedit.agent.state import ChatInput, ChatState

# ---- routers: which node comes next ----------------------------------------------------------------


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


def route_planned(state: ChatState) -> Literal["next_step", "respond"]:
    """A plan with steps starts the first round; a plan without steps is answered at once."""
    return "next_step" if state["work"] else "respond"


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


def route_located(state: ChatState) -> Literal["edit", "next_step", "respond"]:
    """A found target is edited; a missing one is skipped; an ambiguous one becomes a question."""
    if state.get("pending"):
        return "respond"
    return "next_step" if state["work"][state["current"]]["status"] in ("not_found", "skipped") else "edit"


def route_judged(state: ChatState) -> Literal["next_step", "respond"]:
    """Failed steps with attempts left go round again; otherwise answer."""
    return "next_step" if state.get("queue") else "respond"


# ---- the graph -----------------------------------------------------------------------------------


def build_graph(checkpointer=None, name: str = "chatedit", input_schema: type = ChatInput):
    """Gives back the compiled chat-turn graph; run it with `context=Context(...)`.

    Args:
        checkpointer: a LangGraph checkpointer (sessions persist in it); None: the caller's, or none.
        name: the graph's name in traces and LangGraph tooling.
        input_schema: what a caller sends for one turn (`ChatInput`); a graph that carries the session's
            state itself from turn to turn (the LangGraph entry) passes `ChatState`.
    """
    builder = StateGraph(ChatState, context_schema=Context, input_schema=input_schema)
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
