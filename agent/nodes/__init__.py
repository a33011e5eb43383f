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

from chatedit.agent.nodes.attempt import edit, judge, verify
from chatedit.agent.nodes.turn import answer, command, finish, locate, next_step, plan, respond, start

__all__ = ["answer", "command", "edit", "finish", "judge", "locate", "next_step", "plan", "respond", "start", "verify"]
