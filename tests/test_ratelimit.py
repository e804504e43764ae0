"""The rate limiter's semantics (SECURITY-TESTS.md "Rate limiter"), on a real Redis and in-process.

Core behaviour is parametrised over both backends: the Redis script (the shared Redis of the
test run, keys under a prefix of each test's own) and the in-process limiter of the embedded
run. Faults are in test_ratelimit_faults.py, the /mcp endpoint in test_ratelimit_live.py.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

from accounts.models import Organization, User
from accounts.permissions import ALL_SCOPES, Actor
from accounts.services import organization_create
from ratelimit import runtime
from ratelimit.core import CircuitBreaker, Decision, MemoryBackend, Policy, policy_of
from ratelimit.gateway import GatewayLimiter, OverrideCache, mcp_policy
from ratelimit.http import refusal_body, refusal_headers
from ratelimit.identity import client_ip
from ratelimit.limiter import Limiter
from ratelimit.models import OrgRateLimit
from ratelimit.redis_backend import RedisBackend

if TYPE_CHECKING:
    from tests.support.redis_server import PrivateRedis

pytest_plugins = ["tests.support.redis_server"]

BIG = 1_000_000
WINDOW_MS = {"second": 1_000, "hour": 3_600_000, "day": 86_400_000}
ROOT = Path(__file__).resolve().parents[1]


def redis_url() -> str:
    url: str = django_settings.REDIS_URL
    assert url, "these tests need REDIS_URL (make test sets it)"
    return url


def new_redis_backend(url: str | None = None, *, timeout: float = 2.0) -> RedisBackend:
    # Generous timeouts: these tests are about semantics, not about a slow shared machine.
    return RedisBackend(
        url or redis_url(),
        prefix=f"rl-t-{uuid.uuid4().hex[:10]}",
        connect_timeout=timeout,
        timeout=timeout,
        breaker=CircuitBreaker(3, 1.0),
    )


@dataclass
class Rig:
    """One backend behind a fail-open Limiter, plus what a test needs to look inside it."""

    kind: str
    backend: RedisBackend | MemoryBackend
    limiter: Limiter

    def check(self, identity: str, policy: Policy) -> Decision:
        return self.limiter.check(identity, policy)

    def now_ms(self) -> int:
        return self.backend.now_ms()

    def counts(self, identity: str, policy: Policy) -> dict[str, int]:
        counters = self.backend.counters(identity)
        return {w.name: counters.get(w.seconds * 1000, (0, 0))[1] for w in policy.windows}

    def start_ms(self, identity: str, window: str) -> int:
        return self.backend.counters(identity)[WINDOW_MS[window]][0]


@pytest.fixture(params=["redis", "memory"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    backend: RedisBackend | MemoryBackend = new_redis_backend() if request.param == "redis" else MemoryBackend()
    yield Rig(request.param, backend, Limiter(backend))
    if isinstance(backend, RedisBackend):
        backend.close()


def policy(second: int = BIG, hour: int = BIG, day: int = BIG) -> Policy:
    return mcp_policy((second, hour, day))


def user_actor(org_id: uuid.UUID | None = None) -> Actor:
    return Actor(
        org_id=org_id or uuid.uuid4(), user_id=uuid.uuid4(), roles=frozenset(), scopes=ALL_SCOPES, via="user_key"
    )


# --- admission ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 7, 25])
def test_fifty_concurrent_clients_are_admitted_exactly_up_to_the_per_second_limit(rig: Rig, limit: int) -> None:
    p = policy(second=limit)
    start = threading.Barrier(50)

    def one(_: int) -> Decision:
        start.wait()
        return rig.check("user-concurrent", p)

    with ThreadPoolExecutor(max_workers=50) as pool:
        decisions = list(pool.map(one, range(50)))
    assert sum(d.allowed for d in decisions) == limit
    assert {d.limit_type for d in decisions if not d.allowed} == {"second"}
    assert rig.counts("user-concurrent", p) == {"second": limit, "hour": limit, "day": limit}
    assert rig.limiter.bypassed == 0


@pytest.mark.parametrize("window", ["second", "hour", "day"])
def test_each_window_trips_with_its_own_limit_type_and_an_exact_retry_after(rig: Rig, window: str) -> None:
    p = policy(**{window: 2})
    assert rig.check("user-w", p).allowed
    assert rig.check("user-w", p).allowed
    before = rig.now_ms()
    refused = rig.check("user-w", p)
    after = rig.now_ms()
    assert not refused.allowed
    assert refused.limit_type == window
    # Whole seconds until the window that started with the first request resets, rounded up.
    reset = rig.start_ms("user-w", window) + WINDOW_MS[window]
    assert math.ceil((reset - after) / 1000) <= refused.retry_after <= math.ceil((reset - before) / 1000)
    assert refused.retry_after >= 1
    if window == "second":
        assert refused.retry_after == 1


def test_a_retry_after_the_announced_delay_succeeds(rig: Rig) -> None:
    p = policy(second=2)
    rig.check("user-honest", p)
    rig.check("user-honest", p)
    refused = rig.check("user-honest", p)
    assert not refused.allowed
    time.sleep(refused.retry_after)
    assert rig.check("user-honest", p).allowed


@pytest.mark.parametrize("full", ["second", "hour", "day"])
def test_a_refused_request_counts_in_no_window(rig: Rig, full: str) -> None:
    p = policy(**{full: 1})
    assert rig.check("user-c", p).allowed
    before = rig.counts("user-c", p)
    for _ in range(3):
        assert not rig.check("user-c", p).allowed
    assert rig.counts("user-c", p) == before == {"second": 1, "hour": 1, "day": 1}


@pytest.mark.parametrize(
    ("limits", "reported"),
    [
        ({"second": 1, "hour": 1}, "hour"),
        ({"second": 1, "day": 1}, "day"),
        ({"second": 1, "hour": 1, "day": 1}, "day"),
        ({"hour": 1, "day": 1}, "day"),
    ],
)
def test_when_several_windows_are_full_the_one_that_resets_last_is_reported(
    rig: Rig, limits: dict[str, int], reported: str
) -> None:
    p = policy(**limits)
    assert rig.check("user-s", p).allowed
    refused = rig.check("user-s", p)
    assert not refused.allowed
    assert refused.limit_type == reported
    assert refused.retry_after > 1  # the hour or day window, not the second one


def test_refusal_headers_and_ratelimit_fields(rig: Rig) -> None:
    p = policy(second=2, hour=10, day=100)
    ok = rig.check("user-h", p)
    assert dict(ok.headers) == {
        b"ratelimit-policy": b'"second";q=2;w=1, "hour";q=10;w=3600, "day";q=100;w=86400',
        b"ratelimit": b'"second";r=1;t=1, "hour";r=9;t=3600, "day";r=99;t=86400',
    }
    rig.check("user-h", p)
    refused = rig.check("user-h", p)
    headers = dict(refusal_headers(refused))
    assert headers[b"retry-after"] == b"1"
    assert headers[b"ratelimit"].startswith(b'"second";r=0;t=1, "hour";r=8;')


def test_the_refusal_body_is_exactly_the_seed_documents() -> None:
    for window, seconds in [("second", 1), ("hour", 3599), ("day", 86400)]:
        decision = Decision(False, window, seconds, ())
        expected = f'{{"error":"rate limit exceeded","retry_after":"{seconds} s","limit_type":"{window}"}}'
        assert refusal_body(decision) == expected.encode()


# --- identities -----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_users_org_keys_and_addresses_are_counted_separately(rig: Rig) -> None:
    gateway = GatewayLimiter(rig.limiter, OverrideCache((2, BIG, BIG), ttl=30))
    org = uuid.uuid4()
    alice, bob = user_actor(org), user_actor(org)
    org_key = Actor.org_wide(org, via="org_key")
    assert [gateway.check_actor(alice).allowed for _ in range(3)] == [True, True, False]
    # Same organisation, other identities: their own allowance each.
    assert gateway.check_actor(bob).allowed
    assert gateway.check_actor(org_key).allowed
    assert gateway.check_ip("203.0.113.9").allowed
    assert [gateway.check_actor(org_key).allowed for _ in range(2)] == [True, False]
    assert gateway.check_actor(bob).allowed
    assert [gateway.check_ip("203.0.113.9").allowed for _ in range(2)] == [True, False]
    assert gateway.check_ip("203.0.113.10").allowed


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        # No trusted proxy: the header is the client's own words and is ignored.
        ("192.0.2.1", "198.51.100.7", 0, "192.0.2.1"),
        ("192.0.2.1", "1.1.1.1, 198.51.100.7", 0, "192.0.2.1"),
        # One proxy: the last hop is what it saw; entries to its left are the client's.
        ("10.0.0.2", "1.1.1.1, 198.51.100.7", 1, "198.51.100.7"),
        ("10.0.0.2", "198.51.100.7", 1, "198.51.100.7"),
        ("10.0.0.3", "1.1.1.1, 198.51.100.7, 10.0.0.2", 2, "198.51.100.7"),
        # Garbage where the proxy's hop should be: the peer, never the garbage.
        ("10.0.0.2", "not-an-ip", 1, "10.0.0.2"),
        ("10.0.0.2", "", 1, "10.0.0.2"),
        ("10.0.0.2", None, 1, "10.0.0.2"),
        # IPv6 counts per /64; IPv4-mapped addresses are IPv4.
        ("2001:db8:1:2:aaaa::1", None, 0, "2001:db8:1:2::/64"),
        ("10.0.0.2", "[2001:db8:1:2::9]:443", 1, "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.5", None, 0, "192.0.2.5"),
        (None, None, 0, "unknown"),
    ],
)
def test_client_ip_believes_forwarded_for_only_through_trusted_proxies(
    peer: str | None, forwarded: str | None, trusted: int, expected: str
) -> None:
    assert client_ip(peer, forwarded, trusted) == expected


def test_a_spoofed_forwarded_for_does_not_buy_a_fresh_allowance(rig: Rig) -> None:
    p = policy(second=3)
    admitted = [
        rig.check(f"ip-{client_ip('192.0.2.1', f'198.51.100.{i}', 0)}", p).allowed
        for i in range(10)  # a new made-up address every time
    ]
    assert admitted == [True] * 3 + [False] * 7


# --- per-organisation limits ----------------------------------------------------------------------------------------


@pytest.fixture
def gateway_settings(settings: Any) -> Any:
    """The process's own gateway limiter on the run's Redis, under a prefix of this test's own."""
    settings.RATE_LIMIT_ENABLED = True
    settings.RATE_LIMIT_PER_SECOND = 1000
    settings.RATE_LIMIT_PER_HOUR = 1000
    settings.RATE_LIMIT_PER_DAY = 1000
    settings.RATE_LIMIT_KEY_PREFIX = f"rl-t-{uuid.uuid4().hex[:10]}"
    settings.REDIS_URL = redis_url()
    yield settings
    runtime.reset()


