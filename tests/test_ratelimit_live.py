"""Rate limiting through /mcp, against Daphnes of this module's own with tight limits.

Two servers share the run's Redis (each under its own key prefix) and one public URL, so the
same keys work on both: `direct` (no proxy: X-Forwarded-For is ignored) and `proxied`
(TRUSTED_PROXY_COUNT=1). Both default to 5 requests a second and 1000 an hour and a day;
tests that need other limits give a fresh organisation an override, which also exercises
the per-organisation limits end to end. A third server, on a private redis-server, is for
the fault test.

Writes the servers must see go through `committed` (tests/support/mcp.py explains why).
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import redis
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import User
from ratelimit.models import OrgRateLimit
from tests.support.live import free_port, server_log, start_daphne
from tests.support.mcp import McpOrg, committed, make_org, post, request

if TYPE_CHECKING:
    from tests.support.redis_server import PrivateRedis

pytest_plugins = ["tests.support.redis_server"]
pytestmark = [pytest.mark.django_db, pytest.mark.live]

PING = request("ping")
DEFAULT_POLICY = '"second";q=5;w=1, "hour";q=1000;w=3600, "day";q=1000;w=86400'


def refusal(seconds: int, window: str) -> bytes:
    return f'{{"error":"rate limit exceeded","retry_after":"{seconds} s","limit_type":"{window}"}}'.encode()


@dataclass
class Server:
    base: str
    prefix: str
    proc: subprocess.Popen[bytes]

    @property
    def mcp(self) -> str:
        return f"{self.base}/mcp"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_server(public_url: str, port: int | None = None, **env: str) -> Server:
    port = port or free_port()
    prefix = f"rl-live-{uuid.uuid4().hex[:10]}"
    extra = {
        "PUBLIC_BASE_URL": public_url,
        "RATE_LIMIT_PER_SECOND": "5",
        "RATE_LIMIT_PER_HOUR": "1000",
        "RATE_LIMIT_PER_DAY": "1000",
        "RATE_LIMIT_KEY_PREFIX": prefix,
        # Semantics, not timeouts, are under test here: a slow shared machine must not fail open.
        "RATE_LIMIT_REDIS_TIMEOUT_MS": "2000",
        "RATE_LIMIT_REDIS_CONNECT_TIMEOUT_MS": "2000",
        **env,
    }
    return Server(f"http://127.0.0.1:{port}", prefix, start_daphne(port, extra))


@dataclass
class Servers:
    direct: Server
    proxied: Server
    public_url: str


@pytest.fixture(scope="module")
def servers(django_db_setup: None, django_db_blocker: Any) -> Iterator[Servers]:
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    direct = start_server(public_url, port)
    proxied = start_server(public_url, TRUSTED_PROXY_COUNT="1")
    # Keys minted here must carry the servers' issuer and audience.
    override = override_settings(PUBLIC_BASE_URL=public_url, MCP_RESOURCE_URL=f"{public_url}/mcp")
    override.enable()
    try:
        yield Servers(direct, proxied, public_url)
    finally:
        override.disable()
        direct.stop()
        proxied.stop()
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def org(servers: Servers) -> McpOrg:
    return committed(make_org)


def limit(org: McpOrg, **limits: int) -> None:
    committed(OrgRateLimit.objects.create, org=org.org, **limits)


def shared_redis() -> redis.Redis:
    return redis.Redis.from_url(django_settings.REDIS_URL)


def redis_now_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def assert_no_identity_in_headers(response: httpx.Response, *ids: object) -> None:
    for name, value in response.headers.items():
        for ident in ids:
            assert str(ident) not in value, name
            assert uuid.UUID(str(ident)).hex not in value, name


# --- admission and the 429 ------------------------------------------------------------------------------------------


def test_fifty_concurrent_requests_are_admitted_exactly_up_to_the_per_second_limit(
    servers: Servers, org: McpOrg
) -> None:
    limit(org, per_second=6)
    start = threading.Barrier(50)

    def one(_: int) -> httpx.Response:
        with httpx.Client(timeout=30) as client:
            client.get(f"{servers.direct.base}/healthz")  # connected before the race starts
            start.wait()
            return client.post(
                servers.direct.mcp,
                content=json.dumps(PING).encode(),
                headers={"Authorization": f"Bearer {org.org_key}", "Content-Type": "application/json"},
            )

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(one, range(50)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 6, statuses
    assert statuses.count(429) == 44, statuses
    assert {r.json()["limit_type"] for r in responses if r.status_code == 429} == {"second"}


def test_the_429_is_exact_and_a_retry_after_retry_after_succeeds(servers: Servers, org: McpOrg) -> None:
    ok = [post(servers.direct.mcp, org.org_key, PING) for _ in range(5)]
    assert [r.status_code for r in ok] == [200] * 5
    assert ok[0].headers["ratelimit-policy"] == DEFAULT_POLICY
    assert ok[0].headers["ratelimit"].startswith('"second";r=4;t=1, "hour";r=999;t=')
    refused = post(servers.direct.mcp, org.org_key, PING)
    assert refused.status_code == 429
    assert refused.content == refusal(1, "second")
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["content-type"] == "application/json"
    assert refused.headers["ratelimit-policy"] == DEFAULT_POLICY
    assert refused.headers["ratelimit"].startswith('"second";r=0;t=1, "hour";r=995;')
    assert_no_identity_in_headers(refused, org.org.pk)
    assert_no_identity_in_headers(ok[0], org.org.pk)
    time.sleep(int(refused.headers["retry-after"]))
    assert post(servers.direct.mcp, org.org_key, PING).status_code == 200


def test_the_hour_window_reports_its_reset_by_redis_clock_and_a_refusal_counts_nowhere(
    servers: Servers, org: McpOrg
) -> None:
    limit(org, per_hour=2)
    assert [post(servers.direct.mcp, org.org_key, PING).status_code for _ in range(2)] == [200, 200]
    store = shared_redis()
    key = f"{servers.direct.prefix}:org-{org.org.pk}"
    counters_before = store.hgetall(key)
    before = redis_now_ms(store)
    refused = post(servers.direct.mcp, org.org_key, PING)
    after = redis_now_ms(store)
    assert refused.status_code == 429
    retry_after = int(refused.headers["retry-after"])
    assert refused.content == refusal(retry_after, "hour")
    reset = int(store.hget(key, "3600000s") or 0) + 3_600_000
    assert math.ceil((reset - after) / 1000) <= retry_after <= math.ceil((reset - before) / 1000)
    # The refusal consumed neither the second nor the day window (nor the hour itself).
    assert store.hgetall(key) == counters_before
    assert counters_before[b"86400000c"] == b"2"


def test_with_several_windows_full_the_one_resetting_last_is_reported(servers: Servers, org: McpOrg) -> None:
    limit(org, per_second=1, per_day=1)
    assert post(servers.direct.mcp, org.org_key, PING).status_code == 200
    refused = post(servers.direct.mcp, org.org_key, PING)
    assert refused.status_code == 429
    retry_after = int(refused.headers["retry-after"])
    assert 86_390 <= retry_after <= 86_400
    assert refused.content == refusal(retry_after, "day")


# --- identities -----------------------------------------------------------------------------------------------------


def test_each_user_and_the_org_keys_have_their_own_allowance(servers: Servers, org: McpOrg) -> None:
    limit(org, per_hour=2)
    url = servers.direct.mcp
    assert [post(url, org.rep_key, PING).status_code for _ in range(3)] == [200, 200, 429]
    assert post(url, org.admin_key, PING).status_code == 200
    assert [post(url, org.org_key, PING).status_code for _ in range(3)] == [200, 200, 429]
    # A second org-level key is the same identity (org-...), a user's second key the same user.
    _row, other_org_key = committed(org.new_org_key)
    assert post(url, other_org_key, PING).status_code == 429
    _row, other_admin_key = committed(org.user_key, org.admin)
    assert [post(url, other_admin_key, PING).status_code for _ in range(2)] == [200, 429]


def test_failed_authentications_count_against_the_address_and_turn_into_429(servers: Servers, org: McpOrg) -> None:
    ip = f"198.51.100.{random.randint(1, 254)}"
    url = servers.proxied.mcp
    headers = {"X-Forwarded-For": ip}
    # Missing headers are refused on the event loop, unknown tokens in the worker: both count.
    attempts = [
        post(url, None, PING, headers),
        post(url, "garbage", PING, headers),
        post(url, None, PING, headers),
        post(url, "abc.def.ghi", PING, headers),
        post(url, "garbage", PING, headers),
    ]
    assert [r.status_code for r in attempts] == [401] * 5
    assert attempts[0].headers["ratelimit-policy"] == DEFAULT_POLICY
    assert attempts[-1].headers["ratelimit"].startswith('"second";r=0;')
    refused = post(url, "garbage", PING, headers)
    assert refused.status_code == 429
    assert refused.content == refusal(1, "second")
    assert "www-authenticate" not in refused.headers
    assert post(url, None, PING, headers).status_code == 429
    # A valid key from the same address counts against its own identity.
    assert post(url, org.rep_key, PING, headers).status_code == 200
    assert post(url, "garbage", PING, {"X-Forwarded-For": "198.51.100.255"}).status_code == 401


def test_a_spoofed_forwarded_for_is_ignored_without_a_trusted_proxy(servers: Servers) -> None:
    statuses = [
        post(servers.direct.mcp, "garbage", PING, {"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(7)
    ]
    assert statuses == [401] * 5 + [429] * 2


def test_behind_a_trusted_proxy_only_the_hop_it_appended_counts(servers: Servers) -> None:
    url = servers.proxied.mcp
    real = f"192.0.2.{random.randint(1, 254)}"
    # The client writes anything it likes on the left; the proxy appends what it saw.
    statuses = [post(url, "garbage", PING, {"X-Forwarded-For": f"203.0.113.{i}, {real}"}).status_code for i in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    # Seven clients the proxy saw as different addresses: seven allowances.
    base = random.randint(0, 200)
    others = [post(url, "garbage", PING, {"X-Forwarded-For": f"192.0.2.{base + i}"}).status_code for i in range(7)]
    assert 429 not in others


# --- per-organisation limits from the admin -------------------------------------------------------------------------


def test_an_override_saved_in_the_admin_applies_to_the_servers_next_request(
    servers: Servers, org: McpOrg, settings: Any
) -> None:
    assert post(servers.direct.mcp, org.org_key, PING).status_code == 200  # the server caches "no override"
    # The admin runs in this process; it announces the change under the server's key prefix.
    settings.RATE_LIMIT_KEY_PREFIX = servers.direct.prefix
    operator = committed(User.objects.create_superuser, f"operator-{uuid.uuid4().hex[:6]}@ops.example", "pw")

    def save_in_admin() -> int:
        client = Client()
        client.force_login(operator)
        data = {"org": str(org.org.pk), "per_second": "", "per_hour": "1", "per_day": ""}
        return client.post("/admin/ratelimit/orgratelimit/add/", data).status_code

    assert committed(save_in_admin) == 302
    refused = post(servers.direct.mcp, org.org_key, PING)
    assert refused.status_code == 429
    assert refused.content == refusal(int(refused.headers["retry-after"]), "hour")
    assert refused.headers["ratelimit-policy"] == '"second";q=5;w=1, "hour";q=1;w=3600, "day";q=1000;w=86400'


# --- Redis failing under a running server ---------------------------------------------------------------------------


def test_the_server_keeps_serving_while_redis_hangs_and_limits_again_when_it_is_back(
    servers: Servers, org: McpOrg, private_redis: PrivateRedis
) -> None:
    server = start_server(
        servers.public_url,
        REDIS_URL=private_redis.url,
        RATE_LIMIT_PER_SECOND="2",
        RATE_LIMIT_REDIS_TIMEOUT_MS="100",
        RATE_LIMIT_REDIS_CONNECT_TIMEOUT_MS="50",
        RATE_LIMIT_BREAKER_COOLDOWN_MS="500",
    )
    try:
        assert [post(server.mcp, org.org_key, PING).status_code for _ in range(3)] == [200, 200, 429]
        private_redis.freeze()
        latencies = []
        for _ in range(10):
            started = time.perf_counter()
            response = post(server.mcp, org.org_key, PING)
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
            assert "ratelimit" not in response.headers  # nothing known to report
        # A few requests wait one read timeout each; after that the circuit is open.
        assert max(latencies) < 1.0
        assert sorted(latencies)[5] < 0.3
        private_redis.resume()
        deadline = time.monotonic() + 10
        while post(server.mcp, org.org_key, PING).status_code != 429:
            assert time.monotonic() < deadline, "limits did not apply again within 10 s"
        log = server_log(server.proc)
        assert "rate limiter (mcp) unavailable: let" in log
        assert org.org_key not in log
    finally:
        server.stop()


def test_without_redis_the_server_limits_in_process(servers: Servers, org: McpOrg) -> None:
    server = start_server(servers.public_url, REDIS_URL="")
    try:
        statuses = [post(server.mcp, org.org_key, PING).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        refused = post(server.mcp, org.org_key, PING)
        assert refused.content == refusal(1, "second")
        assert refused.headers["ratelimit-policy"] == DEFAULT_POLICY
    finally:
        server.stop()


def test_a_refused_key_is_counted_against_the_identity_it_names_and_answered_401(servers: Servers, org: McpOrg) -> None:
    # An API key's check overlaps its database check, so a key the database refuses (here revoked)
    # has already been counted against the user or organisation its verified claims name.
    limit(org, per_hour=2)
    row, revoked = committed(org.new_org_key)
    committed(lambda: type(row).objects.filter(pk=row.pk).update(revoked_at=timezone.now()))
    refused = post(servers.direct.mcp, revoked, PING)
    assert refused.status_code == 401
    assert post(servers.direct.mcp, org.org_key, PING).status_code == 200
    assert post(servers.direct.mcp, org.org_key, PING).status_code == 429
