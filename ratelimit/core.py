"""The limiter's semantics, shared by the Redis backend and the in-process one.

Every identity has one fixed window per policy window (second, hour, day, ...).
A window starts at the identity's first request after the previous one ended
(not at clock boundaries, so that clients do not all come back at the top of
the hour) and admits `limit` requests. A request is admitted only if every
window has room, and then counts in every window; a refused request counts in
none. When several windows are full, the one that resets last is reported:
retrying any earlier would be refused again.

A backend's `hit` answers with a flat list of integers (the Lua script's reply
shape, which the in-process backend copies):

    [admitted (1/0), index of the reported window (1-based, 0 if admitted),
     remaining_1, reset_in_ms_1, remaining_2, reset_in_ms_2, ...]
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

WINDOW_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class LimiterUnavailable(Exception):
    """The backend could not answer (connection refused, timeout, OOM, circuit open, ...)."""


class StaleConfig(Exception):
    """The per-organisation limits changed since the caller computed its policy (Redis backend only)."""

    def __init__(self, generation: str) -> None:
        super().__init__(generation)
        self.generation = generation


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    seconds: int
    limit: int


class Policy:
    """A fixed set of windows, with what every request needs precomputed once."""

    __slots__ = ("argv", "policy_header", "window_names", "windows")

    def __init__(self, windows: Sequence[Window]) -> None:
        if not windows:
            raise ValueError("a policy needs at least one window")
        self.windows = tuple(windows)
        self.window_names = tuple(w.name for w in self.windows)
        # The script's arguments after the generation: window length (ms) and limit, per window.
        self.argv = tuple(str(n).encode() for w in self.windows for n in (w.seconds * 1000, w.limit))
        # draft-ietf-httpapi-ratelimit-headers: a List of quota policy items, "name";q=quota;w=window.
        self.policy_header = ", ".join(f'"{w.name}";q={w.limit};w={w.seconds}' for w in self.windows).encode()

    def __repr__(self) -> str:
        return f"Policy({', '.join(f'{w.name}={w.limit}' for w in self.windows)})"


@lru_cache(maxsize=1024)
def policy_of(limits: tuple[tuple[str, int], ...]) -> Policy:
    """The Policy for `(("second", 20), ("hour", 5000), ...)`, built once per distinct set of limits."""
    return Policy([Window(name, WINDOW_SECONDS[name], limit) for name, limit in limits])


class Decision(NamedTuple):
    """What the limiter decided for one request (immutable; a NamedTuple: one is built per request)."""

    allowed: bool
    limit_type: str | None  # the reported window's name when refused
    retry_after: int  # whole seconds until that window resets (>= 1) when refused, else 0
    headers: tuple[tuple[bytes, bytes], ...]  # RateLimit-Policy and RateLimit; none when the limiter was bypassed


# The limiter could not answer and the request goes through (fail open).
BYPASSED = Decision(allowed=True, limit_type=None, retry_after=0, headers=())


def _whole_seconds(ms: int) -> int:
    # Rounded up, so that a client waiting this long is past the reset; at least 1.
    return max(1, -(-ms // 1000))


def decide(policy: Policy, reply: Sequence[int]) -> Decision:
    """Turn a backend's reply into a Decision with its response headers."""
    items = [
        f'"{name}";r={reply[2 + 2 * i]};t={max(1, -(-reply[3 + 2 * i] // 1000))}'
        for i, name in enumerate(policy.window_names)
    ]
    headers = ((b"ratelimit-policy", policy.policy_header), (b"ratelimit", ", ".join(items).encode()))
    if reply[0] == 1:
        return Decision(True, None, 0, headers)
    worst = reply[1] - 1
    return Decision(False, policy.windows[worst].name, _whole_seconds(reply[3 + 2 * worst]), headers)


class Backend(Protocol):
    def send(self, key: str, policy: Policy, generation: str) -> Any:
        """Start checking and counting one request of `key`. Raises LimiterUnavailable."""
        ...

    def receive(self, sent: Any) -> Sequence[int]:
        """The reply to `send` (exactly once per send). Raises LimiterUnavailable or StaleConfig."""
        ...

    def hit(self, key: str, policy: Policy, generation: str) -> Sequence[int]:
        """send, then receive."""
        ...


