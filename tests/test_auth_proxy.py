"""The conformance harness's bearer-adding loopback proxy (tests/support/auth_proxy.py), against a stub upstream."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
import pytest

from tests.support.auth_proxy import AuthProxy

TOKEN = "sekret-token-value"


@dataclass
class Seen:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[Seen]] = []
    release_second_event: ClassVar[threading.Event] = threading.Event()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        body = self._read_body()
        self.seen.append(Seen(self.command, self.path, list(self.headers.items()), body))
        if self.path.endswith("/sse"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for event in (b"data: one\n\n", b"data: two\n\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
                if event.endswith(b"one\n\n") and not self.release_second_event.wait(10):
                    return
            self.wfile.write(b"0\r\n\r\n")
            return
        reply = b"echo:" + body
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(reply)))
        self.send_header("Keep-Alive", "timeout=5")
        self.send_header("X-Upstream", "yes")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply)

    do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = _handle


@pytest.fixture
def upstream() -> Iterator[str]:
    _Upstream.seen = []
    _Upstream.release_second_event = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    _Upstream.release_second_event.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(upstream: str) -> Iterator[AuthProxy]:
    with AuthProxy(upstream + "/base/", TOKEN) as running:
        yield running


def test_adds_bearer_only_when_missing_and_forwards_path(proxy: AuthProxy) -> None:
    with httpx.Client(base_url=proxy.url) as client:
        first = client.post("/mcp?x=1", content=b"hello")
        second = client.get("/mcp", headers={"Authorization": "Bearer client-own"})
    assert (first.status_code, first.content) == (201, b"echo:hello")
    assert second.status_code == 200
    seen = _Upstream.seen
    assert (seen[0].method, seen[0].path) == ("POST", "/base/mcp?x=1")
    assert seen[0].header("Authorization") == f"Bearer {TOKEN}"
    assert seen[1].header("Authorization") == "Bearer client-own"
    assert [k for k, _ in seen[1].headers].count("Authorization") == 1


def test_rewrites_own_host_and_origin_only(proxy: AuthProxy, upstream: str) -> None:
    upstream_authority = upstream.removeprefix("http://")
    with httpx.Client(base_url=proxy.url) as client:
        client.get("/a", headers={"Origin": proxy.url})
        client.get("/b", headers={"Host": "evil.example.com", "Origin": "http://evil.example.com"})
        client.get("/c", headers={"Host": f"localhost:{proxy.port}", "Origin": "https://claude.ai"})
    own, foreign, other_origin = _Upstream.seen
    assert (own.header("Host"), own.header("Origin")) == (upstream_authority, upstream)
    assert (foreign.header("Host"), foreign.header("Origin")) == ("evil.example.com", "http://evil.example.com")
    assert (other_origin.header("Host"), other_origin.header("Origin")) == (upstream_authority, "https://claude.ai")
    assert all(s.header("X-Forwarded-For") is None and s.header("Forwarded") is None for s in _Upstream.seen)


def test_drops_hop_by_hop_headers_both_ways(proxy: AuthProxy) -> None:
    with httpx.Client(base_url=proxy.url) as client:
        response = client.get(
            "/h",
            headers={
                "Connection": "keep-alive, X-Private",
                "X-Private": "1",
                "Proxy-Authorization": "x",
                "X-Keep": "k",
            },
        )
    seen = _Upstream.seen[0]
    assert seen.header("X-Keep") == "k"
    assert seen.header("X-Private") is None
    assert seen.header("Proxy-Authorization") is None
    assert response.headers["X-Upstream"] == "yes"
    assert "keep-alive" not in response.headers  # the upstream's Keep-Alive header is hop-by-hop


def test_streams_chunked_request_and_large_bodies(proxy: AuthProxy) -> None:
    big = bytes(range(256)) * 8192  # 2 MiB

    def chunks() -> Iterator[bytes]:
        yield b"part1-"
        yield b"part2"

    with httpx.Client(base_url=proxy.url) as client:
        chunked = client.post("/chunked", content=chunks())
        large = client.put("/large", content=big)
        head = client.head("/head")
        after = client.get("/after-head")  # same connection still usable after a bodyless response
    assert chunked.content == b"echo:part1-part2"
    assert _Upstream.seen[0].header("Transfer-Encoding") == "chunked"
    assert large.content == b"echo:" + big
    assert (head.status_code, head.content) == (200, b"")
    assert after.content == b"echo:"


def test_relays_sse_event_by_event(proxy: AuthProxy) -> None:
    events = []
    with httpx.Client(base_url=proxy.url, timeout=5) as client, client.stream("GET", "/sse") as response:
        assert response.headers["content-type"] == "text/event-stream"
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line)
                # The upstream holds the second event back until the first one got here through the proxy.
                _Upstream.release_second_event.set()
    assert events == ["data: one", "data: two"]


def test_keeps_client_connection_alive(proxy: AuthProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        request = f"GET /k HTTP/1.1\r\nHost: 127.0.0.1:{proxy.port}\r\n\r\n".encode()
        sock.sendall(request + request)
        received = b""
        while received.count(b"echo:") < 2:
            data = sock.recv(65536)
            assert data, f"connection closed early: {received!r}"
            received += data
    assert received.count(b"HTTP/1.1 200") == 2
    assert b"Connection: keep-alive" in received


def test_answers_expect_100_continue(proxy: AuthProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"body")
        received = b""
        while b"echo:body" not in received:
            data = sock.recv(65536)
            assert data, f"connection closed early: {received!r}"
            received += data
    assert _Upstream.seen[0].header("Expect") is None


def test_bad_gateway_when_upstream_is_down() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    with AuthProxy(f"http://127.0.0.1:{dead_port}", TOKEN) as proxy, httpx.Client() as client:
        response = client.get(proxy.url + "/mcp")
    assert response.status_code == 502


def test_token_never_logged_or_shown(upstream: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with AuthProxy(upstream, TOKEN) as proxy, httpx.Client() as client:
        client.get(proxy.url + "/mcp")
        shown = repr(proxy)
    assert TOKEN not in caplog.text
    assert TOKEN not in shown
    with pytest.raises(ValueError, match="single line"):
        AuthProxy(upstream, "a\r\nX-Injected: 1")
