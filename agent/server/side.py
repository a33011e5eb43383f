"""Open WebUI's side requests (a chat title, tags, follow-up suggestions), answered from the conversation.

With an LLM configured, the frontend's own prompt goes to it and its JSON answer is passed on when it
has the asked-for key. Otherwise, or when the LLM fails, the answer is derived from what the user
wrote: the rules planner reads each instruction, and its targets and kinds of edit become the tags
and the follow-up suggestions. The models that edit pictures are never touched.
"""

from __future__ import annotations

import json
import re
from typing import Optional

from langchain_core.language_models import BaseChatModel

from chatedit.agent.llm import text_with_llm
from chatedit.agent.plan import Step
from chatedit.agent.rules import plan_rules

_TASK_JSON_KEY = re.compile(r"\{\s*\"(\w+)\"\s*:")
_HISTORY_USER_LINE = re.compile(r"^\s*USER:\s*(.+)$", re.M)
_JSON_OBJECT = re.compile(r"\{.*\}", re.S)
_KIND_TAGS = {
    "remove": "Object Removal",
    "replace": "Object Replacement",
    "local": "Recolouring",
    "add": "Adding Objects",
    "background": "Background Change",
    "global": "Style Change",
}
EDITING_TAG = "Image Editing"


def is_side_task(text: str, system: list[str]) -> bool:
    """Tells whether a request is a frontend's housekeeping prompt rather than a user's instruction."""
    head = text.lstrip()
    if head.startswith("### Task:") and "<chat_history>" in text:
        return True
    return any(s.lstrip().startswith("Available Tools:") and "tool_calls" in s for s in system) or (
        head.startswith("Available Tools:") and "tool_calls" in text
    )


def _asks_for_tools(task: str, system: list[str]) -> bool:
    return any(s.lstrip().startswith("Available Tools:") for s in system) or task.startswith("Available Tools:")


def task_key(task: str) -> str:
    """Gives back the JSON key a side task asks for (`title`, `tags`, `follow_ups`...; empty when none)."""
    head = task.partition("<chat_history>")[0]
    key = _TASK_JSON_KEY.search(head)
    return key.group(1) if key else ""


def side_answer(task: str, system: list[str], llm: Optional[BaseChatModel] = None) -> str:
    """Gives back the JSON text answering a frontend's side request: the LLM's when it answers well, else derived."""
    if _asks_for_tools(task, system):
        # chatedit is the tool: a frontend's own tools are never chosen.
        return json.dumps({"tool_calls": []})
    key = task_key(task)
    if llm is not None and key:
        answer = _from_llm(llm, task, key)
        if answer is not None:
            return answer
    return derived_answer(task, key)


def _from_llm(llm: BaseChatModel, task: str, key: str) -> Optional[str]:
    """Gives back the LLM's answer as JSON text when it holds `key`; None when it failed or has not."""
    result = text_with_llm(llm, task)
    if result.value is None:
        return None
    found = _JSON_OBJECT.search(result.value)
    try:
        answer = json.loads(found.group(0)) if found else None
    except ValueError:
        return None
    if not isinstance(answer, dict) or key not in answer:
        return None
    return json.dumps({key: answer[key]}, ensure_ascii=False)


def derived_answer(task: str, key: str) -> str:
    """Gives back the JSON text answering a side request from the user's own words in its chat history."""
    history = task.partition("<chat_history>")[2].partition("</chat_history>")[0]
    asked = [line.strip() for line in _HISTORY_USER_LINE.findall(history) if line.strip()]
    if key == "title":
        return json.dumps({"title": f"🖼️ {title_of(asked)}"}, ensure_ascii=False)
    steps = [step for line in asked for step in plan_rules(line).steps]
    if key == "tags":
        return json.dumps({"tags": tags_of(steps)}, ensure_ascii=False)
    if key == "follow_ups":
        return json.dumps({"follow_ups": follow_ups_of(steps)}, ensure_ascii=False)
    if key in ("queries", "tool_calls"):
        return json.dumps({key: []})
    return json.dumps({key: ""}) if key else "{}"


def title_of(asked: list[str]) -> str:
    """Gives back a chat title: the first instruction's first five words."""
    words = re.sub(r"[^\w\s'-]", " ", asked[0] if asked else "").split()[:5]
    return " ".join(words).capitalize() if words else "Image edit"


def _things(step: Step) -> list[str]:
    """Gives back the objects a step is about: its target, its anchor, and what it adds or puts instead."""
    made = step.prompt if step.category in ("replace", "add") else None
    things = [step.target, step.anchor, made]
    return [re.sub(r"^(?:an?|the|some)\s+", "", thing.strip(), flags=re.I) for thing in things if thing]


def tags_of(steps: list[Step]) -> list[str]:
    """Gives back tags naming the objects edited and the kinds of edit, then image editing itself."""
    tags: list[str] = []
    for step in steps:
        tags += [thing.title() for thing in _things(step)] + [_KIND_TAGS[step.category]]
    tags.append(EDITING_TAG)
    return list(dict.fromkeys(tags))[:5]


def follow_ups_of(steps: list[Step]) -> list[str]:
    """Gives back edits a user could ask next, about the things the conversation edited."""
    ideas: list[str] = []
    for step in reversed(steps):
        things = _things(step)
        thing = things[-1] if things else None
        if step.category == "remove" and thing:
            ideas.append(f"Put a different {thing} in its place")
        elif step.category in ("replace", "add", "local") and thing:
            ideas += [f"Make the {thing} a different colour", f"Remove the {thing}"]
        elif step.category == "background":
            ideas.append("Try another background")
        elif step.category == "global":
            ideas.append(f"Make it stronger: {step.instruction}")
    ideas += ["Undo the last edit", "Show the edit history"]
    return list(dict.fromkeys(ideas))[:5]
