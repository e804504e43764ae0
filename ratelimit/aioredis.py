"""The /mcp limiter's Redis round trip from the event loop: the same script, keys and failure rules
as `RedisBackend`, over one pipelined connection per loop.

Every check of the loop goes out on one socket; commands queued in the same loop iteration leave in
one write (at most MCP_PIPELINE_BATCH of them), and Redis answers them in order. There is no thread
hop and no client library on the path. Failures become LimiterUnavailable (the gateway fails open)
and feed the same circuit breaker as the threads' connections; a check that gets no answer within
RATE_LIMIT_REDIS_TIMEOUT_MS drops the connection (answers would no longer match their commands) and
fails every check waiting on it.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from redis.connection import SSLConnection, UnixDomainSocketConnection
from redis.exceptions import RedisError

from ratelimit.core import LimiterUnavailable, Policy, StaleConfig
from ratelimit.redis_backend import _EVAL, _EVALSHA, _SCRIPT_BYTES, _TWO_KEYS, SCRIPT_SHA, RedisBackend, pack

# Packed commands kept per loop; past this many identities the cache starts over (a flood of addresses).
_COMMAND_CACHE_SIZE = 4096


class ReplyError(RedisError):
    """An error reply from Redis (`-ERR ...`, `-NOSCRIPT ...`)."""


class _Incomplete(Exception):
    pass


def _parse(buf: bytes, pos: int) -> tuple[Any, int]:
    """One RESP2 value at `pos`: (value, position after it). Raises _Incomplete."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind, line = buf[pos : pos + 1], buf[pos + 1 : end]
    pos = end + 2
    if kind == b":":
        return int(line), pos
    if kind == b"$":
        length = int(line)
        if length < 0:
            return None, pos
        if len(buf) < pos + length + 2:
            raise _Incomplete
        return buf[pos : pos + length], pos + length + 2
    if kind == b"*":
        count = int(line)
        if count < 0:
            return None, pos
        items: list[Any] = []
        for _ in range(count):
            if buf[pos : pos + 1] == b":":  # the script's replies are integers: read them inline
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    raise _Incomplete
                items.append(int(buf[pos + 1 : end]))
                pos = end + 2
            else:
                item, pos = _parse(buf, pos)
                items.append(item)
        return items, pos
    if kind == b"+":
        return line, pos
    if kind == b"-":
        return ReplyError(line.decode(errors="replace")), pos
    raise ValueError(f"unexpected reply type {kind!r}")