@pytest.fixture
def operator_client(db: None) -> Client:
    operator = User.objects.create_superuser("operator@ops.example", "operator-pass")
    client = Client()
    client.force_login(operator)
    return client


def new_org() -> Organization:
    suffix = uuid.uuid4().hex[:8]
    return organization_create(name=f"Acme {suffix}", slug=f"acme-{suffix}", email_domains=[])


@pytest.mark.django_db
def test_an_override_added_in_the_admin_applies_to_the_next_request(
    gateway_settings: Any,
    operator_client: Client,
    django_capture_on_commit_callbacks: Any,
    django_assert_num_queries: Any,
) -> None:
    org = new_org()
    gateway = runtime.gateway_limiter()
    assert gateway is not None
    org_key = Actor.org_wide(org.pk, via="org_key")
    assert gateway.check_actor(org_key).allowed  # caches "no override" for the organisation
    with django_assert_num_queries(0):
        assert gateway.check_actor(org_key).allowed

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            "/admin/ratelimit/orgratelimit/add/", {"org": str(org.pk), "per_second": "", "per_hour": "2", "per_day": ""}
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert OrgRateLimit.objects.get(org=org).per_hour == 2

    refused = gateway.check_actor(org_key)  # the third request of the hour
    assert not refused.allowed
    assert refused.limit_type == "hour"
    assert dict(refused.headers)[b"ratelimit-policy"] == b'"second";q=1000;w=1, "hour";q=2;w=3600, "day";q=1000;w=86400'
    # Other organisations keep the defaults.
    assert gateway.check_actor(Actor.org_wide(new_org().pk, via="org_key")).allowed


