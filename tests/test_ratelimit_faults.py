"""The limiter when Redis misbehaves, on a private redis-server each test starts and breaks.

Refusing connections, frozen (SIGSTOP), paused (CLIENT PAUSE), out of memory, scripts
flushed: /mcp's limiter lets requests through (fail open) with a bounded added latency,
counts the bypass, and limits again on its own once Redis is back.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
import redis

from ratelimit.aioredis import AsyncRedisBackend
from ratelimit.core import BYPASSED, CircuitBreaker, Decision, LimiterUnavailable, MemoryBackend, Policy, decide
from ratelimit.gateway import mcp_policy
from ratelimit.limiter import Limiter
from ratelimit.redis_backend import RedisBackend

if TYPE_CHECKING:
    from tests.support.redis_server import PrivateRedis

pytest_plugins = ["tests.support.redis_server"]

# The production defaults (settings): 50 ms to connect, 100 ms to read, open after 3 failures.
CONNECT_TIMEOUT = 0.05
READ_TIMEOUT = 0.1
FAILURES = 3
COOLDOWN = 0.5
# Generous bounds for a shared 2-core machine: a failing call costs at most about one timeout,
# and once the circuit is open nothing waits on Redis at all.
SLOW_BOUND = 0.3
FAST_BOUND = 0.05

POLICY = mcp_policy((3, 1000, 1000))


@pytest.fixture
def backend(private_redis: PrivateRedis) -> Iterator[RedisBackend]:
    backend = RedisBackend(
        private_redis.url,
        prefix=f"rl-f-{uuid.uuid4().hex[:8]}",
        connect_timeout=CONNECT_TIMEOUT,
        timeout=READ_TIMEOUT,
        breaker=CircuitBreaker(FAILURES, COOLDOWN),
    )
    yield backend
    backend.close()


class LoopLimiter:
    """/mcp's path on PostgreSQL: the check from an event loop (AsyncRedisBackend, one pipelined connection),
    with the same bookkeeping as `Limiter` when Redis cannot answer (GatewayLimiter._check_async)."""

    def __init__(self, backend: RedisBackend, *, queue_first: bool = False) -> None:
        self.limiter = Limiter(backend)
        self.loop = asyncio.new_event_loop()
        self.aio = AsyncRedisBackend(backend, self.loop)
        # The gateway's usual way once connected: the command queued at once (`send`), its answer read later.
        self.queue_first = queue_first

    @property
    def bypassed(self) -> int:
        return self.limiter.bypassed

    def check(self, key: str, policy: Policy, generation: str = "") -> Decision:
        async def run() -> Decision:
            try:
                sent = self.aio.send(key, policy, generation) if self.queue_first else None
                if sent is None:
                    return decide(policy, await self.aio.hit(key, policy, generation))
                return decide(policy, await self.aio.receive(*sent, key, policy, generation))
            except LimiterUnavailable as exc:
                return self.limiter.unavailable(key, policy, str(exc))

        return self.loop.run_until_complete(run())

    def close(self) -> None:
        self.aio.close()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()


@pytest.fixture(params=["thread", "loop", "loop-queued"])
def make_limiter(request: pytest.FixtureRequest) -> Iterator[Callable[[RedisBackend], Any]]:
    """Every fault, on every path: a worker thread's connection (Limiter) and the event loop's (LoopLimiter),
    checking in one go or queued first and read after (as the gateway does once connected)."""
    made: list[LoopLimiter] = []

    def make(backend: RedisBackend) -> Any:
        if request.param == "thread":
            return Limiter(backend)
        made.append(LoopLimiter(backend, queue_first=request.param == "loop-queued"))
        return made[-1]

    yield make
    for limiter in made:
        limiter.close()


def timed(limiter: Limiter, identity: str, policy: Policy = POLICY) -> tuple[Decision, float]:
    started = time.perf_counter()
    decision = limiter.check(identity, policy)
    return decision, time.perf_counter() - started


def assert_limits_apply(limiter: Limiter, identity: str) -> None:
    """Redis is answering: a fresh identity gets exactly its per-second allowance."""
    decisions = [limiter.check(identity, POLICY) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[-1].limit_type == "second"


def assert_fails_open(limiter: Limiter, identity: str, requests: int = 12) -> list[float]:
    """Far more requests than the limit all go through, each bypass counted; returns the latencies."""
    bypassed_before = limiter.bypassed
    latencies = []
    for _ in range(requests):
        decision, elapsed = timed(limiter, identity)
        assert decision == BYPASSED
        latencies.append(elapsed)
    assert limiter.bypassed - bypassed_before == requests
    return latencies


def wait_until_limiting(limiter: Limiter, deadline_s: float = 10.0) -> None:
    """After the cool-down a probe reaches Redis and closes the circuit; no restart of anything."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if limiter.check(f"user-probe-{uuid.uuid4().hex}", POLICY) is not BYPASSED:
            return
        time.sleep(0.05)
    pytest.fail("the limiter did not resume within 10 s of Redis coming back")


