"""Runs chatedit inside Open WebUI in a real browser and gives back what the browser saw.

    python tests/webui/run.py [--out out/webui] [--screenshot docs/openwebui.png]

Starts `chatedit serve --models tiny --planner rules` and Open WebUI, with Open WebUI's default
features left on (chat title, tags, follow-up suggestions, built-in tools), each on a free port with a
fresh data folder; then drive.js attaches a photo in Debian's chromium, asks for an edit and a
follow-up; then both servers stop. Their logs, the screenshots and result.json go to the out folder.
`run_image_edit` does the same with Open WebUI's own image editing: a scripted OpenAI-compatible
server chats and chatedit is the image-edit engine (drive_edit.js turns on Image before each message).
`.ci/webui` installs what it needs: chromium, playwright-core and Open WebUI's own venv.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

import httpx

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("drive.js")
EDIT_DRIVER = Path(__file__).with_name("drive_edit.js")
PHOTO = ROOT / "examples" / "images" / "coffee.jpg"
INSTRUCTIONS = ("remove the cup", "make it sunset")
EDIT_INSTRUCTIONS = ("remove the cup", "make it look like winter")
CHROMIUM = Path("/usr/bin/chromium")
START_TIMEOUT_S = 240.0
DRIVE_TIMEOUT_S = 900.0


def webui_home() -> Path:
    """Gives back the folder `.ci/webui` installs Open WebUI and playwright-core into."""
    return Path(os.environ.get("CHATEDIT_WEBUI_HOME") or Path.home() / ".cache" / "chatedit-webui")


def missing_prerequisites() -> list[str]:
    """Gives back what is not installed yet, each as a sentence (empty: ready to run)."""
    home = webui_home()
    checks = {
        "Debian's chromium (/usr/bin/chromium)": CHROMIUM.is_file(),
        "node": shutil.which("node") is not None,
        f"playwright-core in {home / 'node'}": (home / "node/node_modules/playwright-core/package.json").is_file(),
        f"Open WebUI in {home / 'venv'}": (home / "venv/bin/open-webui").is_file(),
    }
    return [f"{name} is missing; run .ci/webui to install it." for name, present in checks.items() if not present]


def free_port() -> int:
    """Gives back a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def started(command: list[str], log: Path, env: Optional[dict] = None) -> Iterator[subprocess.Popen]:
    """Runs a server for the duration of the block, its output in `log`; stops it and its children after."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            # Its own session holds the server and any worker it started: stop them together.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_until_up(
    url: str, process: subprocess.Popen, log: Path, since: float, timeout: float = START_TIMEOUT_S
) -> float:
    """Gives back the seconds from `since` until `url` answered 200; raises when the server exits or times out."""
    while time.monotonic() - since < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}; see {log}.")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - since
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s; see {log}.")


def open_webui_env(data_dir: Path, chatedit_url: str, api_key: str) -> dict:
    """Gives back Open WebUI's environment: no login, offline, chatedit as its only connection."""
    return {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "WEBUI_SECRET_KEY": secrets.token_hex(32),
        "WEBUI_AUTH": "False",
        "OFFLINE_MODE": "True",
        "HF_HUB_OFFLINE": "1",
        "ENABLE_OLLAMA_API": "False",
        "OPENAI_API_BASE_URL": f"{chatedit_url}/v1",
        "OPENAI_API_KEY": api_key,
        # Empty: Open WebUI looks up no embedding model, which it would try to download.
        "RAG_EMBEDDING_MODEL": "",
    }


def chatedit_command(port: int, data_dir: Path, api_key: str) -> list[str]:
    """Gives back the command serving chatedit with the tiny models and the rules planner (no downloads, no LLM)."""
    return [
        sys.executable, "-m", "chatedit.agent.cli", "serve", "--port", str(port),
        "--models", "tiny", "--planner", "rules", "--data-dir", str(data_dir), "--api-key", api_key,
    ]  # fmt: skip


