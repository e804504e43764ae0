"""Helpers for the /mcp tests: an organisation with people and keys, raw HTTP, the 2026-07-28 envelope, JWT forging.

The fixtures live in tests/support/mcp_fixtures.py; load it as a plugin (`live_server_url` comes
from the tests.support.live plugin)::

    pytest_plugins = ["tests.support.mcp_fixtures"]
    pytestmark = pytest.mark.django_db

Why not `live_mcp_url` + `transactional_db`: their flush after every test costs about a second
with the live server running, which a few hundred HTTP cases cannot afford. Instead:

- `mcp_url` (module-scoped) points this process's PUBLIC_BASE_URL / MCP_RESOURCE_URL at the live
  server for the module, so keys minted here verify there, and flushes the database once when
  the module ends;
- tests are ordinary `django_db` tests (the marker also makes pytest-django create the test
  database), so what the test thread writes is rolled back and is *invisible to the server*;
- whatever the server must see is written through `committed(fn, ...)`, which runs `fn` in a
  worker thread with its own autocommit connection. Never write on the test thread to rows the
  server also writes (API keys' last_used_at): the test's open transaction would hold the row lock.

Tests that change what they touch (revoke, deactivate, ...) use `fresh_org` or make their own
keys; `shared_org` (module-scoped) is for everything else.

`make_org()` builds an organisation of its own ("Acme <hex>") with:

    teams   sales "Sales" (top level), emea "EMEA" (under Sales), support "Support" (top level)
    admin   admin@<domain>, role admin, no team
    rep     rep@<domain>, role sales_rep, Sales (primary) and Support
    keys    org_key (org-level), admin_key (user-level, the admin), rep_key (user-level, the rep)

Nothing here depends on tests/conftest.py or tests/factories.py.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import connections
from mcp_types import CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY

from accounts.models import Organization, Role, Team, User
from accounts.permissions import Actor
from accounts.services import membership_add, organization_create, team_create
from apikeys import tokens
from apikeys.keyring import keyring
from apikeys.models import ApiKey
from apikeys.services import apikey_create

T = TypeVar("T")

MODERN = "2026-07-28"
HANDSHAKE_VERSIONS = ("2025-03-26", "2025-06-18", "2025-11-25")
LATEST_HANDSHAKE = "2025-11-25"
JSON = "application/json"

UNAUTHORIZED_BODY = {"error": "unauthorized", "error_description": "missing or invalid Authorization header"}
INVALID_BODY = {"error": "invalid_token", "error_description": "The access token is invalid."}
EXPIRED_BODY = {"error": "invalid_token", "error_description": "The access token has expired..."}


# --- people and keys ---------------------------------------------------------------------------------------------


@dataclass
class McpOrg:
    org: Organization
    domain: str
    admin: User
    rep: User
    teams: dict[str, Team]
    org_key: str
    admin_key: str
    rep_key: str
    keys: dict[str, ApiKey] = field(default_factory=dict)

    @property
    def system(self) -> Actor:
        return Actor.org_wide(self.org.pk, via="system")

    @property
    def operator(self) -> Actor:
        return Actor.org_wide(self.org.pk, via="operator")

    def add_user(self, local: str, role: str = "sales_rep", teams: tuple[str, ...] = ()) -> User:
        user = User.objects.create_user(f"{local}@{self.domain}", None, org=self.org, first_name=local.title())
        user.roles.add(Role.objects.get(org=self.org, type=role))
        for i, team in enumerate(teams):
            membership_add(actor=self.system, team_id=self.teams[team].pk, user_id=user.pk, primary=i == 0)
        return user

    def user_key(self, user: User, name: str = "user key", expiry_hours: int | None = None) -> tuple[ApiKey, str]:
        return apikey_create(
            actor=self.operator, name=name, org_level=False, user_id=user.pk, expiry_hours=expiry_hours
        )

    def new_org_key(self, name: str = "org key", expiry_hours: int | None = None) -> tuple[ApiKey, str]:
        return apikey_create(actor=self.operator, name=name, expiry_hours=expiry_hours)


def make_org(name: str = "Acme") -> McpOrg:
    """A fresh organisation with the teams, people and keys described in the module docstring."""
    suffix = uuid.uuid4().hex[:8]
    domain = f"{name.lower()}-{suffix}.example"
    org = organization_create(name=f"{name} {suffix}", slug=f"{name.lower()}-{suffix}", email_domains=[domain])
    system = Actor.org_wide(org.pk, via="system")
    sales = team_create(actor=system, name="Sales")
    emea = team_create(actor=system, name="EMEA", parent_team_id=sales.pk)
    support = team_create(actor=system, name="Support")
    teams = {"sales": sales, "emea": emea, "support": support}
    # No password: hashing one costs ~0.3 s per user and nothing here logs in.
    admin = User.objects.create_user(f"admin@{domain}", None, org=org, first_name="Ada", last_name="Admin")
    admin.roles.add(Role.objects.get(org=org, type="admin"))
    rep = User.objects.create_user(f"rep@{domain}", None, org=org, first_name="Rita", last_name="Rep")
    rep.roles.add(Role.objects.get(org=org, type="sales_rep"))
    membership_add(actor=system, team_id=sales.pk, user_id=rep.pk, primary=True)
    membership_add(actor=system, team_id=support.pk, user_id=rep.pk)
    operator = Actor.org_wide(org.pk, via="operator")
    org_row, org_key = apikey_create(actor=operator, name="org key")
    admin_row, admin_key = apikey_create(actor=operator, name="admin key", org_level=False, user_id=admin.pk)
    rep_row, rep_key = apikey_create(actor=operator, name="rep key", org_level=False, user_id=rep.pk)
    return McpOrg(
        org=org,
        domain=domain,
        admin=admin,
        rep=rep,
        teams=teams,
        org_key=org_key,
        admin_key=admin_key,
        rep_key=rep_key,
        keys={"org": org_row, "admin": admin_row, "rep": rep_row},
    )


def committed(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run `fn` in a worker thread on its own autocommit connection: its writes are committed when it returns."""

    def run() -> T:
        try:
            return fn(*args, **kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


# --- raw HTTP ----------------------------------------------------------------------------------------------------

_client: httpx.Client | None = None


def client() -> httpx.Client:
    """One keep-alive client for the whole test process (loopback only)."""
    global _client
    if _client is None:
        _client = httpx.Client(timeout=20)
    return _client


def post(
    url: str,
    token: str | None,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    *,
    content: bytes | None = None,
) -> httpx.Response:
    """POST one body to /mcp: `body` is JSON-encoded unless raw `content` is given.

    Defaults: `Content-Type: application/json`, `Accept: application/json, text/event-stream`
    and `Authorization: Bearer <token>` when a token is given; `headers` override them.
    """
    all_headers = {"Content-Type": JSON, "Accept": "application/json, text/event-stream"}
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    all_headers.update(headers or {})
    data = content if content is not None else json.dumps(body).encode()
    return client().post(url, content=data, headers=all_headers)


def request(method: str, params: Mapping[str, Any] | None = None, req_id: int | str = 1) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id, "method": method}
    if params is not None:
        msg["params"] = dict(params)
    return msg


