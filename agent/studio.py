"""The chat-turn graph for LangGraph tooling (LangGraph Studio, Agent Chat UI, `langgraph dev`).

`langgraph.json` in the repository root points here. To open the graph in Studio:

    pip install -U "langgraph-cli[inmem]"
    CHATEDIT_MODELS=tiny langgraph dev        # real models: leave CHATEDIT_MODELS unset

A chat UI sends a human message with text and an image part; `read_message` stores the image and
sets the turn's instruction, the chatedit graph runs the turn, and `show` adds the path of the
current picture in the image store to the answer (the thread holds ids and paths, never pixels). Settings come from the environment: CHATEDIT_MODELS (profile),
CHATEDIT_DEVICE, CHATEDIT_DATA_DIR (image store), CHATEDIT_LLM_* (the vision LLM). The LangGraph
server supplies its own checkpointer, so sessions are its threads.
"""

from __future__ import annotations

import os

from langchain_core.messages import AIMessage, HumanMessage, RemoveMessage
from langgraph.graph import END, START, StateGraph

from chatedit.agent.graph import build_graph
from chatedit.agent.session import default_data_dir
from chatedit.agent.state import ChatState
from chatedit.agent.store import ImageStore
from chatedit.agent.toolbox import EditSettings, Toolbox
from chatedit.tools.images import load_image
from chatedit.tools.models import get_models

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
    from chatedit.agent.llm import LLMSettings, make_chat_model

    if LLMSettings().configured:
        llm = make_chat_model(LLMSettings())
    turn = build_graph(Toolbox(models, EditSettings()), store, llm=llm, name="chatedit-turn")

    def read_message(state: ChatState) -> dict:
        """Takes this turn's instruction and picture from the newest human message.

        The message is replaced by the turn's own text-only copy (added by `start`), so the thread
        keeps no pixels: the picture goes to the image store and only its id moves on.
        """
        messages = state.get("messages") or []
        if not messages or not isinstance(messages[-1], HumanMessage):
            # Called with {"instruction", "upload"} directly (the graph's own input).
            return {}
        text, images = _parts(messages[-1])
        upload = store.put(load_image(images[-1])) if images else None
        return {"instruction": text.strip(), "upload": upload, "messages": [RemoveMessage(id=messages[-1].id)]}

    def show(state: ChatState) -> dict:
        """Points the answer at the current picture's file in the image store."""
        messages = state.get("messages") or []
        image_id = (state.get("report") or {}).get("image")
        if not (image_id and messages and isinstance(messages[-1], AIMessage)):
            return {}
        answer = messages[-1]
        return {"messages": [AIMessage(id=answer.id, content=f"{answer.content}\n\nImage: {store.path(image_id)}")]}

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
