"""Reference server: the official MCP SDK's own `MCPServer`, as plain as it gets.

Stateless Streamable HTTP with JSON responses, one `echo(text) -> str` tool, no
auth, served at `/mcp`. This is the "(c) SDK reference" target of the benchmark:
what a straightforward SDK-based server costs per request on the same machine.

The tool is `async def` by default (run on the event loop, the cheapest way the
SDK serves a tool); `BENCH_SDK_SYNC_TOOL=1` makes it a plain `def`, which the SDK
runs in a worker thread and which costs noticeably more per call.

Run with either server (from the repository root)::

    .venv/bin/uvicorn benchmarks.servers.sdk_reference:app --port 8101
    .venv/bin/daphne -b 127.0.0.1 -p 8102 benchmarks.servers.sdk_reference:app

Lifespan: the Starlette app returned by `streamable_http_app()` starts the
session manager (its task group) from the ASGI lifespan. uvicorn sends lifespan
events; Daphne does not, and without them every request fails with
"Task group is not initialized". `LazySessionManagerApp` therefore owns the
session manager's lifecycle itself, identically under both servers: it starts
`session_manager.run()` in a background task on the lifespan startup event or
on the first request, whichever comes first, and stops it on lifespan shutdown
(under Daphne the task simply dies with the process).
"""

from __future__ import annotations

import asyncio
import contextlib
import os

from mcp.server.mcpserver import MCPServer
from starlette.types import ASGIApp, Receive, Scope, Send

# The SDK's default log_level="INFO" configures the root logger and then logs a
# line per 2025-style request ("Terminating session: None"); every target in the
# benchmark runs with request logging off, so this one does too.
mcp = MCPServer("sdk-reference", log_level="WARNING")


if os.environ.get("BENCH_SDK_SYNC_TOOL") == "1":
    # A plain `def` tool: the SDK runs it in a worker thread (anyio.to_thread).
    @mcp.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

else:
    # Default: `async def`, run on the event loop; the cheapest tool the SDK can
    # serve, so the reference is as fast as the SDK gets.
    @mcp.tool(name="echo")
    async def echo_async(text: str) -> str:
        """Return the text unchanged."""
        return text


class LazySessionManagerApp:
    """ASGI wrapper that runs the SDK session manager without relying on ASGI lifespan."""

    def __init__(self, server: MCPServer) -> None:
        self._inner: ASGIApp = server.streamable_http_app(stateless_http=True, json_response=True)
        self._session_manager = server.session_manager
        self._lock: asyncio.Lock | None = None
        self._started: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._runner: asyncio.Task[None] | None = None

    async def _run_manager(self) -> None:
        assert self._started is not None
        assert self._stop is not None
        async with self._session_manager.run():
            self._started.set()
            await self._stop.wait()

    async def _ensure_started(self) -> None:
        if self._started is not None and self._started.is_set():
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._runner is None:
                self._started = asyncio.Event()
                self._stop = asyncio.Event()
                self._runner = asyncio.get_running_loop().create_task(self._run_manager())
            assert self._started is not None
            started = asyncio.ensure_future(self._started.wait())
            await asyncio.wait({started, self._runner}, return_when=asyncio.FIRST_COMPLETED)
            if not self._started.is_set():
                started.cancel()
                self._runner.result()  # re-raise the startup failure
                raise RuntimeError("session manager exited during startup")

    async def _shutdown(self) -> None:
        if self._runner is None or self._stop is None:
            return
        self._stop.set()
        with contextlib.suppress(Exception):
            await self._runner

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._ensure_started()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self._ensure_started()
        await self._inner(scope, receive, send)


app = LazySessionManagerApp(mcp)