def rpc(
    url: str,
    token: str,
    method: str,
    params: Mapping[str, Any] | None = None,
    *,
    version: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """One JSON-RPC request. `version=MODERN` sends the full 2026-07-28 envelope and routing headers."""
    if version == MODERN:
        name = params.get("name") if params and method == "tools/call" else None
        body = modern_request(method, params)
        all_headers = {**modern_headers(method, name), **(headers or {})}
        return post(url, token, body, all_headers)
    all_headers = dict(headers or {})
    if version is not None:
        all_headers.setdefault("MCP-Protocol-Version", version)
    return post(url, token, request(method, params), all_headers)


def result_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, (response.status_code, response.text)
    body = response.json()
    assert "error" not in body, body
    result: dict[str, Any] = body["result"]
    return result


def call_tool(
    url: str, token: str, name: str, arguments: Mapping[str, Any] | None = None, *, version: str | None = None
) -> dict[str, Any]:
    """tools/call over HTTP; returns the CallToolResult (checking that its text block mirrors structuredContent)."""
    params: dict[str, Any] = {"name": name, "arguments": dict(arguments or {})}
    result = result_of(rpc(url, token, "tools/call", params, version=version))
    texts = [c for c in result["content"] if c["type"] == "text"]
    assert len(texts) == 1, result
    assert json.loads(texts[0]["text"]) == result["structuredContent"]
    return result


def tool_ok(url: str, token: str, name: str, arguments: Mapping[str, Any] | None = None) -> dict[str, Any]:
    result = call_tool(url, token, name, arguments)
    assert result["isError"] is False, result
    structured: dict[str, Any] = result["structuredContent"]
    return structured


def tool_error(url: str, token: str, name: str, arguments: Mapping[str, Any] | None = None) -> dict[str, Any]:
    result = call_tool(url, token, name, arguments)
    assert result["isError"] is True, result
    structured: dict[str, Any] = result["structuredContent"]
    return structured


# --- 2026-07-28 ---------------------------------------------------------------------------------------------------


def modern_meta(version: str = MODERN) -> dict[str, Any]:
    return {
        PROTOCOL_VERSION_META_KEY: version,
        CLIENT_CAPABILITIES_META_KEY: {},
        CLIENT_INFO_META_KEY: {"name": "attention-tests", "version": "0"},
    }


def modern_request(method: str, params: Mapping[str, Any] | None = None, req_id: int | str = 1) -> dict[str, Any]:
    """A request carrying the per-request envelope in `params._meta`."""
    return request(method, {**(params or {}), "_meta": modern_meta()}, req_id)


def modern_headers(method: str, name: str | None = None, version: str = MODERN) -> dict[str, str]:
    """The routing headers a 2026-07-28 client sends with `method` (and `Mcp-Name` for tools/call)."""
    headers = {"MCP-Protocol-Version": version, "Mcp-Method": method}
    if name is not None:
        headers["Mcp-Name"] = name
    return headers


# --- 401s ---------------------------------------------------------------------------------------------------------


def resource_metadata_url(base: str) -> str:
    return f"{base}/.well-known/oauth-protected-resource/mcp"


def assert_unauthorized(response: httpx.Response, base: str) -> None:
    """No usable Authorization header: the seed's `unauthorized` body and a challenge without `error`."""
    assert response.status_code == 401, response.text
    assert response.json() == UNAUTHORIZED_BODY
    assert response.headers["www-authenticate"] == (
        f'Bearer resource_metadata="{resource_metadata_url(base)}", scope="mcp:read mcp:write"'
    )


def assert_invalid_token(response: httpx.Response, base: str, *, expired: bool = False) -> None:
    assert response.status_code == 401, response.text
    expected = EXPIRED_BODY if expired else INVALID_BODY
    assert response.json() == expected
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith(f'Bearer resource_metadata="{resource_metadata_url(base)}"')
    assert 'scope="mcp:read mcp:write"' in challenge
    assert 'error="invalid_token"' in challenge
    assert f'error_description="{expected["error_description"]}"' in challenge


# --- JWT forging --------------------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def b64json(obj: Any) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def our_header(**changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": "EdDSA", "typ": tokens.TOKEN_TYPE, "kid": keyring().signing_kid}
    header.update(changes)
    return {k: v for k, v in header.items() if v is not None}


def sign_raw(header: Mapping[str, Any], claims: Mapping[str, Any], key: Ed25519PrivateKey | None = None) -> str:
    """A compact JWS over exactly these header and claims, signed with Ed25519 (our key unless another is given)."""
    signing_input = f"{b64json(dict(header))}.{b64json(dict(claims))}"
    signer = key if key is not None else keyring().signing_key
    return f"{signing_input}.{b64url(signer.sign(signing_input.encode()))}"


def register_token(token: str, *, org: Organization, user: User | None = None, expires_at: Any = None) -> ApiKey:
    """Store the row a hand-made token needs to pass the database check (its jti and hash)."""
    segment = token.split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return ApiKey.objects.create(
        jti=payload["jti"],
        token_hash=tokens.token_hash(token),
        prefix=f"ak_{payload['jti'][:8]}",
        name="hand-made",
        org=org,
        user=user,
        expires_at=expires_at,
    )