class _Connection(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float, max_batch: int) -> None:
        self.loop = loop
        self.timeout = timeout
        self.max_batch = max_batch
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buf = b""
        self._pending: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._watchdog: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def call(self, command: bytes) -> asyncio.Future[Any]:
        """Queue one packed command; the future gets its reply (a ReplyError is a value, not raised)."""
        future = self.loop.create_future()
        sent_at = self.loop.time()
        self._pending.append((future, sent_at))
        self._out.append(command)
        if len(self._out) >= self.max_batch:
            self._flush()  # a full batch leaves now: Redis answers it while the loop prepares the next
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)
        if self._watchdog is None:
            self._watchdog = self.loop.call_at(sent_at + self.timeout, self._watch)
        return future

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self.transport is not None and self._out:
            self.transport.write(b"".join(self._out))
        self._out.clear()

    def _watch(self) -> None:
        self._watchdog = None
        if not self._pending:
            return
        due = self._pending[0][1] + self.timeout
        if due <= self.loop.time():
            self.abort(LimiterUnavailable(f"TimeoutError: no answer within {self.timeout * 1000:.0f} ms"))
            return
        self._watchdog = self.loop.call_at(due, self._watch)

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        pos = 0
        try:
            while self._pending and pos < len(buf):
                try:
                    value, pos = _parse(buf, pos)
                except _Incomplete:
                    break
                future, _ = self._pending.popleft()
                if not future.done():
                    future.set_result(value)
        except ValueError as exc:
            self.abort(LimiterUnavailable(f"ProtocolError: {exc}"))
            return
        self._buf = buf[pos:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.abort(LimiterUnavailable(f"ConnectionError: {exc or 'closed by the server'}"))

    def abort(self, error: Exception) -> None:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        pending, self._pending = self._pending, collections.deque()
        for future, _ in pending:
            if not future.done():
                future.set_exception(error)
        if self.transport is not None:
            self.transport.abort()


class AsyncRedisBackend:
    """`RedisBackend.hit` for one event loop."""

    def __init__(self, backend: RedisBackend, loop: asyncio.AbstractEventLoop) -> None:
        self.backend = backend
        self.loop = loop
        self._conn: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None
        # The packed command per (identity, policy, generation): the same bytes for every request of an identity.
        self._commands: dict[tuple[str, Policy, str], bytes] = {}
        kwargs = backend.connection_kwargs
        self._connect_timeout = float(kwargs.get("socket_connect_timeout") or 1.0)
        self._timeout = float(kwargs.get("socket_timeout") or 1.0)

    async def hit(self, key: str, policy: Policy, generation: str) -> Sequence[int]:
        """Check and count one request. Raises LimiterUnavailable or StaleConfig."""
        backend = self.backend
        if not backend.breaker.allow():
            raise LimiterUnavailable("circuit open")
        try:
            conn = self._conn
            if conn is None or conn.closed:
                conn = await self._connection()
        except Exception as exc:
            raise backend.failed(exc) from exc
        return await self.receive(conn, conn.call(self._command(key, policy, generation)), key, policy, generation)

    def send(self, key: str, policy: Policy, generation: str) -> tuple[_Connection, asyncio.Future[Any]] | None:
        """`hit`'s command, queued now when nothing needs awaiting first (connected, circuit closed); its answer
        is read with `receive`. None: call `hit` instead."""
        conn = self._conn
        # An open circuit is `hit`'s to handle (`allow` counts its probes); a closed one lets everything through.
        if conn is None or conn.closed or self.backend.breaker.is_open:
            return None
        return conn, conn.call(self._command(key, policy, generation))

    async def receive(
        self, conn: _Connection, answer: asyncio.Future[Any], key: str, policy: Policy, generation: str
    ) -> Sequence[int]:
        """The reply to a command `send` (or `hit`) queued on `conn`. Raises LimiterUnavailable or StaleConfig."""
        backend = self.backend
        try:
            reply = await answer
            if isinstance(reply, ReplyError) and str(reply).startswith("NOSCRIPT"):
                # Redis restarted or SCRIPT FLUSH: EVAL runs the same check and caches the script again.
                args = backend.script_args(key, policy, generation)
                reply = await conn.call(pack(_EVAL, _SCRIPT_BYTES, _TWO_KEYS, *args)[0])
            if isinstance(reply, ReplyError):
                raise reply
            return backend.answered(reply)
        except StaleConfig:
            raise
        except Exception as exc:
            raise backend.failed(exc) from exc

    def _command(self, key: str, policy: Policy, generation: str) -> bytes:
        """The packed EVALSHA: the same bytes for every request of an identity, so kept."""
        command = self._commands.get((key, policy, generation))
        if command is None:
            if len(self._commands) >= _COMMAND_CACHE_SIZE:
                self._commands.clear()
            args = self.backend.script_args(key, policy, generation)
            command = self._commands[key, policy, generation] = pack(_EVALSHA, SCRIPT_SHA, _TWO_KEYS, *args)[0]
        return command

    async def _connection(self) -> _Connection:
        if self._connecting is not None:
            return await asyncio.shield(self._connecting)
        self._connecting = self.loop.create_future()
        try:
            conn = await asyncio.wait_for(self._open(), self._connect_timeout)
        except BaseException as exc:
            failed, self._connecting = self._connecting, None
            error = exc if isinstance(exc, Exception) else LimiterUnavailable("connect cancelled")
            failed.set_exception(error)
            failed.exception()  # retrieved: the waiters, if any, raise it themselves
            raise
        self._conn = conn
        done, self._connecting = self._connecting, None
        done.set_result(conn)
        return conn

    async def _open(self) -> _Connection:
        kwargs = self.backend.connection_kwargs
        conn = _Connection(self.loop, self._timeout, settings.MCP_PIPELINE_BATCH)
        if self.backend.connection_class is UnixDomainSocketConnection:
            await self.loop.create_unix_connection(lambda: conn, kwargs["path"])
        else:
            context = None
            if issubclass(self.backend.connection_class, SSLConnection):
                context = ssl.create_default_context(cafile=kwargs.get("ssl_ca_certs"))
                if kwargs.get("ssl_cert_reqs") in ("none", ssl.CERT_NONE):
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
            await self.loop.create_connection(
                lambda: conn, kwargs.get("host", "localhost"), int(kwargs.get("port", 6379)), ssl=context
            )
        try:
            password, username = kwargs.get("password"), kwargs.get("username")
            if password:
                auth = (b"AUTH", username.encode(), password.encode()) if username else (b"AUTH", password.encode())
                _expect_ok(await conn.call(pack(*auth)[0]))
            if int(kwargs.get("db") or 0):
                _expect_ok(await conn.call(pack(b"SELECT", str(int(kwargs["db"])).encode())[0]))
        except BaseException:
            conn.abort(LimiterUnavailable("connection setup failed"))
            raise
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.abort(LimiterUnavailable("closed"))
            self._conn = None


def _expect_ok(reply: Any) -> None:
    if isinstance(reply, ReplyError):
        raise reply
