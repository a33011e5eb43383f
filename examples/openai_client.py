"""Edit a photo through chatedit's OpenAI-compatible API with the official `openai` client.

    chatedit serve --port 8000 &                      # in another terminal (real models)
    python examples/openai_client.py --base-url http://127.0.0.1:8000/v1

    python examples/openai_client.py --models tiny    # no server running: starts one in this process

The client does what a chat frontend does: it sends the picture as a data URL with the first
instruction, then resends the whole conversation with the follow-up. The server edits the LAST image
in the conversation, so the follow-up continues from the first answer's picture.
"""

from __future__ import annotations

import argparse
import base64
import re
import socket
import threading
import time
from pathlib import Path

from openai import OpenAI

HERE = Path(__file__).resolve().parent
IMAGE = re.compile(r"!\[[^\]]*\]\((data:image/png;base64,[^)]+)\)")


def start_server(models: str) -> str:
    """Gives back the base URL of a chatedit server started in this process on a free port."""
    import uvicorn

    from chatedit import Editor
    from chatedit.agent.server import create_app
    from chatedit.agent.toolbox import EditSettings

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # Tiny models paint noise: a few denoising steps at a small size are enough to see the flow.
    settings = EditSettings(inpaint_steps=4, global_steps=4, global_max_side=128) if models == "tiny" else None
    editor = Editor(models=models, planner="rules", settings=settings)
    server = uvicorn.Server(uvicorn.Config(create_app(editor), log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}/v1"


def save_answer_image(content: str, path: Path) -> None:
    match = IMAGE.search(content)
    if match:
        path.write_bytes(base64.b64decode(match.group(1).split(",", 1)[1]))
        print(f"  -> {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--models",
        default="auto",
        choices=["auto", "tiny", "random-full"],
        help="model choice of the server started here (ignored with --base-url)",
    )
    parser.add_argument("--base-url", default=None, help="a running `chatedit serve`, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--api-key", default="none", help="the server's --api-key, if it has one")
    parser.add_argument("--image", type=Path, default=HERE / "images" / "coffee.jpg")
    args = parser.parse_args()

    client = OpenAI(base_url=args.base_url or start_server(args.models), api_key=args.api_key)
    photo = "data:image/jpeg;base64," + base64.b64encode(args.image.read_bytes()).decode("ascii")
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "make the cup blue"},
                {"type": "image_url", "image_url": {"url": photo}},
            ],
        }
    ]

    # Turn 1, in one piece.
    reply = client.chat.completions.create(model="chatedit", messages=messages)
    answer = reply.choices[0].message.content
    print("chatedit>", IMAGE.sub("[image]", answer))
    save_answer_image(answer, Path("turn1.png"))

    # Turn 2, streamed: progress lines arrive while the models work, the picture comes last.
    messages += [
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "now make it look like a sunset"},
    ]
    answer = last = ""
    for chunk in client.chat.completions.create(model="chatedit", messages=messages, stream=True):
        piece = chunk.choices[0].delta.content if chunk.choices else None
        if piece:
            answer, last = answer + piece, piece
            if "data:image" not in piece:
                print(piece, end="", flush=True)
    print("chatedit>", IMAGE.sub("[image]", last).strip())
    save_answer_image(answer, Path("turn2.png"))


if __name__ == "__main__":
    main()
