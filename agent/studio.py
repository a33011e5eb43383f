"""The chat-turn graph for LangGraph tooling (LangGraph Studio, Agent Chat UI, `langgraph dev`).

`langgraph.json` in the repository root points here. To open the graph in Studio:

    pip install -U "langgraph-cli[inmem]"
    CHATEDIT_MODELS=tiny langgraph dev        # real models: leave CHATEDIT_MODELS unset

A chat UI sends a human message with text and an image part; `read_message` stores the image and
sets the turn's instruction, the chatedit graph runs the turn, and `show` adds a preview of the
current picture to the answer. Settings come from the environment: CHATEDIT_MODELS (profile),
CHATEDIT_DEVICE, CHATEDIT_DATA_DIR (image store), CHATEDIT_LLM_* (the vision LLM). The LangGraph
server supplies its own checkpointer, so sessions are its threads.
"""

from __future__ import annotations

import base64
import io
import os

from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage
from langgraph.graph import END, START, StateGraph

from agent.graph import build_graph
from agent.session import default_data_dir
from agent.state import ChatState
from agent.store import ImageStore
from agent.toolbox import EditSettings, Toolbox
from tools.images import load_image
from tools.models import get_models

PREVIEW_SIDE = 768
"""Largest side of the preview shown in the chat UI; the full picture stays in the image store."""


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


def make_graph():
    """Gives back the compiled chatedit graph wrapped for chat UIs, with models from the environment."""
    store = ImageStore(default_data_dir() / "images")
    models = get_models(os.environ.get("CHATEDIT_MODELS", "default"), os.environ.get("CHATEDIT_DEVICE", "auto"))
    llm = None
    from agent.llm import LLMSettings, make_chat_model

    if LLMSettings().configured:
        llm = make_chat_model(LLMSettings())
    turn = build_graph(Toolbox(models, EditSettings()), store, llm=llm, name="chatedit-turn")

    def read_message(state: ChatState) -> dict:
        """Takes this turn's instruction and picture from the newest human message."""
        messages = state.get("messages") or []
        if not messages or not isinstance(messages[-1], HumanMessage):
            # Called with {"instruction", "upload"} directly (the graph's own input).
            return {}
        text, images = _parts(messages[-1])
        upload = store.put(load_image(images[-1])) if images else None
        return {"instruction": text.strip(), "upload": upload}

    def show(state: ChatState) -> dict:
        """Adds a preview of the current picture to the answer, and drops the turn's copy of the question."""
        messages = state.get("messages") or []
        humans = [m for m in messages if isinstance(m, HumanMessage)]
        update: list = []
        # The turn graph records the user's text as a message of its own; the original (with its
        # picture) is already in the thread.
        if len(humans) >= 2 and _parts(humans[-2])[0].strip() in (humans[-1].content, ""):
            update.append(RemoveMessage(id=humans[-1].id))
        image_id = (state.get("report") or {}).get("image")
        if image_id and messages and isinstance(messages[-1], AIMessage):
            preview = store.get(image_id)
            preview.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
            buffer = io.BytesIO()
            preview.save(buffer, format="JPEG", quality=85)
            url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
            answer = messages[-1]
            update.append(
                AIMessage(
                    id=answer.id,
                    content=[
                        {"type": "text", "text": answer.content},
                        {"type": "image_url", "image_url": {"url": url}},
                    ],
                )
            )
        return {"messages": update} if update else {}

    builder = StateGraph(ChatState)
    builder.add_node("read_message", read_message)
    builder.add_node("turn", turn)
    builder.add_node("show", show)
    # A chat UI's message becomes the turn's input; the turn runs; its answer gets the picture.
    builder.add_edge(START, "read_message")
    builder.add_edge("read_message", "turn")
    builder.add_edge("turn", "show")
    builder.add_edge("show", END)
    return builder.compile(name="chatedit")
