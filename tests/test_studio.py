"""The LangGraph Studio graph keeps its pictures where the Editor does: CHATEDIT_DATABASE_URL's database."""

from __future__ import annotations

import psycopg
import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from PIL import Image

from chatedit.agent import studio
from chatedit.tools.images import to_data_url

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def opened(database_url, tmp_path):
    """Closes the database the graph opens for this test's URL and data dir, and forgets it."""
    yield
    studio._database(database_url, str(tmp_path)).close()
    studio._database.cache_clear()


def test_studio_pictures_go_to_the_database_of_the_environment(
    database_url, tmp_path, monkeypatch, small_photo, opened
):
    monkeypatch.setenv("CHATEDIT_DATABASE_URL", database_url)
    graph = studio.make_graph()
    graph.checkpointer = InMemorySaver()  # the LangGraph server brings its own
    message = HumanMessage(
        content=[
            {"type": "text", "text": "make it sunset"},
            {"type": "image_url", "image_url": {"url": to_data_url(small_photo)}},
        ]
    )
    context = {"models": "tiny", "device": "cpu", "data_dir": str(tmp_path), "max_attempts": 1, "seed": 5}
    state = graph.invoke({"messages": [message]}, {"configurable": {"thread_id": "t"}}, context=context)
    image_id = state["report"]["image"]
    with psycopg.connect(database_url) as conn:
        stored = {row[0] for row in conn.execute("SELECT id FROM chatedit_images")}
    # The upload and the edit are rows of the shared database, not files of this replica's image folder.
    assert image_id in stored and len(stored) >= 2
    assert not (tmp_path / "images").exists()
    path = state["messages"][-1].content.rsplit("Image: ", 1)[1].strip()
    assert Image.open(path).size == small_photo.size


def test_studio_threads_go_on_turn_after_turn_and_undo(tmp_path, monkeypatch, small_photo):
    """The LangGraph entry carries the session from one message to the next: a follow-up edits, undo goes back."""
    monkeypatch.delenv("CHATEDIT_DATABASE_URL", raising=False)
    graph = studio.make_graph()
    graph.checkpointer = InMemorySaver()
    context = {"models": "tiny", "device": "cpu", "data_dir": str(tmp_path), "max_attempts": 1, "seed": 5}
    config = {"configurable": {"thread_id": "turns"}}
    first = HumanMessage(
        content=[
            {"type": "text", "text": "make it sunset"},
            {"type": "image_url", "image_url": {"url": to_data_url(small_photo)}},
        ]
    )
    assert graph.invoke({"messages": [first]}, config, context=context)["report"]["version"] == 1
    follow = graph.invoke({"messages": [HumanMessage(content="make it look like winter")]}, config, context=context)
    assert follow["report"]["version"] == 2 and follow["report"]["steps"]
    undone = graph.invoke({"messages": [HumanMessage(content="undo")]}, config, context=context)
    assert undone["report"]["version"] == 1
    studio._database(None, str(tmp_path)).close()
