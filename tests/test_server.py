"""The OpenAI-compatible server, on 127.0.0.1 with tiny models, called with the official `openai` client."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import threading
import time

import httpx
import numpy as np
import openai
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from chatedit.agent.server import ServerSettings, create_app, read_conversation
from chatedit.agent.session import Editor
from tests.fake_llm import error as fake_error
from tests.fake_llm import text as fake_text
from tests.helpers import serve, tiny_editor

KEY = "sk-test-key"
DATA_URL = re.compile(r"!\[edited\]\((data:image/png;base64,[A-Za-z0-9+/=]+)\)")


def png_data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def image_in(content: str) -> Image.Image:
    """Gives back the edited picture carried by an answer (fails when there is none)."""
    match = DATA_URL.search(content)
    assert match, content[:300]
    return Image.open(io.BytesIO(base64.b64decode(match.group(1).split(",", 1)[1]))).convert("RGB")


def user_turn(text: str, image: Image.Image | None = None) -> dict:
    parts = [{"type": "text", "text": text}]
    if image is not None:
        parts.append({"type": "image_url", "image_url": {"url": png_data_url(image)}})
    return {"role": "user", "content": parts}


@pytest.fixture(scope="module")
def editor(tmp_path_factory):
    with tiny_editor(tmp_path_factory.mktemp("server-data")) as editor:
        yield editor


@pytest.fixture(scope="module")
def server(editor):
    settings = ServerSettings(api_key=KEY, max_request_bytes=1_000_000)
    with serve(create_app(editor, settings)) as url:
        yield url


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key=KEY, max_retries=0, timeout=120)


def test_models_lists_one_model(client):
    assert [model.id for model in client.models.list()] == ["chatedit"]


def test_edit_answers_with_the_picture_and_never_calls_tools(client, small_photo):
    offered = [
        {"type": "function", "function": {"name": "web_search", "parameters": {"type": "object", "properties": {}}}}
    ]
    reply = client.chat.completions.create(
        model="chatedit", messages=[user_turn("make it look like a watercolor painting", small_photo)], tools=offered
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "stop"
    assert not choice.message.tool_calls
    edited = image_in(choice.message.content)
    assert edited.size == small_photo.size
    assert not np.array_equal(np.asarray(edited), np.asarray(small_photo))
    assert reply.model_extra["chatedit"]["report"]["steps"][0]["category"] == "global"


def test_stream_sends_progress_then_the_picture_in_one_piece(client, small_photo):
    chunks = list(
        client.chat.completions.create(
            model="chatedit", messages=[user_turn("make it look like a sunset", small_photo)], stream=True
        )
    )
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 3
    assert any("Step 1/1" in piece for piece in pieces[:-1])
    assert all("data:image" not in piece for piece in pieces[:-1])
    assert image_in(pieces[-1]).size == small_photo.size
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_stream_is_server_sent_events_ending_with_done(server, small_photo):
    body = {"model": "chatedit", "stream": True, "messages": [user_turn("make it brighter", small_photo)]}
    with httpx.stream(
        "POST", f"{server}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=120
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_follow_up_with_history_edits_the_latest_picture(client, editor, small_photo):
    history = [user_turn("make it look like a watercolor painting", small_photo)]
    first = client.chat.completions.create(model="chatedit", messages=history)
    answer = first.choices[0].message.content
    turn_1 = image_in(answer)

    # A stateless frontend resends everything: the photo, the answer with its picture, the new text.
    history += [{"role": "assistant", "content": answer}, {"role": "user", "content": "make it look like a sunset"}]
    second = client.chat.completions.create(model="chatedit", messages=history)
    turn_2 = image_in(second.choices[0].message.content)

    base = editor.session(second.model_extra["chatedit"]["session"]).history()[0].image
    assert np.array_equal(np.asarray(base), np.asarray(turn_1))
    assert not np.array_equal(np.asarray(base), np.asarray(small_photo))
    assert turn_2.size == small_photo.size
    assert not np.array_equal(np.asarray(turn_2), np.asarray(turn_1))


def test_a_non_image_is_400_in_openai_error_shape(client):
    text_as_png = "data:image/png;base64," + base64.b64encode(b"hello, not a picture").decode()
    message = {
        "role": "user",
        "content": [
            {"type": "text", "text": "remove the cup"},
            {"type": "image_url", "image_url": {"url": text_as_png}},
        ],
    }
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="chatedit", messages=[message])
    error = caught.value.response.json()["error"]
    assert "not an image" in error["message"]
    assert error["type"] == "invalid_request_error" and error["code"]


def test_empty_requests_and_remote_urls_are_400(client):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="chatedit", messages=[])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="chatedit", messages=[{"role": "user", "content": "  "}])
    remote = {
        "role": "user",
        "content": [
            {"type": "text", "text": "remove the cup"},
            {"type": "image_url", "image_url": {"url": "http://169.254.169.254/a.png"}},
        ],
    }
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="chatedit", messages=[remote])
    assert "data: URL" in caught.value.response.json()["error"]["message"]


def test_a_wrong_or_missing_key_is_401_and_health_needs_none(server, small_photo):
    wrong = openai.OpenAI(base_url=f"{server}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        wrong.chat.completions.create(model="chatedit", messages=[user_turn("make it brighter", small_photo)])
    assert caught.value.response.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(f"{server}/v1/models").status_code == 401
    assert httpx.get(f"{server}/health").json()["status"] == "ok"


def test_a_request_over_the_limit_is_413(client):
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="chatedit", messages=[{"role": "user", "content": "x" * 1_500_000}])
    assert caught.value.status_code == 413
    assert caught.value.response.json()["error"]["code"] == "request_too_large"


def test_health_and_side_requests_answer_while_a_turn_runs(server, client, editor, small_photo):
    """While a turn holds the editor, the event loop still answers; side requests never wait for it."""
    results: dict = {}

    def send_turn():
        reply = client.chat.completions.create(
            model="chatedit", messages=[user_turn("make it look like winter", small_photo)]
        )
        results["reply"] = reply.choices[0].message.content

    with editor.lock:
        worker = threading.Thread(target=send_turn)
        worker.start()
        deadline = time.monotonic() + 60
        health = httpx.get(f"{server}/health").json()
        while health["running"] != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
            health = httpx.get(f"{server}/health").json()
        assert health["running"] == 1
        title_prompt = (
            "### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat history.\n"
            '### Output:\nJSON format: { "title": "your concise title here" }\n'
            "### Chat History:\n<chat_history>\nUSER: make the cup blue please\nASSISTANT: Done.\n</chat_history>"
        )
        title = client.chat.completions.create(model="chatedit", messages=[{"role": "user", "content": title_prompt}])
        assert "data:image" not in title.choices[0].message.content
        assert "cup blue" in json.loads(title.choices[0].message.content)["title"].lower()
        assert "reply" not in results
    worker.join(timeout=120)
    assert image_in(results["reply"]).size == small_photo.size


def test_tags_and_follow_up_requests_get_json_text(client):
    def ask(task: str, key: str, stream: bool = False) -> str:
        prompt = (
            f'### Task:\n{task}\n### Output:\nJSON format: {{ "{key}": ["a"] }}\n'
            "### Chat History:\n<chat_history>\nUSER: remove the dog\n</chat_history>"
        )
        messages = [{"role": "user", "content": prompt}]
        if not stream:
            return client.chat.completions.create(model="chatedit", messages=messages).choices[0].message.content
        chunks = client.chat.completions.create(model="chatedit", messages=messages, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    # Without an LLM, the answers come from the user's own words: a chat about removing a dog.
    tags = json.loads(ask("Generate 1-3 broad tags categorizing the main themes.", "tags"))["tags"]
    assert "Dog" in tags and "Object Removal" in tags and "Image Editing" in tags
    follow_ups = json.loads(ask("Suggest 3-5 relevant follow-up questions.", "follow_ups", stream=True))["follow_ups"]
    assert any("dog" in line for line in follow_ups)


def side_prompt(key: str, history: str) -> list[dict]:
    prompt = (
        f'### Task:\nGenerate the {key} of the chat.\n### Output:\nJSON format: {{ "{key}": ["a"] }}\n'
        f"### Chat History:\n<chat_history>\n{history}\n</chat_history>"
    )
    return [{"role": "user", "content": prompt}]


def never_built():
    raise AssertionError("a side request built the editor")


def test_side_requests_go_to_the_llm_when_one_is_configured(fake_llm, monkeypatch):
    monkeypatch.setenv("CHATEDIT_LLM_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("CHATEDIT_LLM_RETRIES", "0")
    fake_llm.script(
        [
            fake_text('Here you go: {"tags": ["Pets", "Photo Retouching"]}'),
            fake_text('{"title": "🐕 Dog-free garden"}'),
        ]
    )
    http = TestClient(create_app(never_built, ServerSettings()))
    tags = http.post("/v1/chat/completions", json={"messages": side_prompt("tags", "USER: remove the dog")})
    assert json.loads(tags.json()["choices"][0]["message"]["content"]) == {"tags": ["Pets", "Photo Retouching"]}
    title = http.post("/v1/chat/completions", json={"messages": side_prompt("title", "USER: remove the dog")})
    assert json.loads(title.json()["choices"][0]["message"]["content"]) == {"title": "🐕 Dog-free garden"}
    # The frontend's own prompt, chat history included, is what the LLM was asked.
    assert "USER: remove the dog" in json.dumps(fake_llm.requests[0]["messages"])
    health = http.get("/health").json()
    assert health["editor_loaded"] is False and health["side_requests"] == 2


def test_a_failed_or_off_topic_llm_answer_falls_back_to_the_conversation(fake_llm, monkeypatch):
    monkeypatch.setenv("CHATEDIT_LLM_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("CHATEDIT_LLM_RETRIES", "0")
    fake_llm.script([fake_error(400, "bad request"), fake_text("I like dogs.")])
    http = TestClient(create_app(never_built, ServerSettings()))
    history = "USER: replace the cat with a fox\nASSISTANT: Done.\nUSER: make the sky purple"
    tags = http.post("/v1/chat/completions", json={"messages": side_prompt("tags", history)})
    assert {"Cat", "Fox", "Sky"} <= set(json.loads(tags.json()["choices"][0]["message"]["content"])["tags"])
    follow = http.post("/v1/chat/completions", json={"messages": side_prompt("follow_ups", history)})
    assert any("sky" in line for line in json.loads(follow.json()["choices"][0]["message"]["content"])["follow_ups"])
    assert len(fake_llm.requests) == 2


def test_reading_an_open_webui_request():
    """Attachment listings are ignored and the picture shown in the last answer is the current one."""
    latest = "data:image/png;base64,TEFURVNU"
    body = {
        "model": "chatedit",
        "tools": [{"type": "function", "function": {"name": "search_web"}}],
        "messages": [
            {"role": "system", "content": "You are helpful."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "make it red"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,T0xE"}},
                ],
            },
            {
                "role": "assistant",
                "content": f"Done.\n\n![edited]({latest})\n\nAnything else? ![x](https://example.com/a.png)",
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "now make it blue"},
                    {"type": "text", "text": '<attached_files>\n<file type="image"/>\n</attached_files>'},
                ],
            },
        ],
    }
    conversation = read_conversation(body)
    assert conversation.text == "now make it blue"
    assert conversation.image.kind == "data" and conversation.image.value == latest
    assert conversation.task is None


def test_linked_images_and_named_sessions(editor, small_photo):
    """With image links on, answers point to /v1/images/{id}; a named session continues and undoes."""
    app = create_app(editor, ServerSettings(api_key=KEY, image_links="url", public_url="http://testserver"))
    http = TestClient(app)
    auth = {"Authorization": f"Bearer {KEY}", "X-Chatedit-Session": "alice"}
    first = http.post(
        "/v1/chat/completions",
        headers=auth,
        json={"model": "chatedit", "messages": [user_turn("make it look like a watercolor painting", small_photo)]},
    )
    assert first.status_code == 200, first.text
    answer = first.json()["choices"][0]["message"]["content"]
    link = re.search(
        r"!\[edited\]\((http://testserver(/v1/images/[0-9a-f]{64}\.png\?exp=[0-9]+&sig=[0-9a-f]+))\)", answer
    )
    assert link, answer
    picture = http.get(link.group(2))  # signed: a browser loads it without the key
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(picture.content)).size == small_photo.size
    assert http.get(link.group(2).split("?")[0]).status_code == 401
    assert http.get("/v1/images/..%2F..%2Fsessions.sqlite", headers=auth).status_code in (400, 404)

    # The frontend resends the linked picture; the session already shows it, so "undo" goes back to the photo.
    history = [
        user_turn("make it look like a watercolor painting", small_photo),
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "undo"},
    ]
    undone = http.post("/v1/chat/completions", headers=auth, json={"model": "chatedit", "messages": history})
    assert undone.status_code == 200, undone.text
    back = re.search(r"/v1/images/([0-9a-f]{64})\.png", undone.json()["choices"][0]["message"]["content"])
    assert back and np.array_equal(np.asarray(editor.store.get(back.group(1))), np.asarray(small_photo))


def test_sessions_of_one_key_are_not_visible_with_another(editor, small_photo):
    app = create_app(editor, ServerSettings(api_keys=["sk-ann", "sk-bob"]))
    http = TestClient(app)

    def history(key: str, message: dict):
        headers = {"Authorization": f"Bearer {key}", "X-Chatedit-Session": "shared-name"}
        return http.post("/v1/chat/completions", headers=headers, json={"model": "chatedit", "messages": [message]})

    assert "uploaded" in history("sk-ann", user_turn("history", small_photo)).json()["choices"][0]["message"]["content"]
    assert (
        "uploaded"
        in history("sk-ann", {"role": "user", "content": "history"}).json()["choices"][0]["message"]["content"]
    )
    # Under Bob's key nobody used that name: no such session, and Ann's is not shown.
    bob = history("sk-bob", {"role": "user", "content": "history"})
    assert bob.status_code == 400 and "No such session" in bob.json()["error"]["message"]


def test_langgraph_json_graph_answers_a_chat_message(small_photo, tmp_path, monkeypatch):
    """The graph LangGraph tooling loads takes a chat UI's message (text + image) and answers with a picture."""
    from langchain_core.messages import HumanMessage
    from langgraph.checkpoint.memory import InMemorySaver

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "langgraph.json")) as handle:
        assert json.load(handle)["graphs"]["chatedit"] == "./agent/studio.py:make_graph"
    from chatedit.agent.studio import make_graph

    monkeypatch.setenv("CHATEDIT_MODELS", "tiny")
    monkeypatch.setenv("CHATEDIT_DEVICE", "cpu")
    monkeypatch.setenv("CHATEDIT_DATA_DIR", str(tmp_path))
    graph = make_graph()
    graph.checkpointer = InMemorySaver()  # the LangGraph server brings its own
    message = HumanMessage(content=user_turn("add a red balloon", small_photo)["content"])
    state = graph.invoke({"messages": [message]}, {"configurable": {"thread_id": "t"}})
    answer = state["messages"][-1]
    path = answer.content.rsplit("Image: ", 1)[1].strip()
    assert Image.open(path).size == small_photo.size
    assert [type(m).__name__ for m in state["messages"]] == ["HumanMessage", "AIMessage"]
    assert "base64" not in repr(state["messages"])  # the thread holds ids and paths, never pixels
    assert state["versions"][0]["instruction"] == "uploaded" and len(state["versions"]) == 2


