"""The chat-turn graph for LangGraph tooling (LangGraph Studio, Agent Chat UI, `langgraph dev`).

`langgraph.json` in the repository root points at the graph factory `make_graph`. To open the graph
in Studio:

    pip install -U "langgraph-cli[inmem]"
    CHATEDIT_MODELS=tiny langgraph dev        # real models: leave CHATEDIT_MODELS unset

A chat UI sends a human message with text and an image part; `read_message` stores the image and
sets the turn's instruction, `turn` runs the chatedit graph, and `show` adds the path of the current
picture in the image store to the answer (the thread holds ids and paths, never pixels).

A LangGraph server gives a graph its run context from the run's (or the assistant's) `context`, a
JSON object it turns into the graph's `context_schema`, here `StudioContext`: plain settings, shown
as a form in Studio, whose defaults come from the environment (CHATEDIT_MODELS, CHATEDIT_DEVICE,
CHATEDIT_FINDER, CHATEDIT_DATA_DIR, CHATEDIT_MAX_ATTEMPTS, CHATEDIT_SEED; CHATEDIT_LLM_* for the vision LLM). The
models and the image store they name are loaded once per process and handed to the chatedit graph
as its `Context`. The server supplies its own checkpointer, so sessions are its threads; pictures go
where the Editor keeps them: the database of CHATEDIT_DATABASE_URL (PostgreSQL shared by replicas),
else the image folder of the data dir.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional

from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from chatedit.agent.config import Settings
from chatedit.agent.context import Context
from chatedit.agent.database import Database, open_database
from chatedit.agent.graph import build_graph
from chatedit.agent.state import ChatState
from chatedit.agent.store import ImageStore
from chatedit.agent.toolbox import EditSettings, Toolbox
from chatedit.tools.images import load_image
from chatedit.tools.models import get_models

TURN = build_graph(name="chatedit-turn", input_schema=ChatState)
"""The chatedit graph one chat message runs; it checkpoints into the server's checkpointer."""


@dataclass(kw_only=True)
class StudioContext:
    """The settings a LangGraph server run may carry as its `context`."""

    models: str = field(default_factory=lambda: Settings().models)
    """The model choice: `auto` (real checkpoints), a family, or `family:weights` such as `classic:tiny`."""
    device: str = field(default_factory=lambda: Settings().device)
    """Where the models run: `auto`, `cpu` or `cuda`."""
    finder: str = field(default_factory=lambda: Settings().finder)
    """What finds and outlines objects: `auto`, `dino-sam` or `sam3`."""
    data_dir: str = field(default_factory=lambda: str(Settings().data_dir))
    """Folder of the image store the thread's ids refer to."""
    max_attempts: int = field(default_factory=lambda: Settings().max_attempts)
    """Tries per step before the best failed one is kept."""
    max_steps: int = field(default_factory=lambda: Settings().max_steps)
    """Most edit steps one message may ask for."""
    seed: int = field(default_factory=lambda: Settings().seed)
    """Base seed of every generation."""


@lru_cache(maxsize=4)
def _toolbox(models: str, device: str, finder: str) -> Toolbox:
    """Gives back the tools on the named models and finder, loaded once per process."""
    return Toolbox(get_models(models, device, finder=finder), EditSettings())


def _image_store(data_dir: str) -> ImageStore:
    """Gives back the image store the Editor would use: CHATEDIT_DATABASE_URL's, else the one in `data_dir`."""
    # The URL comes from the environment only, never from the run context: it may carry a password,
    # and a LangGraph server stores and shows each run's context.
    return _database(Settings().database_url, data_dir).store


@lru_cache(maxsize=4)
def _database(url: Optional[str], data_dir: str) -> Database:
    """Gives back the database a URL names (None: the data dir's), opened once per process."""
    return open_database(url, Path(data_dir))


@lru_cache(maxsize=1)
def _llm():
    """Gives back the vision LLM the environment configures, or None."""
    from chatedit.agent.llm import configured_chat_model

    return configured_chat_model()


def _settings(runtime: Runtime[StudioContext]) -> StudioContext:
    """Gives back the run's settings; a run without a context takes the environment's."""
    return runtime.context or StudioContext()


def _parts(message: HumanMessage) -> tuple[str, list[str]]:
    """Gives back a message's text and its images (data URLs), in the formats LangChain UIs send."""
    content = message.content
    if isinstance(content, str):
        return content, []
    texts, images = [], []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif part.get("type") == "text":
            texts.append(part.get("text", ""))
        elif part.get("type") == "image_url":
            url = part["image_url"]
            images.append(url["url"] if isinstance(url, dict) else url)
        elif part.get("type") == "image":
            data = part.get("data") or part.get("base64")
            mime = part.get("mime_type") or part.get("mimeType") or "image/png"
            images.append(f"data:{mime};base64,{data}" if data else part.get("url", ""))
    return "\n".join(texts), [url for url in images if url]


def read_message(state: ChatState, runtime: Runtime[StudioContext]) -> dict:
    """Takes this turn's instruction and picture from the newest human message.

    The message is replaced by the turn's own text-only copy (added by `start`), so the thread keeps
    no pixels: the picture goes to the image store and only its id moves on.
    """
    messages = state.get("messages") or []
    if not messages or not isinstance(messages[-1], HumanMessage):
        # Called with {"instruction", "upload"} directly (the chatedit graph's own input).
        return {}
    text, images = _parts(messages[-1])
    store = _image_store(_settings(runtime).data_dir)
    upload = store.put(load_image(images[-1])) if images else None
    # The server's checkpoint names the picture: it must be stored first (another replica may read it).
    store.flush()
    return {"instruction": text.strip(), "upload": upload, "messages": [RemoveMessage(id=messages[-1].id)]}


def turn(state: ChatState, runtime: Runtime[StudioContext]) -> dict:
    """Runs the chatedit graph on this turn, with the models and store the settings name."""
    settings = _settings(runtime)
    store = _image_store(settings.data_dir)
    context = Context.of(
        settings, toolbox=_toolbox(settings.models, settings.device, settings.finder), images=store, llm=_llm()
    )
    update = TURN.invoke(state, context=context)
    store.flush()
    return update


def show(state: ChatState, runtime: Runtime[StudioContext]) -> dict:
    """Points the answer at the current picture's file in the image store."""
    messages = state.get("messages") or []
    image_id: Optional[str] = (state.get("report") or {}).get("image")
    if not (image_id and messages and isinstance(messages[-1], AIMessage)):
        return {}
    answer = messages[-1]
    path = _image_store(_settings(runtime).data_dir).path(image_id)
    return {"messages": [AIMessage(id=answer.id, content=f"{answer.content}\n\nImage: {path}")]}


def make_graph():
    """Gives back the chatedit graph wrapped for chat UIs; settings come with each run's context."""
    builder = StateGraph(ChatState, context_schema=StudioContext)
    for node in (read_message, turn, show):
        builder.add_node(node)
    # A chat UI's message becomes the turn's input.
    builder.add_edge(START, "read_message")
    # The chatedit graph runs the turn.
    builder.add_edge("read_message", "turn")
    # Its answer gets the picture's path.
    builder.add_edge("turn", "show")
    # One message, one run.
    builder.add_edge("show", END)
    return builder.compile(name="chatedit")
