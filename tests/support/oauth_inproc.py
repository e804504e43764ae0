"""In-process OAuth helpers for Django's test client: people and applications made directly in the
database, the authorization request and the consent decision, and the token and revocation endpoints
(form-encoded, as the endpoints demand).

The public base URL is the settings default (http://127.0.0.1:8000), so requests carry that Host;
the issuer and the canonical /mcp URL are read from settings at call time.

Fixtures (fast_hashers) are in tests/support/oauth_fixtures.py: pytest_plugins = ["tests.support.oauth_fixtures"].
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from django.conf import settings
from django.test import Client

from accounts.models import User
from accounts.services import organization_create
from oauth.models import Application
from tests.support.oauth import REDIRECT_URI, forms_of, pkce_pair

HOST = "127.0.0.1:8000"
PASSWORD = "correct horse battery staple"
AUTHORIZE = "/oauth/authorize/"
TOKEN = "/oauth/token/"
REVOKE = "/oauth/revoke_token/"
REGISTER = "/oauth/register/"
FORM = "application/x-www-form-urlencoded"
LOGIN = "/accounts/login/"
METADATA = "/.well-known/oauth-authorization-server"


def issuer() -> str:
    return str(settings.PUBLIC_BASE_URL)


def mcp_resource() -> str:
    return str(settings.MCP_RESOURCE_URL)


def make_person(local: str = "pat") -> User:
    """A person in an organisation of their own, with PASSWORD (hashed with whatever hasher is first)."""
    suffix = uuid.uuid4().hex[:8]
    domain = f"oauth-{suffix}.example"
    org = organization_create(name=f"OAuth {suffix}", slug=f"oauth-{suffix}", email_domains=[domain])
    user = User.objects.create_user(f"{local}@{domain}", PASSWORD, org=org, first_name=local.title())
    return user


def web(user: User | None = None, *, csrf: bool = False) -> Client:
    """A browser: the public Host, cookies kept, optionally signed in and CSRF-enforcing."""
    client = Client(HTTP_HOST=HOST, enforce_csrf_checks=csrf)
    if user is not None:
        client.force_login(user)
    return client


def make_app(
    *,
    redirect_uris: str = REDIRECT_URI,
    name: str = "Test client",
    source: str = Application.RegistrationSource.DCR,
    confidential: bool = False,
    grant: str = Application.GRANT_AUTHORIZATION_CODE,
) -> tuple[Application, str]:
    """An application saved directly (Application.clean() is NOT run). Returns it and its raw secret."""
    secret = secrets.token_urlsafe(32) if confidential else ""
    app = Application.objects.create(
        name=name,
        redirect_uris=redirect_uris,
        client_type=Application.CLIENT_CONFIDENTIAL if confidential else Application.CLIENT_PUBLIC,
        authorization_grant_type=grant,
        client_secret=secret,
        hash_client_secret=confidential,
        registration_source=source,
    )
    return app, secret


def authorize_query(app: Application, challenge: str | None, **params: str | None) -> dict[str, str]:
    """The query of an authorization request; a None value drops that parameter."""
    query: dict[str, str | None] = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": app.redirect_uris.split()[0] if app.redirect_uris else REDIRECT_URI,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": secrets.token_urlsafe(12),
        "resource": mcp_resource(),
        "scope": "mcp:read mcp:write",
    }
    query.update(params)
    return {k: v for k, v in query.items() if v is not None}


def authorize_url(query: dict[str, str]) -> str:
    return f"{AUTHORIZE}?{urlencode(query)}"


def request_id_of(response: Any) -> str:
    assert response.status_code == 200, (response.status_code, response.get("Location"), text(response)[:2000])
    form = next(f for f in forms_of(text(response)) if "request_id" in f["fields"])
    return str(form["fields"]["request_id"])


def decide(client: Client, request_id: str, decision: str = "allow", **extra: str) -> Any:
    return client.post(AUTHORIZE, {"request_id": request_id, "decision": decision, **extra})


def text(response: Any) -> str:
    return str(response.content.decode(errors="replace"))


def location_params(response: Any) -> dict[str, list[str]]:
    """The query parameters of a redirect back to the client (every value, to count repeats)."""
    return parse_qs(urlsplit(response["Location"]).query, keep_blank_values=True)


def assert_local_error_page(response: Any, status: int = 400) -> None:
    """Refused on our own page: no redirect anywhere, the strict headers, the reassurance."""
    assert response.status_code == status, (response.status_code, response.get("Location"))
    assert "Location" not in response
    assert "You have not been sent to any other site." in text(response)
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


@dataclass
class Issued:
    code: str
    verifier: str
    state: str
    params: dict[str, list[str]]


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def issue_code(client: Client, app: Application, *, verifier: str | None = None, **params: str | None) -> Issued:
    """Authorization request → consent → Allow; the code of the redirect back."""
    if verifier is None:
        verifier, challenge = pkce_pair()
    else:
        challenge = challenge_of(verifier)
    query = authorize_query(app, challenge, **params)
    page = client.get(AUTHORIZE, query)
    answer = decide(client, request_id_of(page), "allow")
    assert answer.status_code == 302, (answer.status_code, text(answer)[:2000])
    found = location_params(answer)
    assert "code" in found, answer["Location"]
    return Issued(code=found["code"][0], verifier=verifier, state=query["state"], params=found)


def post_form(path: str, data: dict[str, str], **headers: str) -> Any:
    """A form-encoded POST from a client without cookies (a server-side OAuth client)."""
    return Client(HTTP_HOST=HOST).post(path, urlencode(data), content_type=FORM, headers=headers)


def client_auth(app: Application, secret: str) -> dict[str, str]:
    return {"client_id": app.client_id, **({"client_secret": secret} if secret else {})}


def exchange(app: Application, issued: Issued, secret: str = "", **extra: str | None) -> Any:
    """The code exchange; `extra` overrides fields (None drops one)."""
    data: dict[str, str | None] = {
        "grant_type": "authorization_code",
        "code": issued.code,
        "redirect_uri": app.redirect_uris.split()[0],
        "code_verifier": issued.verifier,
        "resource": mcp_resource(),
        **client_auth(app, secret),
    }
    data.update(extra)
    return post_form(TOKEN, {k: v for k, v in data.items() if v is not None})


def provider_setting(name: str) -> Any:
    """One value of settings.OAUTH2_PROVIDER."""
    return settings.OAUTH2_PROVIDER[name]


def refresh(app: Application, refresh_token: str, secret: str = "", **extra: str) -> Any:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **client_auth(app, secret), **extra}
    return post_form(TOKEN, data)


def revoke(app: Application, token: str, secret: str = "", hint: str | None = None) -> Any:
    data = {"token": token, **client_auth(app, secret)}
    if hint:
        data["token_type_hint"] = hint
    return post_form(REVOKE, data)


def tokens_for(user: User, app: Application, secret: str = "", **params: str | None) -> dict[str, Any]:
    """A person's consent and the code exchange: the token response."""
    issued = issue_code(web(user), app, **params)
    response = exchange(app, issued, secret)
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def oauth_error(response: Any) -> str:
    return str(response.json()["error"])