# ---- health tells whether an edit can run ------------------------------------------------------------


@pytest.fixture
def editor_without_weights(tmp_path, monkeypatch):
    """An editor of real checkpoints that are in no cache, with downloads switched off."""
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for role in ("DETECTOR", "SEGMENTER", "INPAINTER", "GLOBAL_EDITOR"):
        monkeypatch.setenv(f"CHATEDIT_{role}", f"chatedit-tests/no-such-{role.lower()}")
    editor = Editor(models="classic", weights="real", planner="rules", device="cpu", data_dir=tmp_path / "data")
    yield editor
    editor.close()


def test_health_is_503_at_start_when_the_weights_cannot_be_loaded(editor_without_weights, caplog):
    with (
        caplog.at_level("WARNING", logger="chatedit.server"),
        TestClient(create_app(editor_without_weights, ServerSettings())) as http,
    ):
        health = http.get("/health")
    # The server says so once, at start, as well as on every health check.
    warned = [r.getMessage() for r in caplog.records if r.name == "chatedit.server"]
    assert len(warned) == 1 and "no-such-detector" in warned[0] and "/health answers 503" in warned[0]
    assert health.status_code == 503
    body = health.json()
    assert body["status"] == "models unavailable" and body["models"]["ready"] is False
    assert "chatedit-tests/no-such-detector" in body["models"]["problem"]
    assert "HF_HUB_OFFLINE" in body["models"]["problem"]


