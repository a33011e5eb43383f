"""An MCP server (official `mcp` SDK, MCPServer, formerly FastMCP): chatedit's edits as tools for any MCP client.

Tools: `edit_image(instruction, image?, mask?, box?, point?, session?)`, `undo(session)`, `redo(session)`,
`history(session)` and `plan(instruction)`. Pictures and masks come as a data URL or base64, as
a local file path over stdio only (a remote client's paths mean nothing here), or as an http(s)
URL where the server allows remote images, under the same limits as chat and the Images API
(agent/server/limits.py). An edit answers with the picture (PNG), a text of what was done and what
failed, and structured content `{session, version, steps}`; long edits send progress notifications.
Over HTTP a PNG over `MAX_INLINE_PNG` comes as a smaller JPEG preview and a resource link to the
full picture (a signed link with API keys): the official client takes server-sent events of at most
1 MiB. Bad input is a tool error the model can read, never a crash.

Transports: `chatedit mcp` (stdio) and `chatedit serve` at `/mcp` (streamable HTTP, behind the
API key when one is set). Both run turns on the server's one worker queue.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import re
import uuid
from typing import Any, AsyncIterator, Callable, Optional, Union

from fastapi import FastAPI, Request
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, ImageContent, ResourceLink, TextContent
from PIL import Image
from starlette.types import Receive, Scope, Send

from chatedit.agent.events import step_name
from chatedit.agent.rules import plan_rules
from chatedit.agent.server.auth import api_key, scoped_session
from chatedit.agent.server.backend import TURN_ERRORS, Backend, Outcome, ServerBusyError
from chatedit.agent.server.images import image_link
from chatedit.agent.server.limits import read_mask, read_picture
from chatedit.agent.server.remote import fetch_remote
from chatedit.agent.server.settings import APIError, ServerSettings
from chatedit.agent.server.streaming import ProgressLines
from chatedit.agent.session import Editor
from chatedit.tools.errors import InputError
from chatedit.tools.images import FORMATS_NAMED
from chatedit.tools.selection import MASK_AND_SELECTION

_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]+$")
MAX_INLINE_PNG = 600 * 1024
"""Largest PNG an answer over HTTP carries inline: base64 adds a third, and the official client's default
reader takes server-sent events of at most 1 MiB."""
PREVIEW_SIDE = 1024
"""Largest side of the JPEG preview sent beside the link to a picture too large to send inline."""


def picture_source(value: str, settings: ServerSettings, local_files: bool) -> Union[str, bytes]:
    """Gives back what `load_image` or `load_mask` reads for a tool's picture argument, or raises ToolError."""
    text = value.strip()
    if text.lower().startswith("data:"):
        return text
    if text.lower().startswith(("http://", "https://")):
        if not settings.allow_remote_images:
            raise ToolError("Image URLs are not accepted by this server; send the picture as a data URL or base64.")
        return fetch_remote(text, settings)
    if len(text) > 256 and _BASE64.match(text):
        try:
            return base64.b64decode(text, validate=False)
        except binascii.Error:
            raise ToolError(
                f"The picture is not valid base64; send a data URL or base64 of a {FORMATS_NAMED} file."
            ) from None
    if local_files:
        return text
    raise ToolError("Over HTTP, send the picture as a data URL or base64: this server cannot read the client's files.")


def _steps_text(outcome: Outcome) -> str:
    lines = []
    for step in outcome.report.get("steps") or []:
        lines.append(f"- {step_name(step)}: {'done' if step.get('passed') else step.get('status') or 'not applied'}")
    return "\n".join([outcome.message, *lines])


