"""The OpenAI Images API (`/v1/images/edits`, `/v1/images/generations`), called with the official `openai` client."""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from chatedit.agent.server import ServerSettings, create_app
from tests.helpers import decoded, png, serve, tiny_editor

KEY = "sk-images"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def editor(tmp_path_factory):
    with tiny_editor(tmp_path_factory.mktemp("images-data")) as editor:
        yield editor


@pytest.fixture(scope="module")
def server(editor):
    with serve(create_app(editor, ServerSettings(api_key=KEY, max_request_bytes=2_000_000))) as url:
        yield url


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/v1", api_key=KEY, max_retries=0, timeout=120)


def test_an_edit_answers_in_openai_shape_with_the_picture(client, small_photo):
    reply = client.images.edit(image=("photo.png", png(small_photo), "image/png"), prompt="make it look like winter")
    assert reply.created > 0 and len(reply.data) == 1
    edited = decoded(reply.data[0].b64_json)
    assert edited.format == "PNG" and edited.size == small_photo.size
    assert not np.array_equal(np.asarray(edited.convert("RGB")), np.asarray(small_photo))
    assert "winter" in reply.data[0].revised_prompt


@pytest.mark.parametrize("output_format, pil_format", [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_output_format_and_own_size(client, small_photo, output_format, pil_format):
    reply = client.images.edit(
        image=("photo.png", png(small_photo), "image/png"),
        prompt="make it brighter",
        size=f"{small_photo.width}x{small_photo.height}",
        output_format=output_format,
    )
    assert decoded(reply.data[0].b64_json).format == pil_format


def test_n_pictures_each_from_its_own_seed(client, small_photo):
    reply = client.images.edit(
        image=("photo.png", png(small_photo), "image/png"), prompt="make it look like winter", n=3
    )
    pictures = [np.asarray(decoded(item.b64_json).convert("RGB")) for item in reply.data]
    assert len(pictures) == 3 and all(p.shape == (64, 96, 3) for p in pictures)
    assert not np.array_equal(pictures[0], pictures[1]) and not np.array_equal(pictures[1], pictures[2])


def test_a_url_answer_links_the_stored_picture(client, server, small_photo):
    reply = client.images.edit(
        image=("photo.png", png(small_photo), "image/png"), prompt="make it look like a sunset", response_format="url"
    )
    url = reply.data[0].url
    assert url.startswith(f"{server}/v1/images/") and "sig=" in url
    assert Image.open(io.BytesIO(openai.DefaultHttpxClient().get(url).content)).size == small_photo.size


def test_the_first_of_several_images_is_edited(client, editor, small_photo):
    """Open WebUI sends a follow-up's images newest first: the last answer's picture, then the one before."""
    latest = small_photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    reply = client.images.edit(
        image=[("latest.png", png(latest), "image/png"), ("older.png", png(small_photo), "image/png")],
        prompt="make it look like winter",
        extra_body={"user": "first-of-several"},
    )
    session = reply.model_extra["chatedit"]["session"]
    base = editor.session(session).history()[0].image
    assert np.array_equal(np.asarray(base), np.asarray(latest))


def test_user_continues_a_session(client, editor, small_photo):
    first = client.images.edit(image=("p.png", png(small_photo), "image/png"), prompt="make it brighter", user="alice")
    again = client.images.edit(
        image=("p.png", base64.b64decode(first.data[0].b64_json), "image/png"),
        prompt="make it look like winter",
        user="alice",
    )
    session = first.model_extra["chatedit"]["session"]
    assert again.model_extra["chatedit"]["session"] == session
    # The resent picture is the session's current one: the second edit continues from it, as version 2.
    assert [v.index for v in editor.session(session).history()] == [0, 1, 2]


def bad(client, **kwargs) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(**kwargs)
    return caught.value


def test_bad_requests_are_400_in_openai_error_shape(client, small_photo):
    image = ("photo.png", png(small_photo), "image/png")
    wrong_size = bad(client, image=image, prompt="make it brighter", size="1024x1024")
    assert wrong_size.body["param"] == "size" and "96x64" in wrong_size.body["message"]
    assert bad(client, image=image, prompt="make it brighter", n=5).body["param"] == "n"
    not_an_image = bad(client, image=("x.txt", b"not an image", "text/plain"), prompt="make it brighter")
    assert not_an_image.body["code"] == "invalid_request" and "image" in not_an_image.body["message"].lower()
    assert bad(client, image=image, prompt="make it brighter", output_format="gif").body["param"] == "output_format"
    blank = bad(client, image=image, prompt=" ")
    assert blank.body["param"] == "prompt"


def test_without_an_image_the_named_session_is_edited_and_one_never_made_asks_for_it(server, client, small_photo):
    def edit_without_image(user: str) -> httpx.Response:
        return httpx.post(
            f"{server}/v1/images/edits",
            data={"prompt": "make it brighter", "user": user},
            files={"note": ("note.txt", b"no picture here", "text/plain")},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=120,
        )

    client.images.edit(image=("photo.png", png(small_photo), "image/png"), prompt="make it brighter", user="kept")
    kept = edit_without_image("kept")
    assert kept.status_code == 200 and kept.json()["chatedit"]["version"] == 2
    missing = edit_without_image("never-used")
    assert missing.status_code == 400
    error = missing.json()["error"]
    # The client's own words, not the server's derived session id or where it keeps sessions.
    assert error["param"] == "image" and "attach the picture to edit" in error["message"]


def test_a_key_is_needed(server, small_photo):
    stranger = openai.OpenAI(base_url=f"{server}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        stranger.images.edit(image=("photo.png", png(small_photo), "image/png"), prompt="make it brighter")
    assert caught.value.body["code"] == "invalid_api_key"


def test_too_large_is_413(client):
    with pytest.raises(openai.APIStatusError) as caught:
        client.images.edit(image=("big.png", b"\0" * 2_100_000, "image/png"), prompt="make it brighter")
    assert caught.value.status_code == 413


def test_a_mask_is_the_region_and_outside_it_nothing_changes(client, small_photo):
    mask = Image.new("RGBA", small_photo.size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (8, 8, 40, 40))
    reply = client.images.edit(
        image=("photo.png", png(small_photo), "image/png"),
        mask=("mask.png", png(mask), "image/png"),
        prompt="make it red",
    )
    edited = np.asarray(decoded(reply.data[0].b64_json).convert("RGB")).astype(int)
    original = np.asarray(small_photo).astype(int)
    outside = np.ones(original.shape[:2], bool)
    outside[8:40, 8:40] = False
    assert np.array_equal(edited[outside], original[outside])
    assert np.abs(edited[8:40, 8:40] - original[8:40, 8:40]).sum() > 0


@pytest.mark.parametrize(
    ("marks", "selection"),
    [
        ({"box": "10,8,60,50"}, {"box": (10, 8, 60, 50)}),
        ({"point": "30,30;40,20"}, {"points": ((30, 30), (40, 20))}),
    ],
)
def test_a_box_or_clicks_mark_the_region_and_outside_its_outline_nothing_changes(
    client, editor, small_photo, marks, selection
):
    from chatedit.tools.selection import Selection

    reply = client.images.edit(
        image=("photo.png", png(small_photo), "image/png"), prompt="make it red", extra_body=marks
    )
    region = editor.toolbox.segment_selection(small_photo, Selection(**selection))
    edited = np.asarray(decoded(reply.data[0].b64_json).convert("RGB"))
    assert region.any() and not region.all()
    assert np.array_equal(edited[~region], np.asarray(small_photo)[~region])
    assert not np.array_equal(edited[region], np.asarray(small_photo)[region])


@pytest.mark.parametrize(
    ("marks", "param", "said"),
    [
        ({"box": "8,8,400,40"}, "box", "The box [8, 8, 400, 40] reaches outside the 96x64 picture"),
        ({"box": "8,8,40"}, "box", "A box is four numbers x0,y0,x1,y1"),
        ({"point": "20"}, "point", "A point is two numbers x,y"),
        ({"point": "20,64"}, "point", "lies outside the 96x64 picture"),
    ],
)
def test_a_box_or_point_that_does_not_fit_the_picture_is_a_400_that_says_so(client, small_photo, marks, param, said):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(image=("photo.png", png(small_photo), "image/png"), prompt="make it red", extra_body=marks)
    assert caught.value.body["param"] == param and said in caught.value.body["message"]


def test_a_mask_with_a_box_is_refused_and_a_bad_point_on_a_session_loses_no_version(client, editor, small_photo):
    mask = Image.new("L", small_photo.size, 255)
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.edit(
            image=("photo.png", png(small_photo), "image/png"),
            mask=("mask.png", png(mask), "image/png"),
            prompt="make it red",
            extra_body={"box": "8,8,40,40"},
        )
    assert caught.value.body["param"] == "mask" and "not both" in caught.value.body["message"]

    first = client.images.edit(image=("photo.png", png(small_photo), "image/png"), prompt="make it red", user="marks")
    session = first.model_extra["chatedit"]["session"]
    before = [(v.image_id, v.current) for v in editor.session(session).history()]
    # Without a picture in the request, the session's own picture is what the point must fit.
    answer = httpx.post(
        f"{client.base_url}images/edits",
        headers={"Authorization": f"Bearer {KEY}"},
        files={"prompt": (None, "make it blue"), "user": (None, "marks"), "point": (None, "500,5")},
        timeout=120,
    )
    assert answer.status_code == 400 and "lies outside the 96x64 picture" in answer.json()["error"]["message"]
    assert [(v.image_id, v.current) for v in editor.session(session).history()] == before


def test_generation_with_the_classic_models_names_what_can_draw(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(prompt="a cat on a sofa")
    assert caught.value.body["code"] == "generation_unsupported"
    message = caught.value.body["message"]
    assert "--models modern" in message and "(classic)" in message and "/v1/images/edits" in message
