"""OAuth in the operators' admin (listed, revocable, no token value shown), the discovery documents,
the prune command's reach, and what `make run` prints for an OAuth sign-in."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import AccessToken, Grant, RefreshToken

from accounts.models import Role, RoleType, User
from accounts.services import organization_create
from oauth.models import Application, Connection

pytestmark = pytest.mark.django_db
HOST = "127.0.0.1:8000"
ACCESS = "access-token-value-0123456789abcdefghij"
REFRESH = "refresh-token-value-0123456789abcdefghij"
CODE = "authorization-code-value-0123456789abcdef"


@pytest.fixture
def oauth_rows() -> dict[str, Any]:
    org = organization_create(name="Acme", slug="acme", email_domains=["acme.example"])
    person = User.objects.create_user("ada@acme.example", None, org=org)
    person.roles.add(Role.objects.get(org=org, type=RoleType.ADMIN))
    app = Application.objects.create(
        name="Claude",
        client_type="public",
        authorization_grant_type="authorization-code",
        redirect_uris="https://claude.ai/api/mcp/auth_callback",
        registration_source=Application.RegistrationSource.DCR,
    )
    now = timezone.now()
    access = AccessToken.objects.create(
        user=person, application=app, token=ACCESS, expires=now + dt.timedelta(hours=1), scope="mcp:read"
    )
    refresh = RefreshToken.objects.create(user=person, application=app, token=REFRESH, access_token=access)
    grant = Grant.objects.create(
        user=person,
        application=app,
        code=CODE,
        expires=now + dt.timedelta(minutes=1),
        redirect_uri="https://claude.ai/api/mcp/auth_callback",
        scope="mcp:read",
    )
    connection = Connection.objects.create(user=person, application=app, last_used_at=now)
    return {"app": app, "access": access, "refresh": refresh, "grant": grant, "connection": connection, "user": person}


@pytest.fixture
def operator(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("ops@example.com", None))
    return client


def _admin_url(obj: Any, view: str) -> str:
    meta = obj._meta
    args = (obj.pk,) if view == "change" else ()
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


def test_admin_lists_and_shows_oauth_rows_without_any_token_value(operator: Client, oauth_rows: dict[str, Any]) -> None:
    for name in ("app", "access", "refresh", "grant", "connection"):
        obj = oauth_rows[name]
        for view in ("changelist", "change"):
            response = operator.get(_admin_url(obj, view), HTTP_HOST=HOST)
            assert response.status_code == 200, (name, view)
            html = response.content.decode()
            for secret in (ACCESS, REFRESH, CODE):
                # Not the value, and not the few trailing characters DOT's own admin shows either.
                assert secret not in html, (name, view)
                assert secret[-4:] not in html, (name, view)
    assert "Claude" in operator.get(_admin_url(oauth_rows["app"], "changelist"), HTTP_HOST=HOST).content.decode()


def test_admin_revoke_action_ends_the_token(operator: Client, oauth_rows: dict[str, Any]) -> None:
    access = oauth_rows["access"]
    response = operator.post(
        _admin_url(access, "changelist"),
        {"action": "revoke_tokens", "_selected_action": [access.pk]},
        HTTP_HOST=HOST,
    )
    assert response.status_code == 302
    assert not AccessToken.objects.filter(pk=access.pk).exists()
    assert RefreshToken.objects.get(pk=oauth_rows["refresh"].pk).revoked is not None


def test_admin_disconnect_action_revokes_everything_of_that_client_for_that_person(
    operator: Client, oauth_rows: dict[str, Any]
) -> None:
    connection = oauth_rows["connection"]
    response = operator.post(
        _admin_url(connection, "changelist"),
        {"action": "disconnect", "_selected_action": [connection.pk]},
        HTTP_HOST=HOST,
    )
    assert response.status_code == 302
    app, person = oauth_rows["app"], oauth_rows["user"]
    assert not AccessToken.objects.filter(application=app, user=person).exists()
    assert not RefreshToken.objects.filter(application=app, user=person, revoked__isnull=True).exists()
    assert not Grant.objects.filter(application=app, user=person).exists()
    assert not Connection.objects.filter(pk=connection.pk).exists()


def test_token_admin_cannot_add_tokens(operator: Client) -> None:
    assert operator.get(reverse("admin:oauth2_provider_accesstoken_add"), HTTP_HOST=HOST).status_code == 403
    assert operator.get(reverse("admin:oauth2_provider_refreshtoken_add"), HTTP_HOST=HOST).status_code == 403


# --- discovery -----------------------------------------------------------------------------------


def test_protected_resource_documents_name_the_issuer_of_the_authorization_server_metadata(client: Client) -> None:
    asm = client.get("/.well-known/oauth-authorization-server", HTTP_HOST=HOST).json()
    for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
        prm = client.get(path, HTTP_HOST=HOST).json()
        assert prm["resource"] == "http://127.0.0.1:8000/mcp"
        assert prm["authorization_servers"] == [asm["issuer"]]
        assert prm["scopes_supported"] == ["mcp:read", "mcp:write"] == asm["scopes_supported"]
        assert prm["bearer_methods_supported"] == ["header"]
    assert asm["issuer"] == "http://127.0.0.1:8000"
    assert asm["response_types_supported"] == ["code"]
    assert asm["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert asm["code_challenge_methods_supported"] == ["S256"]
    assert "none" in asm["token_endpoint_auth_methods_supported"]
    assert asm["client_id_metadata_document_supported"] is True
    assert asm["authorization_response_iss_parameter_supported"] is True
    for endpoint, path in (
        ("authorization_endpoint", "/oauth/authorize/"),
        ("token_endpoint", "/oauth/token/"),
        ("registration_endpoint", "/oauth/register/"),
        ("revocation_endpoint", "/oauth/revoke_token/"),
    ):
        assert asm[endpoint] == f"http://127.0.0.1:8000{path}"


def test_metadata_urls_are_https_behind_a_tls_proxy_whatever_the_request_says(client: Client, settings) -> None:
    # The issuer and endpoints come from PUBLIC_BASE_URL (OIDC_ISS_ENDPOINT), not from the request.
    from oauth2_provider.settings import oauth2_settings

    settings.PUBLIC_BASE_URL = "https://mcp.example.com"
    settings.MCP_RESOURCE_URL = "https://mcp.example.com/mcp"
    settings.ALLOWED_HOSTS = ["mcp.example.com"]
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": "https://mcp.example.com"}
    oauth2_settings.reload()
    try:
        asm = client.get("/.well-known/oauth-authorization-server", HTTP_HOST="mcp.example.com").json()
        prm = client.get("/.well-known/oauth-protected-resource/mcp", HTTP_HOST="mcp.example.com").json()
    finally:
        oauth2_settings.reload()
    assert asm["issuer"] == "https://mcp.example.com"
    assert all(
        asm[k].startswith("https://mcp.example.com/")
        for k in ("authorization_endpoint", "token_endpoint", "registration_endpoint", "revocation_endpoint")
    )
    assert prm == {**prm, "resource": "https://mcp.example.com/mcp", "authorization_servers": [asm["issuer"]]}


def test_discovery_documents_are_readable_cross_origin(client: Client) -> None:
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/oauth-protected-resource/mcp"):
        assert client.get(path, HTTP_HOST=HOST).headers["Access-Control-Allow-Origin"] == "*"


# --- make run -------------------------------------------------------------------------------------


def test_demo_info_prints_the_oauth_sign_in_and_working_keys(settings, tmp_path) -> None:
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", "--calls", "3", stdout=StringIO())  # generates the password into VAR_DIR
    password = (tmp_path / "demo_admin_password").read_text().strip()
    out = StringIO()
    call_command("demo_info", stdout=out)
    text = out.getvalue()
    assert "MCP endpoint:    http://127.0.0.1:8000/mcp" in text
    assert f"Demo login:      admin@acme.example / {password}" in text
    assert "/account/" in text
    assert "OAuth" in text
    keys = json.loads((tmp_path / "demo_keys.json").read_text())
    assert keys["org"] in text
    assert keys["user"] in text
    admin = User.objects.get(email="admin@acme.example")
    assert admin.check_password(password)
    assert admin.is_active
    assert admin.org_id is not None