def _picture_content(backend: Backend, image_id: str, link: Optional[Callable[[str], str]]) -> list:
    """Gives back how an answer carries a picture: its PNG, or over HTTP when too large, a preview and a link."""
    # The stored PNG itself, as image links send it: no second encoding of the picture.
    data = backend.editor().store.png(image_id)
    if link is None or len(data) <= MAX_INLINE_PNG:
        return [ImageContent(data=base64.b64encode(data).decode("ascii"), mime_type="image/png")]
    preview = backend.editor().store.get(image_id).copy()
    side = PREVIEW_SIDE
    while True:
        preview.thumbnail((side, side), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        preview.save(buffer, format="JPEG", quality=85)
        if buffer.tell() <= MAX_INLINE_PNG or side <= 256:
            break
        side //= 2
    full = ResourceLink(
        name=f"{image_id}.png",
        uri=link(image_id),
        mime_type="image/png",
        size=len(data),
        description="The edited picture at full size (the image beside it is a smaller preview).",
    )
    return [ImageContent(data=base64.b64encode(buffer.getvalue()).decode("ascii"), mime_type="image/jpeg"), full]


def _result(
    backend: Backend, outcome: Outcome, session: str, link: Optional[Callable[[str], str]] = None
) -> CallToolResult:
    """Gives back a turn's tool result: the picture when it changed, what was done, and {session, version, steps}.

    `session` is the name the client knows the session by (see `Tools._session`); `link` gives the
    address of a stored picture (over HTTP; None over stdio, where every picture goes inline).
    """
    report = outcome.report
    content: list = []
    if outcome.image_id is not None:
        content.extend(_picture_content(backend, outcome.image_id, link))
    content.append(TextContent(text=_steps_text(outcome)))
    structured = {"session": session, "version": report.get("version"), "steps": report.get("steps") or []}
    return CallToolResult(content=content, structured_content=structured)


async def _run(
    backend: Backend,
    ctx: Optional[Context],
    work: Callable[[Callable], Outcome],
    release: Callable[[], None] = lambda: None,
) -> Outcome:
    """Gives back the outcome of a turn run on the worker queue, sending its progress lines as notifications.

    `release` frees the request's place (`Backend.admit`) once the turn has ended.
    """
    loop = asyncio.get_running_loop()
    events: asyncio.Queue = asyncio.Queue()
    future = backend.queue.submit(lambda: work(lambda event: loop.call_soon_threadsafe(events.put_nowait, event)))
    future.add_done_callback(lambda _: release())
    future.add_done_callback(lambda _: loop.call_soon_threadsafe(events.put_nowait, None))
    describe = ProgressLines()
    sent = 0
    while (event := await events.get()) is not None:
        line = describe(event)
        if line and ctx is not None:
            sent += 1
            await ctx.report_progress(sent, message=line)
    try:
        return future.result()
    except TURN_ERRORS as exc:
        raise ToolError(str(exc)) from None


class Tools:
    """The MCP tools, working through one backend: its editor and the queue turns run on.

    Sessions are scoped per API key as chat `user` names are: a client names a session, and the
    stored session is derived from its key and that name (`auth.scoped_session`), so no key reaches
    another key's sessions. Over stdio, or without keys, the name is the stored session's id.
    """

    def __init__(self, backend: Backend, settings: ServerSettings, local_files: bool):
        self.backend, self.settings, self.local_files = backend, settings, local_files

    @staticmethod
    def _session(name: str, ctx: Optional[Context]) -> str:
        """Gives back the stored session the caller's session name stands for under its API key."""
        request = ctx.request_context.request if ctx is not None else None
        # Over HTTP the request carries the key (checked again here: /mcp let it through); stdio has none.
        return scoped_session(name, api_key(request) if isinstance(request, Request) else None)

    def _existing(self, name: str, ctx: Optional[Context]) -> str:
        """Gives back the stored session of a name the caller used before, or raises ToolError."""
        stored = self._session(name, ctx)
        try:
            self.backend.editor().session(stored)
        except InputError:
            raise ToolError(f"No session {name!r}; start one with edit_image and a picture.") from None
        return stored

    def _source(self, value: str) -> Union[str, bytes]:
        """Gives back the picture a tool argument names; a refusal (a remote URL, a size) is the tool's error, in words."""
        try:
            return picture_source(value, self.settings, self.local_files)
        except InputError as exc:
            raise ToolError(str(exc)) from None

    def _checked(self, image: Optional[str], mask: Optional[str]) -> tuple[Optional[Image.Image], Optional[bytes]]:
        """Gives back the decoded picture and the mask's bytes, under the server's limits, or raises ToolError."""
        try:
            picture = read_picture(self._source(image), self.settings) if image else None
            region = read_mask(self._source(mask), self.settings) if mask else None
        except InputError as exc:
            raise ToolError(str(exc)) from None
        return picture, region

    def _admit(self, picture: Optional[Image.Image]) -> Callable[[], None]:
        """Takes a place for a request with this picture (`Backend.admit`); too many large ones is the tool's error."""
        try:
            return self.backend.admit(picture, self.settings)
        except ServerBusyError as exc:
            raise ToolError(str(exc)) from None

    @staticmethod
    def _link(ctx: Optional[Context]) -> Optional[Callable[[str], str]]:
        """Gives back what makes the address of a stored picture for this caller (None over stdio)."""
        request = ctx.request_context.request if ctx is not None else None
        if not isinstance(request, Request):
            return None
        key = api_key(request)
        return lambda image_id: image_link(request, image_id, key, "url")

    async def edit_image(
        self,
        instruction: str,
        image: Optional[str] = None,
        mask: Optional[str] = None,
        box: Optional[list[float]] = None,
        point: Optional[list[float]] = None,
        session: Optional[str] = None,
        ctx: Optional[Context] = None,
    ) -> CallToolResult:
        """Edits a picture as the instruction says ("remove the cup and make it look like winter").

        Args:
            instruction: what to change, in plain words; several edits may be asked at once.
            image: the picture: a data URL, base64, or (stdio only) a local file path. Optional when
                `session` names a session whose current picture is to be edited.
            mask: the region to change, drawn at the picture's size: white, or fully transparent, marks it.
            box: instead of a mask, [x0, y0, x1, y1] around the object to change, in the picture's pixels
                from its top-left corner; the object in it is outlined and only it changes.
            point: instead of a mask, [x, y] on the object to change, in the picture's pixels; more pairs
                [x1, y1, x2, y2, ...] for several clicks on the same object. With a box, they pick the
                object in it.
            session: a session id from an earlier call, to continue editing its latest version.
        """
        picture, region = await asyncio.to_thread(self._checked, image, mask)
        if picture is None and session is None:
            raise ToolError("Give the picture to edit (`image`), or a `session` from an earlier edit.")
        if region is not None and (box is not None or point is not None):
            raise ToolError(MASK_AND_SELECTION)
        name = session or uuid.uuid4().hex
        stored = self._session(name, ctx)
        backend = self.backend
        outcome = await _run(
            backend,
            ctx,
            lambda forward: backend.run_turn(stored, instruction, picture, forward, mask=region, box=box, point=point),
            self._admit(picture),
        )
        return _result(backend, outcome, name, self._link(ctx))

    async def _command(self, command: str, session: str, ctx: Optional[Context]) -> CallToolResult:
        backend = self.backend

        def work(forward) -> Outcome:
            # An unknown name is an error, not a new session.
            return backend.run_turn(self._existing(session, ctx), command, None, forward)

        return _result(backend, await _run(backend, None, work), session, self._link(ctx))

    async def undo(self, session: str, ctx: Optional[Context] = None) -> CallToolResult:
        """Steps a session back to its previous version and gives back that picture."""
        return await self._command("undo", session, ctx)

    async def redo(self, session: str, ctx: Optional[Context] = None) -> CallToolResult:
        """Steps a session forward again after an undo and gives back that picture."""
        return await self._command("redo", session, ctx)

    async def history(self, session: str, ctx: Optional[Context] = None) -> dict[str, Any]:
        """Gives back every version of a session, oldest first: index, instruction, and which is current."""

        def versions() -> list[dict]:
            found = self.backend.editor().session(self._existing(session, ctx)).history()
            return [{"index": v.index, "instruction": v.instruction, "current": v.current} for v in found]

        listed = await asyncio.wrap_future(self.backend.queue.submit(versions))
        return {"session": session, "versions": listed}

    def plan(self, instruction: str) -> dict[str, Any]:
        """Gives back how an instruction reads as edit steps (the rules planner's reading), without editing."""
        return plan_rules(instruction).model_dump(exclude_none=True)


def build_mcp(backend: Backend, settings: ServerSettings, *, local_files: bool) -> MCPServer:
    """Gives back the MCP server whose tools edit pictures through `backend`.

    Args:
        backend: the editor and the queue turns run on.
        settings: size limits and whether remote image URLs are fetched.
        local_files: read pictures given as file paths (stdio only: the client runs on this machine).
    """
    server = MCPServer(
        "chatedit",
        instructions="Edits pictures from plain-language instructions; sessions keep every version for undo.",
        # A tool error is answered to the client; the server's own log keeps warnings only.
        log_level="WARNING",
    )
    tools = Tools(backend, settings, local_files)
    server.add_tool(tools.edit_image)
    server.add_tool(tools.undo)
    server.add_tool(tools.redo)
    # These two answer plain JSON: MCP clients get it as structured content too.
    server.add_tool(tools.history, structured_output=True)
    server.add_tool(tools.plan, structured_output=True)
    return server


@contextlib.asynccontextmanager
async def http_sessions(app: FastAPI, backend: Backend, settings: ServerSettings) -> AsyncIterator[None]:
    """Runs the MCP sessions of `/mcp` for as long as the app runs (enter it in the app's lifespan)."""
    server = build_mcp(backend, settings, local_files=False)
    # The API key guards /mcp; clients reach the server under any host name, as they do the OpenAI routes.
    server.streamable_http_app(
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        max_request_body_size=settings.max_request_bytes,
    )
    async with server.session_manager.run():
        app.state.mcp_sessions = server.session_manager
        yield


class MCPEndpoint:
    """The `/mcp` route: checks the API key, then hands the request to the running MCP sessions."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        try:
            api_key(request)
            manager = getattr(request.app.state, "mcp_sessions", None)
            if manager is None:
                raise APIError(503, "MCP starts with the server; run the app with its lifespan.", "mcp_unavailable")
        except APIError as exc:
            await exc.response()(scope, receive, send)
            return
        await manager.asgi_app(scope, receive, send)


def run_stdio(editor: Union[Editor, Callable[[], Editor]], settings: Optional[ServerSettings] = None) -> None:
    """Serves the MCP tools on stdin and stdout until the client closes them (a factory's editor is built on first use)."""
    backend = Backend(editor)
    try:
        build_mcp(backend, settings or ServerSettings(), local_files=True).run("stdio")
    finally:
        backend.close()