class _Entry:
    __slots__ = ("expires_ms", "windows")

    def __init__(self) -> None:
        self.expires_ms = 0
        self.windows: dict[int, list[int]] = {}  # window length (ms) -> [start (ms), count]


class MemoryBackend:
    """The same windows in this process's memory: for the embedded run (no REDIS_URL), and as the
    strict endpoints' fallback when Redis fails. Thread-safe; counters are per process."""

    # Enough for every identity of a busy day; past it, expired entries are swept, then the oldest dropped.
    MAX_KEYS = 100_000
    SWEEP_EVERY = 10_000

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._max_keys = max_keys
        self._new_since_sweep = 0

    @staticmethod
    def now_ms() -> int:
        # Monotonic: counters live in this process only, and must not jump with the wall clock.
        return time.monotonic_ns() // 1_000_000

    def send(self, key: str, policy: Policy, generation: str = "") -> list[int]:
        # Nothing to wait for in memory: the whole check happens here.
        return self.hit(key, policy, generation)

    def receive(self, sent: list[int]) -> list[int]:
        return sent

    def hit(self, key: str, policy: Policy, generation: str = "") -> list[int]:
        with self._lock:
            now = self.now_ms()
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
                self._new_since_sweep += 1
                if self._new_since_sweep >= self.SWEEP_EVERY or len(self._entries) > self._max_keys:
                    self._sweep(now, keep=key)
            reply = [1, 0]
            current: list[list[int]] = []
            worst_reset = -1
            for i, window in enumerate(policy.windows):
                length = window.seconds * 1000
                state = entry.windows.get(length)
                if state is None or now >= state[0] + length:
                    state = [now, 0]
                current.append(state)
                reset = state[0] + length
                if state[1] >= window.limit and reset > worst_reset:
                    reply[0], reply[1], worst_reset = 0, i + 1, reset
            admitted = reply[0] == 1
            for window, state in zip(policy.windows, current, strict=True):
                length = window.seconds * 1000
                if admitted:
                    state[1] += 1
                    entry.windows[length] = state
                    entry.expires_ms = max(entry.expires_ms, state[0] + length)
                reply += [max(0, window.limit - state[1]), state[0] + length - now]
            return reply

    def counters(self, identity: str) -> dict[int, tuple[int, int]]:
        """Window length (ms) -> (window start (ms), requests counted), for inspection."""
        with self._lock:
            entry = self._entries.get(identity)
            return {} if entry is None else {length: (s[0], s[1]) for length, s in entry.windows.items()}

    def __len__(self) -> int:
        """Identities currently tracked."""
        return len(self._entries)

    def _sweep(self, now: int, keep: str) -> None:
        self._new_since_sweep = 0
        for key in [k for k, e in self._entries.items() if e.expires_ms <= now and k != keep]:
            del self._entries[key]
        # Still too many live identities (a flood of addresses): forget the oldest, down to 90% of
        # the bound, so that the next sweep is thousands of new identities away (no scan per request).
        excess = len(self._entries) - (self._max_keys - self._max_keys // 10)
        if excess > 0:
            for key in list(itertools.islice((k for k in self._entries if k != keep), excess)):
                del self._entries[key]


class CircuitBreaker:
    """After `threshold` consecutive failures, refuse calls for `cooldown` seconds; then let one
    call through as a probe: its success closes the circuit, its failure opens it again.

    The closed state costs one attribute read per call; the lock is taken only on failures and
    while the circuit is open.
    """

    def __init__(self, threshold: int, cooldown: float) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until = 0.0  # 0.0: closed
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._open_until != 0.0

    def allow(self) -> bool:
        if self._open_until == 0.0:
            return True
        with self._lock:
            if self._open_until == 0.0:
                return True
            if self._probing or time.monotonic() < self._open_until:
                return False
            self._probing = True
            return True

    def success(self) -> bool:
        """Record a call that worked; True if that closed an open circuit."""
        if not (self._failures or self._open_until):
            return False
        with self._lock:
            was_open = self._open_until != 0.0
            self._failures = 0
            self._open_until = 0.0
            self._probing = False
            return was_open

    def failure(self) -> bool:
        """Record a failed call; True if that opened a closed circuit."""
        with self._lock:
            was_open = self._open_until != 0.0
            self._failures += 1
            if self._probing or self._failures >= self.threshold:
                self._open_until = time.monotonic() + self.cooldown
            self._probing = False
            return not was_open and self._open_until != 0.0
