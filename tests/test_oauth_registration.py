"""SECURITY-TESTS.md, "OAuth authorization server": Dynamic Client Registration (RFC 7591/7592),
its rate limit, pruning of unused registrations, the discovery metadata, and `check --deploy`.
In process through Django's test client, except `check --deploy` (a subprocess).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model

from oauth.models import Application
from tests.support.oauth import REDIRECT_URI
from tests.support.oauth_inproc import (
    HOST,
    METADATA,
    REGISTER,
    make_app,
    make_person,
    mcp_resource,
    tokens_for,
)

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.support.oauth_fixtures"]  # fixtures: fast_hashers

ROOT = Path(__file__).resolve().parents[1]
AccessToken = get_access_token_model()
Grant = get_grant_model()


def register(body: Any, *, remote_addr: str = "127.0.0.1", **headers: str) -> Any:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return Client(HTTP_HOST=HOST, REMOTE_ADDR=remote_addr).post(
        REGISTER, raw, content_type="application/json", headers=headers
    )


def body_for(**fields: Any) -> dict[str, Any]:
    return {
        "client_name": "Registered client",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **fields,
    }


def assert_refused(response: Any, status: int = 400) -> None:
    assert response.status_code == status, (response.status_code, response.content)
    assert response.json()["error"] == "invalid_client_metadata"
    assert response["Cache-Control"] == "no-store"


@pytest.fixture(autouse=True)
def _fast(fast_hashers: None) -> None:
    """Confidential registrations hash their secret; MD5 here (nothing in this module needs a live server)."""


@pytest.fixture
def new_apps(db: None) -> Callable[[], Any]:
    """The applications created during the test (other modules may leave committed ones behind)."""
    before = set(Application.objects.values_list("pk", flat=True))
    return lambda: Application.objects.exclude(pk__in=before)


# --- what the client may and may not choose ---------------------------------------------------------------------


def test_client_cannot_choose_its_client_id_or_secret() -> None:
    chosen: dict[str, Any] = {
        "client_id": "my-chosen-id",
        "client_secret": "my-chosen-secret-0123456789",
        "client_id_issued_at": 1,
    }
    for method in ("client_secret_post", "client_secret_basic", "none"):
        response = register(body_for(token_endpoint_auth_method=method, **chosen))
        assert response.status_code == 201, response.content
        data = response.json()
        assert data["client_id"] != chosen["client_id"]
        assert data.get("client_secret") != chosen["client_secret"]
        app = Application.objects.get(client_id=data["client_id"])
        assert not check_password(chosen["client_secret"], app.client_secret)
        if method != "none":
            assert check_password(data["client_secret"], app.client_secret)
        assert app.registration_source == Application.RegistrationSource.DCR
        assert app.skip_authorization is False
    assert not Application.objects.filter(client_id=chosen["client_id"]).exists()


@pytest.mark.parametrize(
    ("requested", "echoed", "secret"),
    [
        ("none", "none", False),
        ("client_secret_post", "client_secret_post", True),
        ("client_secret_basic", "client_secret_basic", True),
        (None, "client_secret_basic", True),
    ],
)
def test_token_endpoint_auth_method_is_echoed(requested: str | None, echoed: str, secret: bool) -> None:
    body = body_for(token_endpoint_auth_method=requested)
    if requested is None:
        del body["token_endpoint_auth_method"]
    response = register(body)
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["token_endpoint_auth_method"] == echoed
    assert ("client_secret" in data) is secret
    app = Application.objects.get(client_id=data["client_id"])
    assert app.client_type == (Application.CLIENT_CONFIDENTIAL if secret else Application.CLIENT_PUBLIC)
    assert response["Cache-Control"] == "no-store"


def test_client_secret_post_client_authenticates_with_the_secret_in_the_body() -> None:
    data = register(body_for(token_endpoint_auth_method="client_secret_post")).json()
    app = Application.objects.get(client_id=data["client_id"])
    pair = tokens_for(make_person(), app, data["client_secret"])
    assert pair["access_token"]
    assert pair["refresh_token"]


def test_unsupported_auth_methods_and_grants_refused(new_apps: Callable[[], Any]) -> None:
    for fields in (
        {"token_endpoint_auth_method": "private_key_jwt"},
        {"token_endpoint_auth_method": "client_secret_jwt"},
        {"grant_types": ["password"]},
        {"grant_types": ["implicit"]},
        {"grant_types": ["client_credentials"]},
        {"grant_types": ["urn:ietf:params:oauth:grant-type:device_code"]},
        {"grant_types": ["authorization_code", "password"]},
        {"response_types": ["token"]},
        {"response_types": ["code", "token"]},
    ):
        assert_refused(register(body_for(**fields)))
    assert not new_apps().exists()


# --- redirect URIs ------------------------------------------------------------------------------------------------

INSECURE = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "JAVASCRIPT:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "Data:text/html,x",
    "file:///etc/passwd",
    "FILE:///etc/passwd",
    "HTTPS://client.example/cb",
    "Https://client.example/cb",
    "HTTP://127.0.0.1/cb",
    "http://client.example/cb",
    "http://10.0.0.1/cb",
    "http://127.0.0.1.evil.example/cb",
    "https://user@client.example/cb",
    "https://user:pw@client.example/cb",
    "https://client.example/cb#frag",
    "https://client.example/cb#",
    " https://client.example/cb",
    "https://client.example/cb ",
    "https://client.example/c b",
    "\thttps://client.example/cb",
    "https://client.example/cb\n",
    "https://client.example/c\rb",
    "https://client.example/c\x00b",
    "https://client.example/c\x01b",
    "https://client.example/c\x7fb",
    "https://client.example/c\u00a0b",
    "https://client.example/cb\u2028",
    "https://client.example\\@evil.example/cb",
    "https:///cb",
    "https://client.example:99999/cb",
    "//client.example/cb",
    "/cb",
    "client.example/cb",
    "",
]


@pytest.mark.parametrize("uri", INSECURE, ids=[repr(u)[1:-1][:40] or "empty" for u in INSECURE])
def test_insecure_redirect_uris_refused_at_registration(uri: str, new_apps: Callable[[], Any]) -> None:
    assert_refused(register(body_for(redirect_uris=[uri])))
    assert_refused(register(body_for(redirect_uris=["https://client.example/ok", uri])))
    assert not new_apps().exists()


@pytest.mark.parametrize(
    "uri",
    [
        "https://claude.ai/api/mcp/auth_callback",
        "https://claude.com/api/mcp/auth_callback",
        "http://127.0.0.1/callback",
        "http://127.0.0.1:33418/callback",
        "http://[::1]:8080/callback",
        "http://localhost:6274/oauth/callback",
        "https://client.example/cb?tenant=1",
    ],
)
def test_https_and_loopback_redirect_uris_accepted(uri: str) -> None:
    response = register(body_for(redirect_uris=[uri]))
    assert response.status_code == 201, response.content
    assert response.json()["redirect_uris"] == [uri]


def test_management_endpoint_keeps_the_same_rules() -> None:
    """RFC 7592 PUT (with the registration access token) cannot do what registration refuses."""
    data = register(body_for()).json()
    url = data["registration_client_uri"]
    auth = {"Authorization": f"Bearer {data['registration_access_token']}"}
    client = Client(HTTP_HOST=HOST)
    for fields in (
        {"grant_types": ["client_credentials"]},
        {"grant_types": ["password"]},
        {"grant_types": ["implicit"]},
        {"redirect_uris": ["javascript:alert(1)"]},
        {"redirect_uris": ["http://client.example/cb"]},
    ):
        response = client.put(url, json.dumps(body_for(**fields)), content_type="application/json", headers=auth)
        assert response.status_code == 400, (fields, response.content)
    app = Application.objects.get(client_id=data["client_id"])
    assert app.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE
    assert app.redirect_uris == REDIRECT_URI
    ok = client.put(
        url,
        json.dumps(body_for(redirect_uris=["https://client.example/cb"])),
        content_type="application/json",
        headers=auth,
    )
    assert ok.status_code == 200, ok.content


def test_management_responses_are_no_store_and_bounded() -> None:
    """RFC 7592 answers carry the registration access token: never stored; and PUT has POST's bounds."""
    data = register(body_for()).json()
    url = data["registration_client_uri"]
    auth = {"Authorization": f"Bearer {data['registration_access_token']}"}
    client = Client(HTTP_HOST=HOST)
    read = client.get(url, headers=auth)
    assert read.status_code == 200
    assert read["Cache-Control"] == "no-store"
    for body in (body_for(client_name="x" * 201), body_for(contacts=["a@client.example"] * 21)):
        refused = client.put(url, json.dumps(body), content_type="application/json", headers=auth)
        assert refused.status_code == 400
        assert refused["Cache-Control"] == "no-store"
    too_big = client.put(url, json.dumps(body_for(padding="x" * 17_000)), content_type="application/json", headers=auth)
    assert too_big.status_code == 413
    updated = client.put(
        url, json.dumps(body_for(token_endpoint_auth_method="none")), content_type="application/json", headers=auth
    )
    assert updated.status_code == 200
    assert updated["Cache-Control"] == "no-store"
    assert updated.json()["token_endpoint_auth_method"] == "none"
    anonymous = client.put(url, json.dumps(body_for(client_name="x" * 201)), content_type="application/json")
    assert anonymous.status_code == 401