@pytest.mark.django_db
def test_an_override_is_read_from_the_database_once_then_served_from_memory(
    gateway_settings: Any, django_assert_num_queries: Any
) -> None:
    org = new_org()
    OrgRateLimit.objects.create(org=org, per_second=2)
    gateway = runtime.gateway_limiter()
    assert gateway is not None
    alice = user_actor(org.pk)
    # A process's first check learns the overrides' generation (and re-reads anything it cached).
    assert gateway.check_ip("192.0.2.44").allowed
    with django_assert_num_queries(1):
        assert gateway.check_actor(alice).allowed
    with django_assert_num_queries(0):
        assert [gateway.check_actor(alice).allowed for _ in range(2)] == [True, False]
        assert gateway.check_ip("192.0.2.44").allowed


@pytest.mark.django_db
def test_a_change_made_in_one_process_reaches_another_on_its_next_request(
    gateway_settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    org = new_org()
    org_key = Actor.org_wide(org.pk, via="org_key")
    # "Another process": its own limiter and cache, the same Redis and prefix.
    backend = RedisBackend(
        redis_url(),
        prefix=gateway_settings.RATE_LIMIT_KEY_PREFIX,
        connect_timeout=2,
        timeout=2,
        breaker=CircuitBreaker(3, 1),
    )
    other = GatewayLimiter(Limiter(backend), OverrideCache((1000, 1000, 1000), ttl=3600))
    assert other.check_actor(org_key).allowed  # caches the defaults for an hour
    with django_capture_on_commit_callbacks(execute=True):
        OrgRateLimit.objects.create(org=org, per_hour=1)  # this process: save, then announce
    refused = other.check_actor(org_key)
    assert not refused.allowed
    assert refused.limit_type == "hour"
    backend.close()


@pytest.mark.django_db
def test_an_override_field_left_empty_keeps_the_server_default(gateway_settings: Any) -> None:
    org = new_org()
    OrgRateLimit.objects.create(org=org, per_second=2, per_hour=None, per_day=7)
    gateway = runtime.gateway_limiter()
    assert gateway is not None
    decision = gateway.check_actor(user_actor(org.pk))
    assert dict(decision.headers)[b"ratelimit-policy"] == b'"second";q=2;w=1, "hour";q=1000;w=3600, "day";q=7;w=86400'


# --- the strict endpoints -------------------------------------------------------------------------------------------


@pytest.fixture
def strict_settings(settings: Any) -> Any:
    settings.RATE_LIMIT_KEY_PREFIX = f"rl-t-{uuid.uuid4().hex[:10]}"
    settings.REDIS_URL = redis_url()
    settings.RATE_LIMIT_STRICT = {"/oauth/register/": {"minute": 3, "day": 100}, "/accounts/login/": {"minute": 2}}
    yield settings
    runtime.reset()


STRICT_BODY = b'{"error":"rate limit exceeded","retry_after":"%d s","limit_type":"minute"}'


@pytest.mark.django_db
def test_strict_endpoints_answer_429_with_the_exact_body_after_their_limit(strict_settings: Any) -> None:
    client = Client()
    statuses = [client.post("/oauth/register/", {}, REMOTE_ADDR="192.0.2.30").status_code for _ in range(3)]
    assert 429 not in statuses
    refused = client.post("/oauth/register/", {}, REMOTE_ADDR="192.0.2.30")
    assert refused.status_code == 429
    retry_after = int(refused["Retry-After"])
    assert 1 <= retry_after <= 60
    assert refused.content == STRICT_BODY % retry_after
    assert refused["Content-Type"] == "application/json"
    assert refused["RateLimit-Policy"] == '"minute";q=3;w=60, "day";q=100;w=86400'
    # Per address, per endpoint, POST only.
    assert client.post("/oauth/register/", {}, REMOTE_ADDR="192.0.2.31").status_code != 429
    assert client.post("/accounts/login/", {}, REMOTE_ADDR="192.0.2.30").status_code != 429
    assert client.get("/oauth/register/", REMOTE_ADDR="192.0.2.30").status_code != 429
    assert client.post("/oauth/register/x", {}, REMOTE_ADDR="192.0.2.30").status_code != 429


@pytest.mark.django_db
def test_strict_endpoints_do_not_fail_open_when_redis_is_down(
    strict_settings: Any, private_redis: PrivateRedis
) -> None:
    strict_settings.REDIS_URL = private_redis.url
    private_redis.stop()
    client = Client()
    statuses = [client.post("/accounts/login/", {}, REMOTE_ADDR="192.0.2.40").status_code for _ in range(4)]
    assert statuses[2:] == [429, 429]
    assert 429 not in statuses[:2]
    limiter = runtime.strict_limiter()
    assert limiter.fell_back == 4
    assert limiter.bypassed == 0


@pytest.mark.django_db
def test_rate_limit_enabled_off_turns_every_limiter_off(strict_settings: Any) -> None:
    strict_settings.RATE_LIMIT_ENABLED = False
    assert runtime.gateway_limiter() is None
    client = Client()
    statuses = [client.post("/accounts/login/", {}, REMOTE_ADDR="192.0.2.50").status_code for _ in range(5)]
    assert 429 not in statuses


# --- the in-process limiter's memory --------------------------------------------------------------------------------


def test_the_in_process_limiter_forgets_the_oldest_identities_past_its_bound() -> None:
    backend = MemoryBackend(max_keys=100)
    p = policy(second=1)
    for i in range(1000):
        backend.hit(f"ip-{i}", p)
    assert len(backend) <= 101
    assert backend.hit("ip-999", p)[0] == 0  # the newest are still counted


# --- configuration --------------------------------------------------------------------------------------------------


def _settings_in_subprocess(env: dict[str, str], expression: str) -> subprocess.CompletedProcess[str]:
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "attention_mcp.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_limits_come_from_the_environment_with_defaults() -> None:
    expression = (
        "settings.RATE_LIMIT_PER_SECOND, settings.RATE_LIMIT_PER_HOUR, settings.RATE_LIMIT_PER_DAY, "
        "sorted(settings.RATE_LIMIT_STRICT)"
    )
    defaults = _settings_in_subprocess({}, expression)
    assert defaults.returncode == 0, defaults.stderr
    assert defaults.stdout.strip() == (
        "20 5000 50000 ['/accounts/login/', '/admin/login/', '/oauth/register/', '/oauth/token/']"
    )
    env = {"RATE_LIMIT_PER_SECOND": "3", "RATE_LIMIT_PER_HOUR": "40", "RATE_LIMIT_PER_DAY": "500"}
    configured = _settings_in_subprocess(
        env, "settings.RATE_LIMIT_PER_SECOND, settings.RATE_LIMIT_PER_HOUR, settings.RATE_LIMIT_PER_DAY"
    )
    assert configured.stdout.strip() == "3 40 500", configured.stderr


@pytest.mark.parametrize(
    "value",
    [
        '{"/oauth/token/": {"fortnight": 3}}',
        '{"/oauth/token/": {"minute": 0}}',
        "[1]",
        "{not json",
        '{"x": {"minute": 1}}',
    ],
)
def test_a_malformed_strict_setting_stops_the_start(value: str) -> None:
    result = _settings_in_subprocess({"RATE_LIMIT_STRICT": value}, "settings.RATE_LIMIT_STRICT")
    assert result.returncode != 0
    assert "RATE_LIMIT_STRICT" in result.stderr


def test_policies_are_built_once_per_set_of_limits() -> None:
    assert policy_of((("second", 5), ("hour", 6))) is policy_of((("second", 5), ("hour", 6)))
    assert mcp_policy((1, 2, 3)) is mcp_policy((1, 2, 3))
