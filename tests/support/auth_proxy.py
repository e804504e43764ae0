"""A tiny loopback reverse proxy that adds ``Authorization: Bearer <token>`` to requests that carry none.

The official MCP conformance suite sends no credentials, and our /mcp endpoint has no unauthenticated mode,
so the suite talks to this proxy and the proxy talks to the server.

What it does, per request (HTTP/1.1, stdlib asyncio only):

- forwards any method and path (prefixed by the upstream base URL's path) to the upstream;
- streams bodies both ways as they arrive, keeping the message framing (``Content-Length`` or chunked,
  relayed chunk by chunk), so SSE responses reach the client event by event;
- drops hop-by-hop headers (``Connection``, ``Keep-Alive``, ``Proxy-*``, ``TE``, ``Trailer``, ``Upgrade`` and
  those named in ``Connection``) and keeps every other header as sent, in order;
- adds ``Authorization: Bearer <token>`` only when the request has no ``Authorization`` header;
- answers ``Expect: 100-continue`` itself (the header is not forwarded);
- rewrites ``Host`` (and ``Origin``) only when they name the proxy itself (``127.0.0.1:<proxy port>`` or
  ``localhost:<proxy port>``): they become the upstream's ``host:port`` (and origin), so the server sees what
  a direct client would send. Any other ``Host``/``Origin`` (e.g. a DNS-rebinding probe's ``evil.example.com``)
  passes through untouched, so the server's Host/Origin validation is what answers it;
- adds no ``Forwarded``/``X-Forwarded-*`` headers.

The token is never printed or logged.

Use from Python (the proxy runs its own event loop in a background thread)::

    with AuthProxy("http://127.0.0.1:8000", token="...") as proxy:
        run_conformance(proxy.url + "/mcp", None)

or by hand::

    python -m tests.support.auth_proxy --upstream http://127.0.0.1:8000 --token-file F [--port P]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import ssl
import sys
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    }
)
MAX_HEAD_BYTES = 64 * 1024
READ_SIZE = 64 * 1024
CONNECT_TIMEOUT = 10.0

Headers = list[tuple[str, str]]


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _PeerClosed(Exception):
    """The other end (client or upstream) closed its connection."""


class _Stream:
    """A StreamReader with a push-back buffer (bytes read early by the disconnect watcher)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.buffer = bytearray()

    async def read_some(self) -> bytes:
        if self.buffer:
            data = bytes(self.buffer)
            self.buffer.clear()
            return data
        return await self.reader.read(READ_SIZE)

    async def read_head(self) -> bytes | None:
        """Read up to and including the blank line ending a message head; ``None`` on a clean EOF."""
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self.buffer[: end + 4])
                del self.buffer[: end + 4]
                return head
            if len(self.buffer) > MAX_HEAD_BYTES:
                raise _BadRequest(431, "Request Header Fields Too Large")
            data = await self.reader.read(READ_SIZE)
            if not data:
                if self.buffer.strip():
                    raise _BadRequest(400, "Bad Request")
                return None
            self.buffer += data

    async def read_line(self) -> bytes:
        while True:
            end = self.buffer.find(b"\r\n")
            if end >= 0:
                line = bytes(self.buffer[: end + 2])
                del self.buffer[: end + 2]
                return line
            if len(self.buffer) > MAX_HEAD_BYTES:
                raise _BadRequest(400, "Bad Request")
            data = await self.reader.read(READ_SIZE)
            if not data:
                raise _PeerClosed
            self.buffer += data

    async def read_upto(self, n: int) -> bytes:
        """Read between 1 and ``n`` bytes."""
        if self.buffer:
            data = bytes(self.buffer[:n])
            del self.buffer[:n]
            return data
        data = await self.reader.read(min(n, READ_SIZE))
        if not data:
            raise _PeerClosed
        return data


