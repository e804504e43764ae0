"""SECURITY-TESTS.md, "OAuth authorization server": what /mcp accepts, over real HTTP against the
session's live Daphne — audience, look-alike paths, tokens in the query string, revocation taking
effect on the very next call — and concurrency at the token endpoint (parallel refreshes, parallel
exchanges of one code).

Rows the server must see are written with `committed()` (see tests/support/mcp.py); the module's
`mcp_url` fixture points this process at the live server and flushes the database at the end.
"""

from __future__ import annotations

import http.client
import json
import secrets
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from accounts.models import User
from oauth.models import Application
from tests.support.mcp import McpOrg, assert_invalid_token, assert_unauthorized, client, committed, post, request
from tests.support.oauth import REDIRECT_URI, pkce_pair
from tests.support.oauth_inproc import make_app

pytest_plugins = ["tests.support.mcp_fixtures"]  # fixtures: mcp_url, shared_org, fresh_org
pytestmark = pytest.mark.django_db

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
Grant = get_grant_model()
PING = request("ping")
PARALLEL = 8


@dataclass
class Minted:
    app: Application
    user: User
    access: str
    refresh: str


def mint(
    user: User,
    *,
    resource: list[str],
    app: Application | None = None,
    scope: str = "mcp:read mcp:write",
    expires_in: int = 3600,
) -> Minted:
    """An access + refresh token pair written straight to the database (committed), as if issued by a grant."""

    def create() -> Minted:
        application = app or make_app()[0]
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        row = AccessToken.objects.create(
            user=user,
            application=application,
            token=access,
            scope=scope,
            expires=timezone.now() + timedelta(seconds=expires_in),
            resource=resource,
        )
        RefreshToken.objects.create(
            user=user,
            application=application,
            token=refresh,
            access_token=row,
            token_family=uuid.uuid4(),
            resource=resource,
        )
        return Minted(app=application, user=user, access=access, refresh=refresh)

    return committed(create)


def base_of(mcp_url: str) -> str:
    return mcp_url.removesuffix("/mcp")


def token_post(mcp_url: str, path: str, data: dict[str, str]) -> httpx.Response:
    return client().post(f"{base_of(mcp_url)}{path}", data=data)


