"""The limiter in Redis: one Lua script checks and counts every window of an identity in one round trip.

The script reads the clock with TIME, so every Daphne process shares Redis's clock, not its
own. It also compares the per-organisation limits' generation the caller's policy was computed
under with the current one (`<prefix>:cfg-gen`, bumped whenever an operator changes an
override), so that a change made in one process applies to the very next request in all of them.

Failures never reach the caller as Redis errors: they become LimiterUnavailable, quickly. Every
worker thread keeps one connection of its own (no pool locking on the hot path) with short
connect and read timeouts and no retries, and a circuit breaker stops calling Redis at all
after a few consecutive failures, probing again after a cool-down.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError, RedisError

from ratelimit.core import CircuitBreaker, LimiterUnavailable, Policy, StaleConfig

logger = logging.getLogger(__name__)

# KEYS[1]: the identity's hash of counters; KEYS[2]: the overrides' generation.
# ARGV[1]: the generation the caller's limits belong to ('' = do not check);
# ARGV[2..]: window length (ms), limit; one pair per window.
# Hash fields per window: "<length>s" (window start, ms) and "<length>c" (requests counted in it).
SCRIPT = """
local gen = redis.call('GET', KEYS[2]) or '0'
if ARGV[1] ~= '' and ARGV[1] ~= gen then
  return {-1, gen}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = (#ARGV - 1) / 2
local fields = {}
for i = 1, n do
  fields[2 * i - 1] = ARGV[2 * i] .. 's'
  fields[2 * i] = ARGV[2 * i] .. 'c'
end
local stored = redis.call('HMGET', KEYS[1], unpack(fields))
local starts, counts = {}, {}
local admitted, worst, worst_reset = 1, 0, -1
for i = 1, n do
  local length = tonumber(ARGV[2 * i])
  local start = tonumber(stored[2 * i - 1])
  local count = tonumber(stored[2 * i]) or 0
  if start == nil or now >= start + length then
    start, count = now, 0
  end
  starts[i], counts[i] = start, count
  if count >= tonumber(ARGV[2 * i + 1]) and start + length > worst_reset then
    admitted, worst, worst_reset = 0, i, start + length
  end
end
local reply = {admitted, worst}
local updates, expires = {}, 0
for i = 1, n do
  local length = tonumber(ARGV[2 * i])
  if admitted == 1 then
    counts[i] = counts[i] + 1
    updates[#updates + 1] = fields[2 * i - 1]
    updates[#updates + 1] = starts[i]
    updates[#updates + 1] = fields[2 * i]
    updates[#updates + 1] = counts[i]
    expires = math.max(expires, starts[i] + length)
  end
  reply[#reply + 1] = math.max(0, tonumber(ARGV[2 * i + 1]) - counts[i])
  reply[#reply + 1] = starts[i] + length - now
end
if admitted == 1 then
  redis.call('HSET', KEYS[1], unpack(updates))
  redis.call('PEXPIRE', KEYS[1], expires - now)
end
return reply
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode(), usedforsecurity=False).hexdigest().encode()
_EVALSHA = b"EVALSHA"
_EVAL = b"EVAL"
_SCRIPT_BYTES = SCRIPT.encode()
_TWO_KEYS = b"2"


def pack(*parts: bytes) -> list[bytes]:
    """One command in RESP, built by hand (redis-py's generic packing costs more CPU than the round
    trip), as the one-element list `send_packed_command` takes."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out += (b"$%d\r\n" % len(part), part, b"\r\n")
    return [b"".join(out)]


class _Sent:
    """A check sent and not yet read."""

    __slots__ = ("args", "conn")

    def __init__(self, conn: Any, args: tuple[bytes, ...]) -> None:
        self.conn = conn
        self.args = args


class RedisBackend:
    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        connect_timeout: float,
        timeout: float,
        breaker: CircuitBreaker,
    ) -> None:
        # Only to parse the URL (host, port, db, credentials, TLS) into connection arguments;
        # connections are made per thread below.
        template = redis.ConnectionPool.from_url(
            url,
            socket_connect_timeout=connect_timeout,
            socket_timeout=timeout,
            socket_keepalive=True,
            health_check_interval=0,
        )
        self.connection_class: Any = template.connection_class
        self.connection_kwargs = dict(template.connection_kwargs)
        self.prefix = prefix
        self.generation_key = f"{prefix}:cfg-gen"
        self.generation_key_bytes = self.generation_key.encode()
        self.breaker = breaker
        self._local = threading.local()
        self._connections: list[Any] = []
        self._connections_lock = threading.Lock()

    def key(self, identity: str) -> str:
        return f"{self.prefix}:{identity}"

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.connection_class(**self.connection_kwargs)
            self._local.conn = conn
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def script_args(self, key: str, policy: Policy, generation: str) -> tuple[bytes, ...]:
        """The script's KEYS and ARGV for one check of `key` (both backends send exactly these)."""
        return (self.key(key).encode(), self.generation_key_bytes, generation.encode(), *policy.argv)

    def send(self, key: str, policy: Policy, generation: str) -> _Sent:
        """Send the check; `receive` reads its answer (anything may run in between: that is the point).

        Raises LimiterUnavailable. Every send must be followed by its receive on the same thread:
        the connection is this thread's, and the circuit breaker waits for the outcome.
        """
        if not self.breaker.allow():
            raise LimiterUnavailable("circuit open")
        args = self.script_args(key, policy, generation)
        try:
            conn = self._connection()
            # redis-py drops the connection itself on socket errors and timeouts; the next call reconnects.
            conn.send_packed_command(pack(_EVALSHA, SCRIPT_SHA, _TWO_KEYS, *args), check_health=False)
        except Exception as exc:
            raise self.failed(exc) from exc
        return _Sent(conn, args)

    def receive(self, sent: _Sent) -> Sequence[int]:
        """The answer to `send`. Raises LimiterUnavailable or StaleConfig."""
        try:
            try:
                reply = sent.conn.read_response()
            except NoScriptError:
                # Redis restarted or SCRIPT FLUSH: EVAL runs the same check and caches the script again.
                sent.conn.send_packed_command(pack(_EVAL, _SCRIPT_BYTES, _TWO_KEYS, *sent.args), check_health=False)
                reply = sent.conn.read_response()
            return self.answered(reply)
        except StaleConfig:
            raise
        except Exception as exc:
            raise self.failed(exc) from exc

    def hit(self, key: str, policy: Policy, generation: str) -> Sequence[int]:
        return self.receive(self.send(key, policy, generation))

    def answered(self, reply: Any) -> Sequence[int]:
        """The script's reply, from either backend: counts as a check that worked; raises StaleConfig when the
        caller's limits are out of date (Redis answered, so that is no failure either)."""
        if reply[0] == -1:
            self.breaker.success()
            raise StaleConfig(reply[1].decode())
        self.recovered()
        return reply  # type: ignore[no-any-return]

    def recovered(self) -> None:
        """Record a check that worked (closing the circuit if it was open)."""
        if self.breaker.success():
            logger.warning("rate limiter: Redis answers again, limiting resumed")

    def failed(self, exc: Exception) -> LimiterUnavailable:
        """Record a failed check (opening the circuit after a few); the error to raise."""
        # Redis errors (refused, timeout, OOM, ...) and anything unexpected from the client alike:
        # the limiter must never be the reason a request fails.
        if not isinstance(exc, RedisError | OSError | LimiterUnavailable | TimeoutError):
            logger.error("rate limiter: unexpected error from the Redis client", exc_info=exc)
        if self.breaker.failure():
            logger.warning(
                "rate limiter: circuit open after %d consecutive Redis failures; probing again every %.1f s",
                self.breaker.threshold,
                self.breaker.cooldown,
            )
        return LimiterUnavailable(f"{type(exc).__name__}: {exc}")

    def _command(self, *parts: bytes) -> Any:
        """One plain command, off the hot path. Raises LimiterUnavailable."""
        try:
            conn = self._connection()
            conn.send_packed_command(pack(*parts), check_health=False)
            return conn.read_response()
        except (RedisError, OSError) as exc:
            raise LimiterUnavailable(f"{type(exc).__name__}: {exc}") from exc

    def bump_generation(self) -> None:
        """Tell every process that per-organisation limits changed. Raises LimiterUnavailable."""
        self._command(b"INCR", self.generation_key_bytes)

    def now_ms(self) -> int:
        """Redis's clock, the one the windows follow."""
        seconds, micros = self._command(b"TIME")
        return int(seconds) * 1000 + int(micros) // 1000

    def counters(self, identity: str) -> dict[int, tuple[int, int]]:
        """Window length (ms) -> (window start (ms), requests counted), for inspection."""
        raw = self._command(b"HGETALL", self.key(identity).encode())
        pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)  # RESP3 or RESP2
        fields = {name.decode(): int(value) for name, value in pairs}
        return {int(name[:-1]): (start, fields[f"{name[:-1]}c"]) for name, start in fields.items() if name[-1] == "s"}

    def close(self) -> None:
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.disconnect()