# --- bounded input ------------------------------------------------------------------------------------------------


def test_oversized_bodies_and_arrays_refused(new_apps: Callable[[], Any]) -> None:
    assert_refused(register(body_for(padding="x" * 17_000)), 413)
    assert_refused(register(body_for(redirect_uris=[f"https://client.example/cb{i}" for i in range(11)])))
    assert_refused(register(body_for(contacts=[f"a{i}@client.example" for i in range(21)])))
    assert_refused(register(body_for(client_name="x" * 201)))
    assert_refused(register(body_for(redirect_uris=["https://client.example/" + "a" * 2100])))
    assert_refused(register("[" * 5000 + "]" * 5000))
    assert_refused(register(b"\xff\xfe not json"))
    assert_refused(register("[]"))
    assert_refused(register(body_for(redirect_uris="https://client.example/cb")))
    assert_refused(register(body_for(redirect_uris=[])))
    assert_refused(register(body_for(redirect_uris=[{"uri": "https://client.example/cb"}])))
    assert_refused(register(body_for(client_name=["x"])))
    form = Client(HTTP_HOST=HOST).post(REGISTER, {"redirect_uris": REDIRECT_URI})
    assert_refused(form)
    assert not new_apps().exists()
    # Within the limits, it works.
    at_limit = body_for(redirect_uris=[f"https://client.example/cb{i}" for i in range(10)], client_name="x" * 200)
    assert register(at_limit).status_code == 201