def image_edit_env(data_dir: Path, chat_url: str, chatedit_url: str, api_key: str) -> dict:
    """Gives back Open WebUI's environment for its own image editing: a scripted model chats, chatedit edits."""
    return {
        **open_webui_env(data_dir, chatedit_url, api_key),
        "OPENAI_API_BASE_URL": chat_url,
        "OPENAI_API_KEY": "sk-chat",
        "ENABLE_IMAGE_GENERATION": "True",
        "ENABLE_IMAGE_EDIT": "True",
        "IMAGE_EDIT_ENGINE": "openai",
        "IMAGE_EDIT_MODEL": "chatedit",
        "IMAGES_EDIT_OPENAI_API_BASE_URL": f"{chatedit_url}/v1",
        "IMAGES_EDIT_OPENAI_API_KEY": api_key,
        "IMAGES_OPENAI_API_BASE_URL": f"{chatedit_url}/v1",
        "IMAGES_OPENAI_API_KEY": api_key,
        # Open WebUI edits before the model answers (rather than offering the model an edit tool to call),
        # so the scripted model needs no tool call naming the uploaded files.
        "DEFAULT_MODEL_PARAMS": json.dumps({"function_calling": "legacy"}),
    }


def chatedit_sessions(data_dir: Path) -> list[list[str]]:
    """Gives back the image ids of each chatedit session's versions, oldest first, read from its checkpoints."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    with contextlib.closing(sqlite3.connect(data_dir / "sessions.sqlite")) as connection:
        saver = SqliteSaver(connection)
        threads = [row[0] for row in connection.execute("SELECT DISTINCT thread_id FROM checkpoints")]
        states = [saver.get({"configurable": {"thread_id": thread}}) or {} for thread in threads]
    return [[v["image"] for v in state.get("channel_values", {}).get("versions") or []] for state in states]


def drive(
    webui_url: str, out_dir: Path, driver: Path = DRIVER, instructions: tuple[str, ...] = INSTRUCTIONS
) -> subprocess.CompletedProcess:
    """Gives back the finished browser run of `driver` against Open WebUI at `webui_url`."""
    command = ["node", str(driver), webui_url, str(PHOTO), str(out_dir), *instructions]
    env = {**os.environ, "NODE_PATH": str(webui_home() / "node/node_modules")}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=DRIVE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        # node and the chromium it launched share the session.
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def run(out_dir: Path, screenshot: Optional[Path] = None) -> dict:
    """Gives back what the browser saw of an edit and a follow-up in Open WebUI, with timings and chatedit's counts.

    Args:
        out_dir: where the screenshots, both servers' logs and result.json go.
        screenshot: where to copy the screenshot of the first answer (e.g. docs/openwebui.png).
    """
    missing = missing_prerequisites()
    if missing:
        raise RuntimeError(" ".join(missing))
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.png"):
        old.unlink()
    api_key = "sk-" + secrets.token_hex(16)
    chatedit_port, webui_port = free_port(), free_port()
    chatedit_url, webui_url = f"http://127.0.0.1:{chatedit_port}", f"http://127.0.0.1:{webui_port}"
    chatedit_log, webui_log = out_dir / "chatedit.log", out_dir / "open-webui.log"
    # A few denoising steps: the tiny models paint noise at any step count, and a turn takes seconds.
    chatedit_env = {**os.environ, "CHATEDIT_INPAINT_STEPS": "4", "CHATEDIT_GLOBAL_STEPS": "4"}
    webui = [str(webui_home() / "venv/bin/open-webui"), "serve", "--host", "127.0.0.1", "--port", str(webui_port)]
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="chatedit-webui-") as scratch:
        chatedit = chatedit_command(chatedit_port, Path(scratch) / "chatedit", api_key)
        # Open WebUI reads its env settings only into a fresh data folder, and skips login only with no users yet.
        webui_env = open_webui_env(Path(scratch) / "open-webui", chatedit_url, api_key)
        launched = time.monotonic()
        with (
            started(chatedit, chatedit_log, chatedit_env) as chatedit_process,
            started(webui, webui_log, webui_env) as webui_process,
        ):
            timings["chatedit_start_s"] = wait_until_up(
                chatedit_url + "/health", chatedit_process, chatedit_log, launched
            )
            timings["open_webui_start_s"] = wait_until_up(webui_url + "/health", webui_process, webui_log, launched)
            started_driving = time.monotonic()
            browser = drive(webui_url, out_dir)
            timings["browser_s"] = time.monotonic() - started_driving
            (out_dir / "drive.log").write_text(browser.stderr)
            if browser.returncode != 0:
                tail = "\n".join(browser.stderr.strip().splitlines()[-15:])
                raise RuntimeError(f"The browser run failed (screenshot: {out_dir / 'failure.png'}):\n{tail}")
            health = httpx.get(chatedit_url + "/health", timeout=10).json()
    result = {**json.loads(browser.stdout), "chatedit": health, "timings": timings}
    (out_dir / "result.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out_dir / "02-answer.png", screenshot)
    return result


def run_image_edit(out_dir: Path, screenshot: Optional[Path] = None) -> dict:
    """Gives back what the browser saw of Open WebUI's own image editing with chatedit as its engine.

    A scripted OpenAI-compatible server is the chat model; chatedit serves /v1/images/edits.

    Args:
        out_dir: where the screenshots, both servers' logs and result-edit.json go.
        screenshot: where to copy the screenshot of the follow-up's answer (e.g. docs/openwebui-image-edit.png).
    """
    from tests.fake_llm import FakeLLM, text

    missing = missing_prerequisites()
    if missing:
        raise RuntimeError(" ".join(missing))
    out_dir.mkdir(parents=True, exist_ok=True)
    api_key = "sk-" + secrets.token_hex(16)
    chatedit_port, webui_port = free_port(), free_port()
    chatedit_url, webui_url = f"http://127.0.0.1:{chatedit_port}", f"http://127.0.0.1:{webui_port}"
    chat_model = FakeLLM()
    # Every request of Open WebUI's (answers, titles, tags, follow-ups) gets a short plain answer.
    chat_model.script([text("Here is the edited picture.")] * 64)
    webui = [str(webui_home() / "venv/bin/open-webui"), "serve", "--host", "127.0.0.1", "--port", str(webui_port)]
    chatedit_env = {**os.environ, "CHATEDIT_INPAINT_STEPS": "4", "CHATEDIT_GLOBAL_STEPS": "4"}
    with tempfile.TemporaryDirectory(prefix="chatedit-webui-") as scratch, contextlib.closing(chat_model):
        data = Path(scratch) / "chatedit"
        webui_env = image_edit_env(Path(scratch) / "open-webui", chat_model.base_url, chatedit_url, api_key)
        launched = time.monotonic()
        with (
            started(chatedit_command(chatedit_port, data, api_key), out_dir / "chatedit-edit.log", chatedit_env) as ce,
            started(webui, out_dir / "open-webui-edit.log", webui_env) as ow,
        ):
            wait_until_up(chatedit_url + "/health", ce, out_dir / "chatedit-edit.log", launched)
            wait_until_up(webui_url + "/health", ow, out_dir / "open-webui-edit.log", launched)
            browser = drive(webui_url, out_dir, EDIT_DRIVER, EDIT_INSTRUCTIONS)
            (out_dir / "drive-edit.log").write_text(browser.stderr)
            if browser.returncode != 0:
                tail = "\n".join(browser.stderr.strip().splitlines()[-15:])
                raise RuntimeError(f"The browser run failed (screenshot: {out_dir / 'failure.png'}):\n{tail}")
            health = httpx.get(chatedit_url + "/health", timeout=10).json()
        sessions = chatedit_sessions(data)
    result = {**json.loads(browser.stdout), "chatedit": health, "sessions": sessions}
    (out_dir / "result-edit.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    if screenshot is not None:
        shutil.copyfile(out_dir / f"edit-0{len(EDIT_INSTRUCTIONS)}.png", screenshot)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "webui", help="Folder for screenshots and logs.")
    parser.add_argument("--screenshot", type=Path, help="Where to copy the screenshot of the first answer.")
    args = parser.parse_args()
    print(json.dumps(run(args.out, args.screenshot), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