def test_health_remembers_a_turn_that_could_not_load_the_models(editor_without_weights, small_photo):
    with TestClient(create_app(editor_without_weights, ServerSettings(), check_models=False)) as http:
        assert http.get("/health").status_code == 200
        turn = http.post(
            "/v1/chat/completions", json={"model": "chatedit", "messages": [user_turn("remove the cup", small_photo)]}
        )
        assert turn.status_code == 503 and turn.json()["error"]["code"] == "model_unavailable"
        health = http.get("/health")
    assert health.status_code == 503 and health.json()["status"] == "models unavailable"
    assert "no-such-detector" in health.json()["models"]["problem"]


def test_health_is_ok_for_built_weights(server):
    body = httpx.get(f"{server}/health").json()
    assert body["status"] == "ok" and body["models"] == {"ready": True, "problem": None}


def test_a_json_body_sent_as_another_type_is_415(server):
    body = json.dumps({"model": "chatedit", "messages": [{"role": "user", "content": "make it red"}]})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Authorization": f"Bearer {KEY}", **({"Content-Type": content_type} if content_type else {})}
        reply = httpx.post(f"{server}/v1/chat/completions", content=body.encode(), headers=headers)
        assert reply.status_code == 415, (content_type, reply.text)
        assert reply.json()["error"]["code"] == "unsupported_media_type"
    ok = httpx.post(
        f"{server}/v1/chat/completions",
        content=body.encode(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json; charset=utf-8"},
    )
    assert ok.status_code != 415


def test_the_same_idempotency_key_gets_the_stored_answer_and_edits_once(client, editor, small_photo):
    """A client that sends a request again (its answer was lost) gets the first answer, not a second edit."""
    message = user_turn("make it look like a watercolor painting", small_photo)
    once = {"Idempotency-Key": "edit-once-1"}
    first = client.chat.completions.create(model="chatedit", messages=[message], user="idem", extra_headers=once)
    again = client.chat.completions.create(model="chatedit", messages=[message], user="idem", extra_headers=once)
    assert again.choices[0].message.content == first.choices[0].message.content
    session = first.model_extra["chatedit"]["session"]
    assert [v.instruction for v in editor.session(session).history()] == ["uploaded", message["content"][0]["text"]]
    # Without a session name the request's key finds the session its first sending made.
    stateless = [
        client.chat.completions.create(
            model="chatedit", messages=[message], extra_headers={"Idempotency-Key": "stateless-1"}
        )
        for _ in range(2)
    ]
    sessions = {reply.model_extra["chatedit"]["session"] for reply in stateless}
    assert len(sessions) == 1 and len(editor.session(sessions.pop()).history()) == 2
    # Another key is another request: an edit of the picture the session shows now.
    follow = {"role": "user", "content": "make it look like a watercolor painting"}
    other = client.chat.completions.create(
        model="chatedit", messages=[follow], user="idem", extra_headers={"Idempotency-Key": "edit-once-2"}
    )
    assert len(editor.session(other.model_extra["chatedit"]["session"]).history()) == 3
