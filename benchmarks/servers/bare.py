"""Bare ASGI app: the ceiling of the benchmark.

Answers any POST with a fixed JSON-RPC `tools/call` result and does nothing
else (no parsing, no validation, no auth): what the ASGI server itself costs
per request. Any other method gets 405. Serves every path.

    .venv/bin/uvicorn benchmarks.servers.bare:app --port 8101
    .venv/bin/daphne -b 127.0.0.1 -p 8102 benchmarks.servers.bare:app
"""

from __future__ import annotations

from typing import Any

from starlette.types import Receive, Scope, Send

BODY = (
    b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hello"}],'
    b'"structuredContent":{"result":"hello"},"isError":false}}'
)

_OK_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode("ascii")),
]
_405_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-type", b"text/plain"),
    (b"content-length", b"0"),
    (b"allow", b"POST"),
]


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    # Drain the request body, as any real server must.
    message: Any = await receive()
    while message["type"] == "http.request" and message.get("more_body", False):
        message = await receive()
    if scope["method"] != "POST":
        await send({"type": "http.response.start", "status": 405, "headers": _405_HEADERS})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": _OK_HEADERS})
    await send({"type": "http.response.body", "body": BODY})
