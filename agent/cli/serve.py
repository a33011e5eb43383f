"""`chatedit serve`, `ui` and `mcp`: the editor behind the OpenAI-compatible API, the web UI and MCP."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from chatedit.agent.cli import common, support
from chatedit.agent.cli.common import (
    DatabaseOption,
    DataDirOption,
    DeviceOption,
    FinderOption,
    LLMOption,
    ModelsOption,
    OffloadOption,
    PlannerOption,
    QuantizeOption,
    WeightsOption,
    settings_of,
)
from chatedit.agent.cli.support import exit_codes, stderr
from chatedit.tools.errors import InputError


def register(app: typer.Typer) -> None:
    for command in (serve, ui, mcp):
        app.command(cls=support.Command)(command)


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    models: ModelsOption = None,
    weights: WeightsOption = None,
    planner: PlannerOption = None,
    llm: LLMOption = None,
    device: DeviceOption = None,
    finder: FinderOption = None,
    quantize: QuantizeOption = None,
    offload: OffloadOption = None,
    data_dir: DataDirOption = None,
    database: DatabaseOption = None,
    api_key: Annotated[
        Optional[str], typer.Option("--api-key", help="Require `Authorization: Bearer KEY` (also CHATEDIT_API_KEY(S)).")
    ] = None,
) -> None:
    """Serve the OpenAI-compatible API (POST /v1/chat/completions, GET /v1/models) for chat frontends.

    Add it to Open WebUI or any OpenAI-compatible client as base URL http://HOST:PORT/v1, model
    `chatedit`. More settings (size limits, image links, remote images) come from CHATEDIT_*
    variables; see agent/server/settings.py. The MCP tools of `chatedit mcp` are served at /mcp too.
    """
    with exit_codes():
        import uvicorn

        from chatedit.agent.server import create_app

        config = settings_of(
            models=models,
            weights=weights,
            planner=planner,
            llm=llm,
            device=device,
            finder=finder,
            quantize=quantize,
            offload=offload,
            data_dir=data_dir,
            database_url=database,
        )
        settings = _served(config, api_key, exposed=host not in LOCAL_HOSTS, what="use the server")
        editor = common.make_editor(config)
        stderr.print(
            f"chatedit serving at http://{host}:{port}/v1 (model id: {settings.model_id}); "
            f"sessions in {editor.database.where}"
        )
        uvicorn.run(create_app(editor, settings), host=host, port=port, log_level="info")


LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _served(config, api_key: Optional[str], *, exposed: bool, what: str):
    """Gives back the server settings with `--api-key` added, warning when an exposed address needs no key."""
    settings = config.server
    if api_key:
        settings.api_keys = [*settings.api_keys, api_key]
    if exposed and not settings.keys:
        stderr.print(f"[yellow]Warning:[/] no API key: anyone who can reach this address can {what}.")
    return settings


def ui(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 7860,
    share: Annotated[
        bool, typer.Option("--share", help="Also open a temporary public link through Gradio's share servers.")
    ] = False,
    models: ModelsOption = None,
    weights: WeightsOption = None,
    planner: PlannerOption = None,
    llm: LLMOption = None,
    device: DeviceOption = None,
    finder: FinderOption = None,
    quantize: QuantizeOption = None,
    offload: OffloadOption = None,
    data_dir: DataDirOption = None,
    database: DatabaseOption = None,
    api_key: Annotated[
        Optional[str],
        typer.Option("--api-key", help="Ask for this key at login, as the password (also CHATEDIT_API_KEY(S))."),
    ] = None,
) -> None:
    """Open the web UI: a chat beside the picture, where a click, a box or a brush stroke says where to edit.

    Needs the ui extra (`pip install -e ".[ui]"`). Sessions are the CLI's and the server's: the browser
    keeps its session's id, so a reload or a restart reopens it. Uploads are bounded as the server bounds
    them (CHATEDIT_MAX_IMAGE_BYTES, CHATEDIT_MAX_PIXELS).
    """
    with exit_codes():
        try:
            from chatedit.agent.ui import launch
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("gradio"):
                raise
            raise InputError(
                'chatedit ui needs Gradio: pip install -e ".[ui]" (or pip install "chatedit[ui]").'
            ) from None
        config = settings_of(
            models=models,
            weights=weights,
            planner=planner,
            llm=llm,
            device=device,
            finder=finder,
            quantize=quantize,
            offload=offload,
            data_dir=data_dir,
            database_url=database,
        )
        settings = _served(config, api_key, exposed=share or host not in LOCAL_HOSTS, what="edit with it")
        editor = common.make_editor(config)
        stderr.print(f"chatedit ui at http://{host}:{port} ; sessions in {editor.database.where}")
        launch(editor, settings, host=host, port=port, share=share)


def mcp(
    models: ModelsOption = None,
    weights: WeightsOption = None,
    planner: PlannerOption = None,
    llm: LLMOption = None,
    device: DeviceOption = None,
    finder: FinderOption = None,
    quantize: QuantizeOption = None,
    offload: OffloadOption = None,
    data_dir: DataDirOption = None,
    database: DatabaseOption = None,
) -> None:
    """Serve chatedit's tools over MCP on stdio (Claude Desktop, code editors, any MCP client).

    Tools: edit_image, undo, redo, history and plan; the models load on the first edit.
    """
    with exit_codes():
        from chatedit.agent.server.mcp_tools import run_stdio

        config = settings_of(
            models=models,
            weights=weights,
            planner=planner,
            llm=llm,
            device=device,
            finder=finder,
            quantize=quantize,
            offload=offload,
            data_dir=data_dir,
            database_url=database,
        )
        run_stdio(lambda: common.make_editor(config))
