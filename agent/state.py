"""The graph's state: ids and small dicts only. Pixels live in the image store (agent/store.py).

One LangGraph thread is one session. Fields that outlive a turn (versions, cursor, pending question)
persist in the checkpointer; the turn fields are reset by `start` at the beginning of every turn.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional, Union, cast

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import NotRequired, TypedDict


class Version(TypedDict):
    """One image of the session: the original upload or the result of a turn."""

    image: str
    """Image id in the store."""
    parent: Optional[int]
    """Index of the version it was made from; None for an upload."""
    instruction: str
    """What made it ("uploaded" for an upload)."""
    masks: list[str]
    """Mask ids of the edits that made it (empty for uploads and global edits)."""
    targets: list[str]
    """What the turn acted on, so a later turn can say "it" or "the other one"."""
    request: NotRequired[Optional[str]]
    """The id of the request that made it (its Idempotency-Key under its API key), if it gave one."""
    made_at: NotRequired[float]
    """When it was made (Unix time): a request id finds its version again only for a while."""


class Attempt(TypedDict):
    """One try at one step."""

    image: str
    """The image id after this attempt (the whole picture, this step applied)."""
    mask: Optional[str]
    """Paste-mask id: nonzero where pixels were allowed to change; None for whole-image edits."""
    passed: bool
    reason: str
    score: float
    """Model-check score in [0, 1], used to keep the best attempt when all fail."""
    seed: int
    prompt: str
    box: Optional[list[float]]
    """Where the step acted for this attempt (an addition moves on a retry)."""
    oom_retry: Union[bool, str]
    """How this attempt was made again after the editor ran out of device memory (`"smaller size"`); False: it was not."""
    changed: NotRequired[list[str]]
    """What this attempt changed from the first, in words (a new seed, the family's retry levers); empty on the first."""
    evidence: NotRequired[dict]
    """What the model checks measured (change inside, changed outside, detector scores). Written by `verify`."""
    judge: NotRequired[str]
    """Who decided: "llm" or "model checks". Written by `judge`."""
    judge_note: NotRequired[str]
    """Why the model checks decided although an LLM is configured (its failure). Written by `judge`."""


class StepWork(TypedDict, total=False):
    """The work on one plan step during a turn."""

    step: dict
    """The plan's Step as a dict."""
    status: str
    """pending | done | not_found | failed | skipped."""
    base: str
    """Image id the step is applied to."""
    region: Optional[str]
    """Mask id of where the step acts (located target, add box, background, or the user's drawn
    mask), before dilation."""
    box: Optional[list[float]]
    """The located box (target or placement) in image pixels."""
    attempts: list[Attempt]
    kept: Optional[int]
    """Index of the attempt kept."""
    message: str
    """What to tell the user about this step."""
    choice: list[list[float]]
    """The boxes the user picked when asked which one (a resumed question). Written by `plan`."""
    new_prompt: str
    """The LLM judge's changed prompt for the next attempt. Written by `judge`, read by `edit`."""


def patch_work(current: list[StepWork], update: Union[list[StepWork], dict[int, dict]]) -> list[StepWork]:
    """The reducer of `work`: a list replaces it (a new plan, a new turn); {index: changes} updates those steps.

    Nodes say only what changed of the steps they touched; nothing else of the work is copied by hand.
    """
    if isinstance(update, list):
        return update
    work = list(current or [])
    for index, changes in update.items():
        work[index] = cast(StepWork, {**work[index], **changes})
    return work


def add_timings(current: dict[str, float], update: Optional[dict[str, float]]) -> dict[str, float]:
    """The reducer of `timings`: each node's milliseconds per stage are added up; None starts the turn at zero."""
    if update is None:
        return {}
    total = dict(current or {})
    for stage, ms in update.items():
        total[stage] = total.get(stage, 0.0) + ms
    return total


class ChatState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    """Conversation: the user's texts and the agent's answers. Written by `start`, `respond` and `finish`."""

    versions: list[Version]
    """All images of the session, oldest first. Appended by `start` (uploads) and `respond` (edits)."""
    cursor: int
    """Index of the current version; moved by undo/redo. Read by every turn as its starting image."""
    redo: list[int]
    """Versions undone, most recent last; cleared when a new edit is made. Written by `command`."""
    pending: Optional[dict]
    """A question waiting for the user's answer (ambiguous target): the plan, step index and candidate
    boxes. Written by `locate`; read by `route_turn` and `plan` on the next turn, and cleared by `plan`
    (or by a new upload or an undo)."""

    instruction: str
    """This turn's text. Written by the caller, read by `start` and `plan`."""
    upload: Optional[str]
    """Image id sent with this turn, if any. Written by the caller, read by `start`."""
    request_id: Optional[str]
    """The client's id of this request (its Idempotency-Key, scoped to its API key), kept on the version
    the turn makes so that the same request sent again is answered from it. Written by the caller, read
    by `respond`."""
    origin: Optional[str]
    """What made the upload, kept as its version's instruction (None: "uploaded"; a drawing names its
    prompt). Written by the caller, read by `start`."""
    user_mask: Optional[str]
    """Mask id of the region the user drew for this turn, if any: every step acts there, without
    detection. Written by the caller, read by `route_next`, `locate`, `edit` and `respond`, cleared by
    `respond` and `finish` so it never reaches the next turn."""
    plan: Optional[dict]
    """This turn's Plan as a dict. Written by `plan`, read by `locate`, `edit`, `respond`."""
    planner: str
    """Which planner made the plan: llm | rules. Written by `plan`."""
    planner_note: Optional[str]
    """Why the LLM planner was not used or failed, for the report. Written by `plan`."""
    planner_mode: Optional[str]
    """How the LLM planner was asked: tools (a Plan tool call) | json (a model that cannot call tools);
    None without an LLM. Written by `plan`."""
    judge_mode: Optional[str]
    """How the LLM judge was asked: tools | json; None when the model checks judged. Written by `judge`."""
    work: Annotated[list[StepWork], patch_work]
    """Per-step work of this turn (see `patch_work`). Written by `plan`, `locate`, `edit`, `verify`, `judge`; read by `respond`."""
    current: int
    """Index into `work` of the step being located or edited."""
    queue: list[int]
    """Steps still to edit in this round (first round: all; retry rounds: the failed ones)."""
    round: int
    """Attempt round: 1 for the first try of every step, 2.. for retries."""
    llm_calls: int
    """LLM requests made this turn (plan, judge, answers, retries included)."""
    llm_tokens: int
    """Tokens the LLM generated this turn (0 when a server does not say)."""
    reply: Optional[str]
    """The answer text for this turn. Written by `command`, `answer`, `plan` (nothing to edit), `locate`
    (a question) and `respond`; read by `finish` and `respond`."""
    timings: Annotated[dict[str, float], add_timings]
    """Milliseconds per stage this turn, added up by `add_timings` (plan, locate, inpaint, global_edit, verify, store, respond)."""
    report: dict[str, Any]
    """The turn report (see `respond` in agent/graph.py). Written by `respond`, `command` and `finish`."""


class ChatInput(TypedDict, total=False):
    """What a caller sends the graph for one turn (its input schema); everything else is the graph's own."""

    instruction: str
    """The user's text."""
    upload: Optional[str]
    """The id of a picture sent with the text, already in the image store."""
    user_mask: Optional[str]
    """The id of a mask the user drew, already in the store."""
    origin: Optional[str]
    """What made the upload, when it was not uploaded (a drawing from text)."""
    request_id: Optional[str]
    """The client's id of the request, for answering it again instead of editing twice."""
