"""The /mcp limiter: per-identity second, hour and day windows, with per-organisation overrides.

Overrides are read from the database at most once per organisation per TTL and kept in this
process; a change clears them here at once (signals) and, through the generation the script
checks, in every other process on its next request. The hot path therefore costs one Redis
round trip and no database query.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from accounts.permissions import Actor
from apikeys.tokens import KeyClaims
from ratelimit.aioredis import AsyncRedisBackend
from ratelimit.core import Decision, LimiterUnavailable, Policy, StaleConfig, decide, policy_of
from ratelimit.identity import actor_identity, ip_identity, key_identity
from ratelimit.limiter import Limiter, Ticket
from ratelimit.models import OrgRateLimit
from ratelimit.redis_backend import RedisBackend

Limits = tuple[int, int, int]  # per second, per hour, per day

# Never equal to a real generation: a process's first check learns the current one.
UNKNOWN_GENERATION = "?"


def mcp_policy(limits: Limits) -> Policy:
    second, hour, day = limits
    return policy_of((("second", second), ("hour", hour), ("day", day)))


class OverrideCache:
    def __init__(self, defaults: Limits, ttl: float) -> None:
        self.defaults = defaults
        self.default_policy = mcp_policy(defaults)
        self.ttl = ttl
        self.generation = UNKNOWN_GENERATION
        self._entries: dict[uuid.UUID, tuple[Policy, float]] = {}
        self._lock = threading.Lock()
        # Bumped by every invalidation: a load that started before one must not store what it read.
        self._epoch = 0

    def cached(self, org_id: uuid.UUID | None) -> Policy | None:
        """The policy if known and fresh, without touching the database; None when it must be loaded."""
        if org_id is None:
            return self.default_policy
        entry = self._entries.get(org_id)
        return entry[0] if entry is not None and entry[1] > time.monotonic() else None

    def policy_for(self, org_id: uuid.UUID | None) -> Policy:
        if org_id is None:
            return self.default_policy
        entry = self._entries.get(org_id)
        now = time.monotonic()
        if entry is not None and entry[1] > now:
            return entry[0]
        epoch = self._epoch
        policy = self._load(org_id)
        with self._lock:
            if epoch == self._epoch:
                self._entries[org_id] = (policy, now + self.ttl)
        return policy

    def _load(self, org_id: uuid.UUID) -> Policy:
        row = OrgRateLimit.objects.filter(org_id=org_id).values_list("per_second", "per_hour", "per_day").first()
        if row is None:
            return self.default_policy
        second, hour, day = (value or default for value, default in zip(row, self.defaults, strict=True))
        return mcp_policy((second, hour, day))

    def invalidate(self, generation: str | None = None) -> None:
        with self._lock:
            self._epoch += 1
            self._entries.clear()
            if generation is not None:
                self.generation = generation


@dataclass(frozen=True, slots=True)
class KeyTicket:
    identity: str
    org_id: uuid.UUID
    ticket: Ticket


class AsyncKeyCheck(NamedTuple):
    """A key's check queued on the event loop's Redis connection (`send_claims_async`), not yet read."""

    backend: AsyncRedisBackend
    identity: str
    org_id: uuid.UUID
    policy: Policy
    generation: str
    conn: Any  # the connection it was queued on
    answer: asyncio.Future[Any]


# Runs a blocking call off the event loop (the gateway passes its worker pool).
OffLoop = Callable[[Callable[[], Policy]], "asyncio.Future[Policy]"]


class GatewayLimiter:
    def __init__(self, limiter: Limiter, overrides: OverrideCache) -> None:
        self.limiter = limiter
        self.overrides = overrides
        self._redis = limiter.backend if isinstance(limiter.backend, RedisBackend) else None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncRedisBackend] = (
            weakref.WeakKeyDictionary()
        )

    def check_actor(self, actor: Actor) -> Decision:
        return self._check(actor_identity(actor), actor.org_id)

    def begin_key(self, claims: KeyClaims) -> KeyTicket:
        """Send the check of an API key's request before its database check, and read the answer
        after it (`finish`): the two round trips overlap instead of adding up.

        The identity comes from the verified claims, which name the same user or organisation the
        database check accepts; a key the database then refuses (revoked) has still been counted
        against the identity it names.
        """
        identity = key_identity(claims)
        overrides = self.overrides
        ticket = self.limiter.begin(identity, overrides.policy_for(claims.org_uuid), overrides.generation)
        return KeyTicket(identity, claims.org_uuid, ticket)

    def finish(self, key_ticket: KeyTicket) -> Decision:
        try:
            return self.limiter.complete(key_ticket.ticket)
        except StaleConfig as stale:
            self.overrides.invalidate(stale.generation)
            return self._check(key_ticket.identity, key_ticket.org_id)

    def check_ip(self, ip: str) -> Decision:
        return self._check(ip_identity(ip), None)

    def _check(self, identity: str, org_id: uuid.UUID | None) -> Decision:
        overrides = self.overrides
        for _ in range(2):
            generation = overrides.generation
            try:
                return self.limiter.check(identity, overrides.policy_for(org_id), generation)
            except StaleConfig as stale:
                overrides.invalidate(stale.generation)
        # Changed twice in a row while we reloaded: count with what we have rather than loop.
        return self.limiter.check(identity, overrides.policy_for(org_id), "")

    # --- from the event loop -------------------------------------------------------------------------------

    async def check_claims_async(self, claims: KeyClaims, off_loop: OffLoop) -> Decision:
        """`begin_key` + `finish` from the event loop: the API key's identity, from its verified claims."""
        return await self._check_async(key_identity(claims), claims.org_uuid, off_loop)

    def send_claims_async(self, claims: KeyClaims) -> AsyncKeyCheck | None:
        """The API key's check, queued now from the event loop when nothing needs awaiting first (the policy
        known, the connection up, the circuit closed); `finish_async` reads the answer. Sent before the
        caller awaits its database round trip, the reply is usually in by then, so one wake-up serves both.
        None: use `check_claims_async`."""
        if self._redis is None:
            return None
        overrides = self.overrides
        policy = overrides.cached(claims.org_uuid)
        if policy is None:
            return None
        identity, generation = key_identity(claims), overrides.generation
        backend = self._async_backend()
        sent = backend.send(identity, policy, generation)
        if sent is None:
            return None
        return AsyncKeyCheck(backend, identity, claims.org_uuid, policy, generation, *sent)

    async def finish_async(self, check: AsyncKeyCheck, off_loop: OffLoop) -> Decision:
        try:
            reply = await check.backend.receive(
                check.conn, check.answer, check.identity, check.policy, check.generation
            )
        except LimiterUnavailable as exc:
            return self.limiter.unavailable(check.identity, check.policy, str(exc))
        except StaleConfig as stale:
            # The organisation's limits changed: reload them and check again, as `check_claims_async` does.
            self.overrides.invalidate(stale.generation)
            return await self._check_async(check.identity, check.org_id, off_loop)
        return decide(check.policy, reply)

    async def check_ip_async(self, ip: str, off_loop: OffLoop) -> Decision:
        return await self._check_async(ip_identity(ip), None, off_loop)

    async def _check_async(self, identity: str, org_id: uuid.UUID | None, off_loop: OffLoop) -> Decision:
        overrides = self.overrides
        if self._redis is None:
            # In-process counters: no I/O, but an override may need loading from the database.
            if overrides.cached(org_id) is None:
                await off_loop(lambda: overrides.policy_for(org_id))
            return self._check(identity, org_id)
        backend = self._async_backend()
        for attempt in range(3):
            # After two changes in a row while we reloaded, count with what we have rather than loop.
            generation = overrides.generation if attempt < 2 else ""
            policy = overrides.cached(org_id)
            if policy is None:
                policy = await off_loop(lambda: overrides.policy_for(org_id))
            try:
                return decide(policy, await backend.hit(identity, policy, generation))
            except LimiterUnavailable as exc:
                return self.limiter.unavailable(identity, policy, str(exc))
            except StaleConfig as stale:
                overrides.invalidate(stale.generation)
        raise AssertionError("unreachable: the last attempt does not check the generation")

    def _async_backend(self) -> AsyncRedisBackend:
        assert self._redis is not None
        loop = asyncio.get_running_loop()
        backend = self._async.get(loop)
        if backend is None:
            backend = self._async[loop] = AsyncRedisBackend(self._redis, loop)
        return backend