@dataclass
class _Message:
    start_line: str
    headers: Headers = field(default_factory=list)

    def get(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key.lower() == name]

    def is_chunked(self) -> bool:
        codings = ",".join(self.get_all("transfer-encoding")).lower()
        return "chunked" in [c.strip() for c in codings.split(",")]

    def content_length(self) -> int | None:
        values = {v.strip() for v in self.get_all("content-length")}
        if not values:
            return None
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise _BadRequest(400, "Bad Request")
        return int(next(iter(values)))

    def connection_tokens(self) -> set[str]:
        return {t.strip().lower() for v in self.get_all("connection") for t in v.split(",") if t.strip()}

    def encode(self) -> bytes:
        lines = [self.start_line] + [f"{k}: {v}" for k, v in self.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse_head(head: bytes) -> _Message:
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes anything
        raise _BadRequest(400, "Bad Request") from exc
    lines = text.split("\r\n")
    message = _Message(lines[0])
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(400, "Bad Request")
        message.headers.append((name, value.strip()))
    return message


def _strip_hop_by_hop(message: _Message) -> Headers:
    """Headers minus hop-by-hop ones. ``Transfer-Encoding`` stays: bodies are relayed with their own framing."""
    drop = HOP_BY_HOP | message.connection_tokens()
    return [(k, v) for k, v in message.headers if k.lower() not in drop]


async def _relay_body(source: _Stream, sink: asyncio.StreamWriter, message: _Message) -> None:
    """Relay one framed message body (chunked or ``Content-Length``) from ``source`` to ``sink`` as it arrives.

    Chunked bodies are copied verbatim, chunk by chunk (sizes, extensions and trailers included).
    A message with neither framing has no body here (requests) or is handled by the caller (responses).
    """
    if message.is_chunked():
        while True:
            size_line = await source.read_line()
            sink.write(size_line)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise _BadRequest(400, "Bad Request") from exc
            if size == 0:
                while True:  # trailers, then the final blank line
                    trailer = await source.read_line()
                    sink.write(trailer)
                    if trailer == b"\r\n":
                        break
                await sink.drain()
                return
            remaining = size + 2  # chunk data and its CRLF
            while remaining:
                data = await source.read_upto(remaining)
                remaining -= len(data)
                sink.write(data)
            await sink.drain()
    length = message.content_length()
    remaining = length or 0
    while remaining:
        data = await source.read_upto(remaining)
        remaining -= len(data)
        sink.write(data)
        await sink.drain()


class AuthProxy:
    """Loopback reverse proxy adding a bearer token; see the module docstring.

    ``start()`` runs it in a daemon thread with its own event loop and returns its base URL
    (``http://127.0.0.1:<port>``); ``stop()`` closes it. Also a context manager.
    """

    def __init__(self, upstream: str, token: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be an http(s) URL, got {upstream!r}")
        if not token or any(c in token for c in "\r\n"):
            raise ValueError("token must be a non-empty single line")
        self.upstream_scheme = parts.scheme
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or (443 if parts.scheme == "https" else 80)
        default_port = (parts.scheme == "http" and self.upstream_port == 80) or (
            parts.scheme == "https" and self.upstream_port == 443
        )
        host_part = f"[{self.upstream_host}]" if ":" in self.upstream_host else self.upstream_host
        self.upstream_authority = host_part if default_port else f"{host_part}:{self.upstream_port}"
        self.upstream_origin = f"{self.upstream_scheme}://{self.upstream_authority}"
        self.upstream_path = parts.path.rstrip("/")
        self._authorization = f"Bearer {token}"
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:  # never shows the token
        return f"AuthProxy(url={self.url!r}, upstream={self.upstream_origin + self.upstream_path!r})"

    @property
    def url(self) -> str:
        """The proxy's base URL; append the MCP path (``/mcp``)."""
        return f"http://{self.host}:{self.port}"

    # -- lifecycle -----------------------------------------------------------------------------------------

    async def serve(self) -> None:
        """Start listening on the current event loop (for callers that run their own loop)."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info("auth proxy listening on %s -> %s", self.url, self.upstream_origin + self.upstream_path)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None

    def start(self) -> str:
        """Run the proxy in a background thread; returns its base URL once it is listening."""
        if self._thread is not None:
            raise RuntimeError("proxy already started")
        loop = asyncio.new_event_loop()
        self._loop = loop
        thread = threading.Thread(target=loop.run_forever, name="auth-proxy", daemon=True)
        thread.start()
        self._thread = thread
        try:
            self._call(self.serve(), timeout=10)
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        """Close the listener and every open connection, then end the background thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            self._call(self.aclose(), timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        if not thread.is_alive():
            loop.close()
        self._loop = self._thread = None

    def _call(self, coro: Coroutine[Any, Any, None], timeout: float) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def __enter__(self) -> AuthProxy:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- per connection ------------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        downstream = _Stream(reader)
        try:
            while await self._one_exchange(downstream, writer):
                pass
        except (_PeerClosed, ConnectionError, asyncio.IncompleteReadError):
            pass
        except _BadRequest as exc:
            with contextlib.suppress(Exception):
                await self._simple_response(writer, exc.status, exc.reason)
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("auth proxy: unexpected error")
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _simple_response(self, writer: asyncio.StreamWriter, status: int, reason: str) -> None:
        body = f"auth proxy: {reason}\n".encode()
        writer.write(
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    def _own_authorities(self) -> set[str]:
        names = {self.host, "localhost"} if self.host == "127.0.0.1" else {self.host}
        return {f"{name}:{self.port}".lower() for name in names}

    def _request_headers(self, request: _Message) -> Headers:
        own = self._own_authorities()
        headers: Headers = []
        for name, value in _strip_hop_by_hop(request):
            lower = name.lower()
            if lower == "expect":
                continue
            if lower == "host" and value.lower() in own:
                value = self.upstream_authority
            elif lower == "origin" and value.lower() in {f"http://{a}" for a in own}:
                value = self.upstream_origin
            headers.append((name, value))
        if request.get("host") is None:
            headers.insert(0, ("Host", self.upstream_authority))
        if request.get("authorization") is None:
            headers.append(("Authorization", self._authorization))
        headers.append(("Connection", "close"))
        return headers

    async def _one_exchange(self, downstream: _Stream, writer: asyncio.StreamWriter) -> bool:
        """Proxy one request/response; returns whether the downstream connection stays open."""
        head = await downstream.read_head()
        if head is None:
            return False
        request = _parse_head(head)
        try:
            method, target, version = request.start_line.split(" ")
        except ValueError as exc:
            raise _BadRequest(400, "Bad Request") from exc
        if not version.startswith("HTTP/1.") or not (target.startswith("/") or target == "*"):
            raise _BadRequest(400, "Bad Request")
        if request.is_chunked() and request.content_length() is not None:
            raise _BadRequest(400, "Bad Request")
        keep_alive = version == "HTTP/1.1" and "close" not in request.connection_tokens()

        path = target if target != "*" else "/"
        upstream_request = _Message(f"{method} {self.upstream_path}{path} HTTP/1.1", self._request_headers(request))
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.upstream_host,
                    self.upstream_port,
                    ssl=ssl.create_default_context() if self.upstream_scheme == "https" else None,
                ),
                CONNECT_TIMEOUT,
            )
        except (OSError, TimeoutError):
            logger.warning("auth proxy: upstream %s unreachable", self.upstream_origin)
            raise _BadRequest(502, "Bad Gateway") from None
        upstream = _Stream(up_reader)
        try:
            up_writer.write(upstream_request.encode())
            await up_writer.drain()
            if (request.get("expect") or "").lower() == "100-continue":
                # The Expect header is not forwarded; tell the client to send its body right away.
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                await writer.drain()
            await _relay_body(downstream, up_writer, request)
            return await self._relay_response(method, upstream, downstream, writer, keep_alive)
        finally:
            up_writer.close()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()

    async def _relay_response(
        self,
        method: str,
        upstream: _Stream,
        downstream: _Stream,
        writer: asyncio.StreamWriter,
        keep_alive: bool,
    ) -> bool:
        while True:
            head = await upstream.read_head()
            if head is None:
                raise _BadRequest(502, "Bad Gateway")
            response = _parse_head(head)
            status_parts = response.start_line.split(" ", 2)
            if len(status_parts) < 2 or not status_parts[1].isdigit():
                raise _BadRequest(502, "Bad Gateway")
            status = int(status_parts[1])
            if 100 <= status < 200 and status != 101:  # interim responses: relay and read on
                writer.write(_Message(response.start_line, _strip_hop_by_hop(response)).encode())
                await writer.drain()
                continue
            break

        bodyless = method == "HEAD" or status in (204, 304) or 100 <= status < 200
        until_close = not bodyless and not response.is_chunked() and response.content_length() is None
        # The upstream's own "Connection: close" concerns that hop only (we asked for it).
        keep_alive = keep_alive and not until_close
        headers = _strip_hop_by_hop(response)
        headers.append(("Connection", "keep-alive" if keep_alive else "close"))
        writer.write(_Message(response.start_line, headers).encode())
        await writer.drain()
        logger.debug("auth proxy: %s -> %s", method, status)

        # Watch the client while the body streams (an SSE response can idle for long): when the client
        # hangs up, stop relaying and close the upstream connection. Early bytes (a pipelined request)
        # are pushed back for the next exchange.
        watcher = asyncio.ensure_future(downstream.reader.read(READ_SIZE))
        relay = asyncio.ensure_future(self._relay_response_body(upstream, writer, response, bodyless, until_close))
        try:
            done, _ = await asyncio.wait({watcher, relay}, return_when=asyncio.FIRST_COMPLETED)
            if relay not in done:
                early = watcher.result()
                if not early:
                    raise _PeerClosed
                downstream.buffer += early
                await relay
            else:
                relay.result()
                if watcher.done():
                    early = watcher.result()
                    if not early:
                        return False
                    downstream.buffer += early
        finally:
            for task in (watcher, relay):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task
        return keep_alive

    async def _relay_response_body(
        self,
        upstream: _Stream,
        writer: asyncio.StreamWriter,
        response: _Message,
        bodyless: bool,
        until_close: bool,
    ) -> None:
        if bodyless:
            return
        if not until_close:
            try:
                await _relay_body(upstream, writer, response)
            except _BadRequest:  # malformed upstream framing after the head went out: just hang up
                raise _PeerClosed from None
            return
        while True:
            data = await upstream.read_some()
            if not data:
                return
            writer.write(data)
            await writer.drain()


# -- command line ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.auth_proxy",
        description="Loopback reverse proxy that adds 'Authorization: Bearer <token>' to requests without one.",
    )
    parser.add_argument("--upstream", required=True, help="upstream base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--token-file", required=True, type=Path, help="file holding the bearer token")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="listen port (default: a free one)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each request's method and status")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.verbose:
        logger.setLevel(logging.DEBUG)
    token = args.token_file.read_text(encoding="utf-8").strip()
    proxy = AuthProxy(args.upstream, token, host=args.host, port=args.port)

    async def run() -> None:
        await proxy.serve()
        print(proxy.url, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await proxy.aclose()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
