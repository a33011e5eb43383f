"""POST /v1/images/generations with the modern models (tiny FLUX.2 klein), called with the official `openai` client."""

from __future__ import annotations

import io

import numpy as np
import openai
import pytest
from PIL import Image

from chatedit.agent.server import ServerSettings, create_app
from chatedit.agent.session import Editor
from chatedit.agent.toolbox import EditSettings
from tests.helpers import decoded, png, serve

KEY = "sk-draw"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def editor(tmp_path_factory):
    editor = Editor(
        models="modern:tiny",
        planner="rules",
        device="cpu",
        max_attempts=1,
        seed=0,
        data_dir=tmp_path_factory.mktemp("generation-data"),
        settings=EditSettings(editor_steps=2),
    )
    yield editor
    editor.close()


@pytest.fixture(scope="module")
def server(editor):
    with serve(create_app(editor, ServerSettings(api_key=KEY))) as url:
        yield url


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key=KEY, max_retries=0, timeout=120)


def test_n_pictures_of_the_asked_size_each_from_its_own_seed(client):
    reply = client.images.generate(prompt="a red bicycle against a brick wall", n=2, size="200x120")
    pictures = [decoded(item.b64_json) for item in reply.data]
    assert [p.format for p in pictures] == ["PNG", "PNG"] and [p.size for p in pictures] == [(200, 120)] * 2
    assert not np.array_equal(np.asarray(pictures[0]), np.asarray(pictures[1]))
    assert reply.data[0].revised_prompt == "a red bicycle against a brick wall"


def test_auto_is_the_models_square_and_a_url_answer_links_it(client, server, editor):
    reply = client.images.generate(prompt="a lighthouse at dusk", response_format="url", output_format="webp")
    url = reply.data[0].url
    assert url.startswith(f"{server}/v1/images/") and "sig=" in url
    side = round(editor.toolbox.models.editor_area**0.5)
    assert Image.open(io.BytesIO(openai.DefaultHttpxClient().get(url).content)).size == (side, side)


def test_the_drawn_picture_is_a_sessions_first_version_and_an_edit_continues_it(client, editor):
    drawn = client.images.generate(prompt="a cup on a table", size="96x64", user="painter")
    session = drawn.model_extra["chatedit"]["session"]
    history = editor.session(session).history()
    assert [v.index for v in history] == [0] and drawn.model_extra["chatedit"]["version"] == 0
    # The history says the picture was drawn, and from what: it was not uploaded.
    assert history[0].instruction == "drawn from text: a cup on a table"
    picture = decoded(drawn.data[0].b64_json).convert("RGB")
    assert np.array_equal(np.asarray(history[0].image), np.asarray(picture))
    edited = client.images.edit(
        image=("drawn.png", png(picture), "image/png"), prompt="make it look like winter", user="painter"
    )
    assert edited.model_extra["chatedit"]["session"] == session
    assert [v.index for v in editor.session(session).history()] == [0, 1]


@pytest.mark.parametrize("size", ["32x32", "4096x1024", "2048x256", "large", "1024"])
def test_sizes_out_of_bounds_are_400_naming_size(client, size):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(prompt="a cat", size=size)
    assert caught.value.body["param"] == "size" and repr(size) in caught.value.body["message"]


def test_bad_prompt_and_n_are_400(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(prompt=" ")
    assert caught.value.body["param"] == "prompt"
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(prompt="a cat", n=5)
    assert caught.value.body["param"] == "n"


def test_a_key_is_needed(server):
    stranger = openai.OpenAI(base_url=f"{server}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.images.generate(prompt="a cat")