def test_redis_refusing_connections_fails_open_fast_and_limits_again_after_a_restart(
    private_redis: PrivateRedis, backend: RedisBackend, make_limiter: Callable[[RedisBackend], Any]
) -> None:
    limiter = make_limiter(backend)
    assert_limits_apply(limiter, "user-before")
    private_redis.stop()
    latencies = assert_fails_open(limiter, "user-down")
    assert max(latencies) < SLOW_BOUND
    assert backend.breaker.is_open
    assert max(latencies[FAILURES:]) < FAST_BOUND

    private_redis.start()  # same port, empty: no counters, no script
    wait_until_limiting(limiter)
    assert_limits_apply(limiter, "user-after")


def test_a_frozen_redis_costs_one_timeout_per_call_until_the_circuit_opens(
    private_redis: PrivateRedis, backend: RedisBackend, make_limiter: Callable[[RedisBackend], Any]
) -> None:
    limiter = make_limiter(backend)
    assert_limits_apply(limiter, "user-before")
    private_redis.freeze()
    latencies = assert_fails_open(limiter, "user-frozen")
    # The kernel still accepts connections for a stopped process: only the read timeout saves us.
    assert all(elapsed < SLOW_BOUND for elapsed in latencies[:FAILURES])
    assert max(latencies[FAILURES:]) < FAST_BOUND
    # Total added latency for the whole burst: a few timeouts, not one per request.
    assert sum(latencies) < FAILURES * SLOW_BOUND + len(latencies) * FAST_BOUND

    private_redis.resume()
    wait_until_limiting(limiter)
    assert_limits_apply(limiter, "user-after")


def test_clients_paused_by_redis_are_treated_like_a_hang(
    private_redis: PrivateRedis, backend: RedisBackend, make_limiter: Callable[[RedisBackend], Any]
) -> None:
    limiter = make_limiter(backend)
    assert_limits_apply(limiter, "user-before")
    private_redis.client().client_pause(3000, all=True)
    latencies = assert_fails_open(limiter, "user-paused")
    assert max(latencies) < SLOW_BOUND
    assert max(latencies[FAILURES:]) < FAST_BOUND
    private_redis.client().client_unpause()
    wait_until_limiting(limiter)
    assert_limits_apply(limiter, "user-after")


def fill(client: redis.Redis) -> None:
    for i in range(32):
        client.set(f"filler-{i}", b"x" * 64 * 1024)


def test_redis_out_of_memory_fails_open_and_recovers_when_memory_is_freed(
    private_redis: PrivateRedis, backend: RedisBackend, make_limiter: Callable[[RedisBackend], Any]
) -> None:
    limiter = make_limiter(backend)
    assert_limits_apply(limiter, "user-before")
    admin = private_redis.client()
    fill(admin)  # 2 MiB of data, then a limit below what is used: every write is refused
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", str(int(admin.info("memory")["used_memory"]) - 512 * 1024))
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        admin.set("one-more", b"x")
    latencies = assert_fails_open(limiter, "user-oom")
    assert max(latencies) < SLOW_BOUND

    admin.config_set("maxmemory", "0")
    wait_until_limiting(limiter)
    assert_limits_apply(limiter, "user-after")