def test_registration_flood_gets_429_with_retry_after(settings: Any, new_apps: Callable[[], Any]) -> None:
    """Many registrations from one address are cut off with 429 and an honest Retry-After; others still register."""
    settings.RATE_LIMIT_STRICT = {**settings.RATE_LIMIT_STRICT, REGISTER: {"minute": 5, "day": 100}}
    statuses = []
    refused = None
    for _ in range(30):
        response = register(body_for(), remote_addr="198.51.100.7")
        statuses.append(response.status_code)
        if response.status_code == 429:
            refused = response
            break
    assert refused is not None, statuses
    assert statuses.count(201) == 5
    assert set(statuses[:-1]) == {201}
    retry_after = int(refused["Retry-After"])
    assert 1 <= retry_after <= 60
    assert refused.json()["error"] == "rate limit exceeded"
    assert refused["Cache-Control"] == "no-store"
    assert new_apps().count() == 5
    # Someone else is not affected.
    assert register(body_for(), remote_addr="198.51.100.8").status_code == 201


# --- pruning ------------------------------------------------------------------------------------------------------


def registered_app(name: str) -> Application:
    data = register(body_for(client_name=name)).json()
    app: Application = Application.objects.get(client_id=data["client_id"])
    return app


def test_unused_registrations_are_pruned(new_apps: Callable[[], Any]) -> None:
    days = settings.OAUTH_UNUSED_CLIENT_DAYS
    old = timezone.now() - timedelta(days=days, hours=1)
    abandoned = registered_app("abandoned")
    used = registered_app("used")
    tokens_for(make_person(), used)
    pending = registered_app("pending")
    Grant.objects.create(
        application=pending,
        user=make_person("gina"),
        code=secrets.token_urlsafe(30),
        expires=timezone.now() + timedelta(minutes=1),
        redirect_uri=REDIRECT_URI,
        scope="mcp:read",
        resource=[mcp_resource()],
    )
    recent = registered_app("recent")
    _manual, _ = make_app(name="manual", source=Application.RegistrationSource.MANUAL)
    cimd, _ = make_app(name="cimd", source=Application.RegistrationSource.CIMD)
    new_apps().exclude(pk=recent.pk).update(created=old)

    call_command("prune_oauth_clients", "--dry-run", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert Application.objects.filter(pk=abandoned.pk).exists()
    call_command("prune_oauth_clients", stdout=open(os.devnull, "w"))  # noqa: SIM115
    remaining = set(new_apps().values_list("name", flat=True))
    assert remaining == {"used", "pending", "recent", "manual"}
    assert not AccessToken.objects.filter(application_id=abandoned.pk).exists()
    assert not Application.objects.filter(pk=cimd.pk).exists()


# --- metadata and deployment --------------------------------------------------------------------------------------


def test_metadata_advertises_what_is_accepted() -> None:
    metadata = Client(HTTP_HOST=HOST).get(METADATA).json()
    base = settings.PUBLIC_BASE_URL
    assert metadata["issuer"] == base
    assert metadata["authorization_endpoint"] == f"{base}/oauth/authorize/"
    assert metadata["token_endpoint"] == f"{base}/oauth/token/"
    assert metadata["registration_endpoint"] == f"{base}/oauth/register/"
    assert metadata["revocation_endpoint"] == f"{base}/oauth/revoke_token/"
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert "none" in metadata["token_endpoint_auth_methods_supported"]
    assert metadata["client_id_metadata_document_supported"] is True
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert metadata["scopes_supported"] == ["mcp:read", "mcp:write"]
    assert "implicit" not in json.dumps(metadata)
    assert "password" not in json.dumps(metadata)
    for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
        document = Client(HTTP_HOST=HOST).get(path).json()
        assert document["resource"] == mcp_resource()
        assert document["authorization_servers"] == [metadata["issuer"]]


def test_rfc9700_switches_are_on() -> None:
    """Every compliance gate on, except the two the settings document (and silence in --deploy) with reasons."""
    config = settings.OAUTH2_PROVIDER
    gates = {key: value for key, value in config.items() if key.startswith("COMPLIANT_BCP_RFC9700_")}
    off = {key for key, value in gates.items() if not value}
    assert off == {"COMPLIANT_BCP_RFC9700_TOKEN_STORAGE", "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME"}
    assert len(gates) >= 9
    assert set(settings.SILENCED_SYSTEM_CHECKS) == {"oauth2_provider.W006", "oauth2_provider.W008"}
    assert config["PKCE_REQUIRED"] is True
    assert config["REFRESH_TOKEN_REUSE_PROTECTION"] is True
    assert config["ROTATE_REFRESH_TOKEN"] is True


def test_check_deploy_passes_in_production(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "ENVIRONMENT": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "PUBLIC_BASE_URL": "https://mcp.example.com",
        "VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout
