"""A backend plus what happens when it cannot answer: fail open (/mcp) or an in-process fallback (strict endpoints)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from ratelimit.core import BYPASSED, Backend, Decision, LimiterUnavailable, MemoryBackend, Policy, decide

logger = logging.getLogger(__name__)


class _ThrottledWarning:
    """Logs at most one warning per `interval` seconds, with how many events it stands for."""

    def __init__(self, message: str, interval: float = 10.0) -> None:
        self.message = message
        self.interval = interval
        self._lock = threading.Lock()
        self._pending = 0
        self._last = float("-inf")

    def __call__(self, reason: str) -> None:
        with self._lock:
            self._pending += 1
            now = time.monotonic()
            if now - self._last < self.interval:
                return
            count, self._pending, self._last = self._pending, 0, now
        logger.warning(self.message, count, reason)


@dataclass(slots=True)
class Ticket:
    """A check begun: either sent to the backend, or already decided (the backend was unavailable)."""

    key: str
    policy: Policy
    sent: Any
    decision: Decision | None


class Limiter:
    def __init__(self, backend: Backend, *, fallback: MemoryBackend | None = None, name: str = "limiter") -> None:
        self.backend = backend
        self.fallback = fallback
        self.name = name
        self._lock = threading.Lock()
        self._bypassed = 0
        self._fell_back = 0
        if fallback is None:
            self._report = _ThrottledWarning(f"rate limiter ({name}) unavailable: let %d request(s) through (%s)")
        else:
            self._report = _ThrottledWarning(
                f"rate limiter ({name}) unavailable: %d request(s) counted in-process (%s)"
            )

    @property
    def bypassed(self) -> int:
        """Requests let through unchecked because the backend could not answer."""
        return self._bypassed

    @property
    def fell_back(self) -> int:
        """Requests checked by the in-process fallback because the backend could not answer."""
        return self._fell_back

    def check(self, key: str, policy: Policy, generation: str = "") -> Decision:
        """Check and count one request of `key`. Raises StaleConfig (the caller refreshes its policy)."""
        return self.complete(self.begin(key, policy, generation))

    def begin(self, key: str, policy: Policy, generation: str = "") -> Ticket:
        """Send the check without waiting for the answer; `complete` it exactly once, on this thread."""
        try:
            sent = self.backend.send(key, policy, generation)
        except LimiterUnavailable as exc:
            return Ticket(key, policy, None, self.unavailable(key, policy, str(exc)))
        return Ticket(key, policy, sent, None)

    def complete(self, ticket: Ticket) -> Decision:
        """The decision for a `begin`. Raises StaleConfig."""
        if ticket.decision is not None:
            return ticket.decision
        try:
            reply = self.backend.receive(ticket.sent)
        except LimiterUnavailable as exc:
            return self.unavailable(ticket.key, ticket.policy, str(exc))
        return decide(ticket.policy, reply)

    def unavailable(self, key: str, policy: Policy, reason: str) -> Decision:
        """The decision when the backend could not answer: the fallback's, or let through (fail open)."""
        self._report(reason)
        if self.fallback is not None:
            with self._lock:
                self._fell_back += 1
            return decide(policy, self.fallback.hit(key, policy))
        with self._lock:
            self._bypassed += 1
        return BYPASSED