def refresh_live(mcp_url: str, minted: Minted, **extra: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": minted.refresh, "client_id": minted.app.client_id}
    return token_post(mcp_url, "/oauth/token/", {**data, **extra})


def revoke_live(mcp_url: str, app: Application, token: str) -> httpx.Response:
    return token_post(mcp_url, "/oauth/revoke_token/", {"token": token, "client_id": app.client_id})


def ok(mcp_url: str, token: str) -> bool:
    response = post(mcp_url, token, PING)
    assert response.status_code in (200, 401), (response.status_code, response.text)
    return response.status_code == 200


# --- audience -----------------------------------------------------------------------------------------------------


def test_token_for_this_mcp_is_accepted(mcp_url: str, fresh_org: McpOrg) -> None:
    minted = mint(fresh_org.admin, resource=[mcp_url])
    assert ok(mcp_url, minted.access)


@pytest.mark.parametrize(
    "resource",
    [
        ["https://other.example/mcp"],
        ["{base}/mcp/"],
        ["{base}/mcpx"],
        ["{base}/MCP"],
        ["{base}"],
        ["{base}/mcp?x=1"],
        ["http://127.0.0.1:1/mcp"],
        ["{base}/mcp", "https://other.example/mcp"],
        ["https://other.example/mcp", "{base}/mcp"],
    ],
    ids=lambda r: "+".join(r),
)
def test_token_for_another_resource_is_401(
    live_server_url: str, mcp_url: str, fresh_org: McpOrg, resource: list[str]
) -> None:
    minted = mint(fresh_org.admin, resource=[r.format(base=live_server_url) for r in resource])
    assert_invalid_token(post(mcp_url, minted.access, PING), live_server_url)


def test_token_without_resource_is_401(live_server_url: str, mcp_url: str, fresh_org: McpOrg) -> None:
    """DOT treats a token with no recorded resource as unrestricted; /mcp does not."""
    minted = mint(fresh_org.admin, resource=[])
    assert_invalid_token(post(mcp_url, minted.access, PING), live_server_url)


def test_tokens_without_a_person_or_scope_are_401(live_server_url: str, mcp_url: str, fresh_org: McpOrg) -> None:
    for scope in ("", "offline_access", "read write"):
        minted = mint(fresh_org.admin, resource=[mcp_url], scope=scope)
        assert_invalid_token(post(mcp_url, minted.access, PING), live_server_url)

    def userless() -> str:
        token = secrets.token_urlsafe(32)
        AccessToken.objects.create(
            user=None,
            application=make_app()[0],
            token=token,
            scope="mcp:read mcp:write",
            expires=timezone.now() + timedelta(hours=1),
            resource=[mcp_url],
        )
        return token

    assert_invalid_token(post(mcp_url, committed(userless), PING), live_server_url)
    expired = mint(fresh_org.admin, resource=[mcp_url], expires_in=-1)
    assert_invalid_token(post(mcp_url, expired.access, PING), live_server_url, expired=True)


def raw_post(base: str, path: str, token: str) -> tuple[int, bytes]:
    """POST with the path sent exactly as written (httpx would normalise dot segments)."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        body = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_me","arguments":{}}}'
        connection.request(
            "POST",
            path,
            body=body,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
            },
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "path",
    [
        "/mcpx",
        "/MCP",
        "/Mcp",
        "/mcp/x",
        "/mcp/../x",
        "/mcp/./",
        "/x/../mcpx",
        "/mcp%00",
        "//mcp",
        "/mcp;x",
        "/mcp.json",
        "/api/mcp",
        "/oauth/mcp",
    ],
)
# Not look-alikes: "/%6Dcp" and "/mcp%2F" are /mcp and /mcp/ percent-encoded (RFC 3986 §6.2.2), the same resource.
def test_token_refused_at_look_alike_paths(live_server_url: str, mcp_url: str, fresh_org: McpOrg, path: str) -> None:
    minted = mint(fresh_org.admin, resource=[mcp_url])
    status, body = raw_post(live_server_url, path, minted.access)
    assert status in (400, 401, 403, 404, 405), (status, body[:500])
    assert fresh_org.admin.email.encode() not in body
    assert b'"result"' not in body


def test_access_token_in_the_query_string_is_ignored(live_server_url: str, mcp_url: str, fresh_org: McpOrg) -> None:
    minted = mint(fresh_org.admin, resource=[mcp_url])
    for name in ("access_token", "token", "bearer", "authorization"):
        assert_unauthorized(post(f"{mcp_url}?{name}={minted.access}", None, PING), live_server_url)
    # Nor as a form field.
    response = client().post(
        mcp_url,
        content=f"access_token={minted.access}",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json, text/event-stream"},
    )
    assert response.status_code in (401, 415), response.text
    # A bad header with a good query token is judged on the header alone.
    response = post(f"{mcp_url}?access_token={minted.access}", "not-a-token", PING)
    assert_invalid_token(response, live_server_url)


# --- revocation reaches /mcp at once --------------------------------------------------------------------------------


def test_after_revoking_the_access_token_the_next_call_is_401(mcp_url: str, fresh_org: McpOrg) -> None:
    minted = mint(fresh_org.admin, resource=[mcp_url])
    assert ok(mcp_url, minted.access)
    assert revoke_live(mcp_url, minted.app, minted.access).status_code == 200
    assert not ok(mcp_url, minted.access)
    assert refresh_live(mcp_url, minted).status_code == 400


def test_after_revoking_the_refresh_token_its_access_token_is_401(mcp_url: str, fresh_org: McpOrg) -> None:
    minted = mint(fresh_org.admin, resource=[mcp_url])
    assert ok(mcp_url, minted.access)
    assert revoke_live(mcp_url, minted.app, minted.refresh).status_code == 200
    assert not ok(mcp_url, minted.access)


def test_revocation_by_another_client_leaves_the_token_working(mcp_url: str, fresh_org: McpOrg) -> None:
    minted = mint(fresh_org.admin, resource=[mcp_url])
    other = committed(lambda: make_app(name="Other client")[0])
    for token in (minted.access, minted.refresh):
        assert revoke_live(mcp_url, other, token).status_code == 200
    assert ok(mcp_url, minted.access)
    assert revoke_live(mcp_url, minted.app, "never-issued").status_code == 200


def test_replayed_refresh_token_ends_access_at_once(mcp_url: str, fresh_org: McpOrg) -> None:
    minted = mint(fresh_org.admin, resource=[mcp_url])
    rotated = refresh_live(mcp_url, minted)
    assert rotated.status_code == 200, rotated.text
    new_access = rotated.json()["access_token"]
    assert ok(mcp_url, new_access)
    assert not ok(mcp_url, minted.access)
    # Beyond the grace window, the old refresh token is a replay: the whole family goes, /mcp at once.
    committed(
        lambda: RefreshToken.objects.filter(token=minted.refresh).update(revoked=timezone.now() - timedelta(minutes=5))
    )
    assert refresh_live(mcp_url, minted).status_code == 400
    assert not ok(mcp_url, new_access)


# --- concurrency at the token endpoint ------------------------------------------------------------------------------


def test_parallel_refreshes_mint_exactly_one_pair(mcp_url: str, fresh_org: McpOrg) -> None:
    minted = mint(fresh_org.admin, resource=[mcp_url])
    base = base_of(mcp_url)
    data = {"grant_type": "refresh_token", "refresh_token": minted.refresh, "client_id": minted.app.client_id}

    def one() -> httpx.Response:
        with httpx.Client(timeout=30) as http:
            return http.post(f"{base}/oauth/token/", data=data)

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        responses = list(pool.map(lambda _: one(), range(PARALLEL)))
    statuses = [r.status_code for r in responses]
    assert all(s < 500 for s in statuses), statuses
    successes = [r.json() for r in responses if r.status_code == 200]
    assert successes, statuses
    # Thanks to the grace window every success carries the same, single new pair.
    assert len({s["access_token"] for s in successes}) == 1, successes
    assert len({s["refresh_token"] for s in successes}) == 1, successes

    def counts() -> tuple[int, int]:
        return (
            AccessToken.objects.filter(application=minted.app).count(),
            RefreshToken.objects.filter(application=minted.app, revoked__isnull=True).count(),
        )

    assert committed(counts) == (1, 1)
    assert ok(mcp_url, successes[0]["access_token"])
    assert not ok(mcp_url, minted.access)


@pytest.mark.parametrize("with_resource", [True, False])
@pytest.mark.parametrize("round_", [1, 2])
def test_parallel_exchanges_of_one_code(mcp_url: str, fresh_org: McpOrg, with_resource: bool, round_: int) -> None:
    """At most one exchange wins; none is a 500; the others are invalid_grant; and never more live tokens than
    winners (a loser that sees the race revokes what the winner got, RFC 6749 §4.1.2). Races are timing-dependent:
    several rounds, with and without `resource` (whose check meets the vanished grant at another point)."""
    verifier, challenge = pkce_pair()
    code = secrets.token_urlsafe(30)

    def create() -> Application:
        app = make_app()[0]
        Grant.objects.create(
            application=app,
            user=fresh_org.admin,
            code=code,
            expires=timezone.now() + timedelta(minutes=1),
            redirect_uri=REDIRECT_URI,
            scope="mcp:read mcp:write",
            code_challenge=challenge,
            code_challenge_method="S256",
            resource=[mcp_url],
        )
        return app

    app = committed(create)
    base = base_of(mcp_url)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
        "client_id": app.client_id,
        **({"resource": mcp_url} if with_resource else {}),
    }

    def one() -> httpx.Response:
        with httpx.Client(timeout=30) as http:
            return http.post(f"{base}/oauth/token/", data=data)

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        responses = list(pool.map(lambda _: one(), range(PARALLEL)))
    statuses = [r.status_code for r in responses]
    assert all(s < 500 for s in statuses), statuses
    assert statuses.count(200) <= 1, statuses
    assert all(r.json()["error"] == "invalid_grant" for r in responses if r.status_code != 200)
    live = committed(lambda: AccessToken.objects.filter(application=app).count())
    assert live <= statuses.count(200)
    # And the code is spent.
    again = token_post(mcp_url, "/oauth/token/", data)
    assert again.status_code == 400


# --- registration over real HTTP ----------------------------------------------------------------------------------


def test_registration_body_cap_holds_for_chunked_bodies(mcp_url: str) -> None:
    """Without Content-Length (chunked transfer encoding) the 16 KB cap must still hold."""
    body = json.dumps(
        {"redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "none", "padding": "x" * 100_000}
    ).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = client().post(
        f"{base_of(mcp_url)}/oauth/register/", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert response.headers["cache-control"] == "no-store"