def test_a_flushed_script_is_reloaded_within_the_same_check(
    private_redis: PrivateRedis, backend: RedisBackend, make_limiter: Callable[[RedisBackend], Any]
) -> None:
    limiter = make_limiter(backend)
    admin = private_redis.client()
    assert limiter.check("user-s", POLICY).allowed
    admin.script_flush()
    admin.config_resetstat()
    decision = limiter.check("user-s", POLICY)
    assert decision.allowed
    assert limiter.bypassed == 0
    # Counted once: the NOSCRIPT reply ran nothing, EVAL ran the check.
    assert backend.counters("user-s")[1000][1] == 2
    calls = {name: stats["calls"] for name, stats in admin.info("commandstats").items()}
    assert calls.get("cmdstat_evalsha") == 1
    assert calls.get("cmdstat_eval") == 1
    # EVAL cached the script again: the next check is a single EVALSHA.
    admin.config_resetstat()
    assert limiter.check("user-s", POLICY).allowed
    calls = {name: stats["calls"] for name, stats in admin.info("commandstats").items()}
    assert calls.get("cmdstat_evalsha") == 1
    assert "cmdstat_eval" not in calls


def test_one_round_trip_per_check(
    private_redis: PrivateRedis, backend: RedisBackend, make_limiter: Callable[[RedisBackend], Any]
) -> None:
    limiter = make_limiter(backend)
    roomy = mcp_policy((1000, 1000, 1000))
    limiter.check("user-warm", roomy)  # loads the script once (NOSCRIPT -> EVAL)
    admin = private_redis.client()
    admin.config_resetstat()
    for i in range(50):
        assert limiter.check(f"user-{i % 5}", roomy).allowed
    calls = {name: stats["calls"] for name, stats in admin.info("commandstats").items()}
    # One EVALSHA per check, and inside each exactly the script's own five commands: nothing
    # else reached Redis (the admin connection's CONFIG RESETSTAT aside;
    # INFO counts itself after answering).
    script = {"cmdstat_get", "cmdstat_time", "cmdstat_hmget", "cmdstat_hset", "cmdstat_pexpire"}
    assert calls == {
        "cmdstat_evalsha": 50,
        **dict.fromkeys(script, 50),
        "cmdstat_config|resetstat": 1,
    }


def test_the_event_loop_sends_a_full_batch_at_once_and_reads_every_answer_in_order(
    backend: RedisBackend, settings: Any
) -> None:
    """MCP_PIPELINE_BATCH commands make a full batch, written as soon as the last one is queued; the rest of
    the loop iteration's commands leave at its end. Each check gets its own answer, in order."""
    settings.MCP_PIPELINE_BATCH = 3
    limiter = LoopLimiter(backend)
    try:

        async def queue_seven() -> tuple[int, list[Decision]]:
            aio = limiter.aio
            await aio.hit("user-batch", POLICY, "")  # connected; the identity's first request
            sent = [aio.send("user-batch", POLICY, "") for _ in range(7)]
            assert all(item is not None for item in sent)
            waiting = len(aio._conn._out) if aio._conn is not None else -1
            replies = [await aio.receive(*item, "user-batch", POLICY, "") for item in sent if item is not None]
            return waiting, [decide(POLICY, reply) for reply in replies]

        waiting, decisions = limiter.loop.run_until_complete(queue_seven())
    finally:
        limiter.close()
    assert waiting == 1  # two full batches of three written at once; the seventh waits for the iteration's end
    # Per-second limit 3, one used before: two more admitted, then refused in order.
    assert [d.allowed for d in decisions] == [True, True, False, False, False, False, False]
    assert {d.limit_type for d in decisions[2:]} == {"second"}


def test_while_the_circuit_is_open_redis_is_not_called_at_all(
    private_redis: PrivateRedis, backend: RedisBackend, make_limiter: Callable[[RedisBackend], Any]
) -> None:
    limiter = make_limiter(backend)
    assert_limits_apply(limiter, "user-before")
    private_redis.freeze()
    assert_fails_open(limiter, "user-frozen", requests=FAILURES)
    assert backend.breaker.is_open
    private_redis.resume()
    admin = private_redis.client()
    admin.config_resetstat()
    assert_fails_open(limiter, "user-open", requests=10)  # within the cool-down: nothing sent
    calls = {name: stats["calls"] for name, stats in admin.info("commandstats").items()}
    assert "cmdstat_evalsha" not in calls
    assert "cmdstat_eval" not in calls


def test_the_strict_limiter_counts_in_process_when_redis_is_down(
    private_redis: PrivateRedis, backend: RedisBackend
) -> None:
    limiter = Limiter(backend, fallback=MemoryBackend(), name="strict")
    private_redis.stop()
    decisions = [limiter.check("strict:/oauth/token/:ip-192.0.2.1", POLICY) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert decisions[-1].limit_type == "second"
    assert limiter.bypassed == 0
    assert limiter.fell_back == 5
