"""SECURITY-TESTS.md, "OAuth authorization server": the authorization endpoint, the consent page and
the sign-in page, in process through Django's test client.

The token endpoint, refresh and revocation are in test_oauth_tokens.py, registration and
operations (DCR, pruning, `check --deploy`) in test_oauth_registration.py, and what /mcp accepts
(over real HTTP) in test_oauth_resource.py.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from oauth2_provider.models import get_access_token_model, get_grant_model

from accounts.models import User
from oauth.models import Application
from tests.support.oauth import REDIRECT_URI, pkce_pair
from tests.support.oauth_inproc import (
    AUTHORIZE,
    HOST,
    LOGIN,
    METADATA,
    PASSWORD,
    REGISTER,
    TOKEN,
    assert_local_error_page,
    authorize_query,
    authorize_url,
    decide,
    exchange,
    issue_code,
    issuer,
    location_params,
    make_app,
    make_person,
    post_form,
    provider_setting,
    request_id_of,
    text,
    tokens_for,
    web,
)

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.support.oauth_fixtures"]  # fixtures: fast_hashers

Grant = get_grant_model()
AccessToken = get_access_token_model()

CLIENT_CB = "https://client.example/cb"


@pytest.fixture
def person(fast_hashers: None) -> User:
    return make_person()


@pytest.fixture
def app(db: None) -> Application:
    """A dynamically registered public client with one https and one loopback redirect URI."""
    return make_app(redirect_uris=f"{CLIENT_CB} {REDIRECT_URI}")[0]


def consent_page(client: Client, app: Application, **params: str | None) -> Any:
    return client.get(AUTHORIZE, authorize_query(app, pkce_pair()[1], **params))


# --- redirect URIs ---------------------------------------------------------------------------------------------------

NOT_EXACT = [
    pytest.param(f"{CLIENT_CB}/", id="trailing-slash"),
    pytest.param("https://client.example/CB", id="case-path"),
    pytest.param("https://CLIENT.example/cb", id="case-host"),
    pytest.param("HTTPS://client.example/cb", id="case-scheme"),
    pytest.param(f"{CLIENT_CB}?x=1", id="extra-query"),
    pytest.param(f"{CLIENT_CB}?", id="empty-query"),
    pytest.param(f"{CLIENT_CB}#frag", id="fragment"),
    pytest.param(f"{CLIENT_CB}#", id="empty-fragment"),
    pytest.param("https://evil@client.example/cb", id="userinfo"),
    pytest.param("https://client.example@evil.example/cb", id="userinfo-other-host"),
    pytest.param(f"{CLIENT_CB};param", id="semicolon-param"),
    pytest.param("https://client.example:8443/cb", id="other-port"),
    pytest.param("https://client.example:443/cb", id="explicit-default-port"),
    pytest.param("http://client.example/cb", id="http-non-loopback"),
    pytest.param("https://client.example.evil.example/cb", id="suffix-host"),
    pytest.param("https://client.example/x/../cb", id="dot-segments"),
    pytest.param("https://client.example/c%62", id="percent-encoded"),
    pytest.param(f" {CLIENT_CB}", id="leading-space"),
    pytest.param(f"{CLIENT_CB}\t", id="trailing-tab"),
    pytest.param(f"{CLIENT_CB}\r\nSet-Cookie: x=y", id="crlf"),
    pytest.param("http://127.0.0.1:5555/callback/", id="loopback-trailing-slash"),
    pytest.param("http://127.0.0.1:5555/Callback", id="loopback-case"),
    pytest.param("http://127.0.0.1:5555/callback?x=1", id="loopback-query"),
    pytest.param("http://localhost:33418/callback", id="loopback-other-host"),
    pytest.param("https://127.0.0.1:33418/callback", id="loopback-https"),
    pytest.param("http://127.0.0.2:33418/callback", id="loopback-other-address"),
]


@pytest.mark.parametrize("redirect_uri", NOT_EXACT)
def test_redirect_uri_must_match_exactly(person: User, app: Application, redirect_uri: str) -> None:
    """Not an exact match (beyond a loopback port) → a local error page, no redirect, no code."""
    response = consent_page(web(person), app, redirect_uri=redirect_uri)
    assert_local_error_page(response)
    assert not Grant.objects.filter(application=app).exists()


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        ("http://127.0.0.1:33418/callback", "http://127.0.0.1:5555/callback"),
        ("http://127.0.0.1:33418/callback", "http://127.0.0.1:65535/callback"),
        ("http://127.0.0.1:33418/callback", "http://127.0.0.1/callback"),
        ("http://127.0.0.1/callback", "http://127.0.0.1:49152/callback"),
        ("http://[::1]/callback", "http://[::1]:49152/callback"),
        ("http://localhost/callback", "http://localhost:49152/callback"),
    ],
)
def test_loopback_redirect_uri_accepts_any_port(person: User, registered: str, requested: str) -> None:
    """RFC 8252 §7.3: a loopback redirect URI may name any port at request time; the code comes back there."""
    app, _ = make_app(redirect_uris=registered)
    client = web(person)
    issued = issue_code(client, app, redirect_uri=requested)
    assert issued.params["state"] == [issued.state]
    response = exchange(app, issued, redirect_uri=requested)
    assert response.status_code == 200, response.content
    # The token request must name the same redirect URI as the authorization request, port included.
    other = issue_code(client, app, redirect_uri=requested)
    assert exchange(app, other, redirect_uri=registered).status_code == 400


def test_success_redirect_goes_to_the_requested_loopback_port(person: User) -> None:
    app, _ = make_app(redirect_uris="http://127.0.0.1/callback")
    client = web(person)
    page = consent_page(client, app, redirect_uri="http://127.0.0.1:40001/callback")
    answer = decide(client, request_id_of(page))
    assert answer.status_code == 302
    assert answer["Location"].startswith("http://127.0.0.1:40001/callback?code=")


def test_unknown_client_or_bad_redirect_uri_gets_a_local_page(person: User, app: Application) -> None:
    client = web(person)
    challenge = pkce_pair()[1]
    for query in (
        authorize_query(app, challenge, client_id="no-such-client"),
        authorize_query(app, challenge, client_id=None),
        authorize_query(app, challenge, client_id="no-such-client", redirect_uri="https://evil.example/cb"),
        authorize_query(app, challenge, redirect_uri="https://evil.example/cb"),
        authorize_query(app, challenge, redirect_uri="https://evil.example/cb", scope="nonsense"),
        authorize_query(app, challenge, redirect_uri="https://evil.example/cb", response_type="token"),
        authorize_query(app, challenge, redirect_uri="https://evil.example/cb", prompt="none"),
        authorize_query(app, challenge, redirect_uri="not a url"),
    ):
        assert_local_error_page(client.get(AUTHORIZE, query))
    assert not Grant.objects.filter(user=person).exists()


def test_anonymous_bad_requests_go_to_login_never_to_the_supplied_uri(app: Application) -> None:
    """No open redirect through the error path: whatever is wrong, an anonymous visitor is asked to sign in."""
    challenge = pkce_pair()[1]
    for query in (
        authorize_query(app, challenge, client_id="no-such-client", redirect_uri="https://evil.example/cb"),
        authorize_query(app, challenge, redirect_uri="https://evil.example/cb"),
        authorize_query(app, challenge, redirect_uri="https://evil.example/cb", scope="nonsense"),
        authorize_query(app, challenge, scope="nonsense evil:*"),
        authorize_query(app, challenge, response_type="token"),
    ):
        response = web().get(AUTHORIZE, query)
        assert response.status_code == 302
        location = urlsplit(response["Location"])
        assert location.netloc in ("", HOST), response["Location"]
        assert location.path == LOGIN
        assert "evil.example" not in location.netloc


INSECURE_REGISTERED = [
    pytest.param("javascript:alert(1)", id="javascript"),
    pytest.param("JavaScript:alert(1)", id="javascript-mixed-case"),
    pytest.param("data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", id="data"),
    pytest.param("DATA:text/html,x", id="data-upper-case"),
    pytest.param("file:///etc/passwd", id="file"),
    pytest.param("File:///etc/passwd", id="file-mixed-case"),
    pytest.param("HTTPS://client.example/cb", id="https-upper-case"),
    pytest.param("Http://127.0.0.1/cb", id="http-mixed-case"),
    pytest.param("http://client.example/cb", id="http-non-loopback"),
    pytest.param("https://user:pw@client.example/cb", id="userinfo"),
    pytest.param("https://client.example/cb#frag", id="fragment"),
    pytest.param("https://client.example/c\x01b", id="control-char"),
    pytest.param("https://client.example/c\x7fb", id="delete-char"),
    pytest.param("https://client.example/c\\b", id="backslash"),
]


@pytest.mark.parametrize("uri", INSECURE_REGISTERED)
def test_insecure_redirect_uri_in_database_refused_at_authorize(person: User, uri: str) -> None:
    """An application saved without clean() (an old row, a script) still cannot send anyone to such a URI,
    whether the request names it or relies on the default."""
    app, _ = make_app(redirect_uris=uri)
    client = web(person)
    assert_local_error_page(consent_page(client, app, redirect_uri=uri))
    assert_local_error_page(consent_page(client, app, redirect_uri=None))
    assert not Grant.objects.filter(user=person).exists()


# --- the sign-in page ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "http://evil.example/",
        "//evil.example/",
        "///evil.example/",
        "/\\evil.example/",
        "\\\\evil.example/",
        "https:evil.example",
        "javascript:alert(1)",
        f"http://{HOST}@evil.example/",
        " //evil.example/",
        "https://evil.example/oauth/authorize/",
    ],
)
def test_login_next_stays_on_site(person: User, next_url: str) -> None:
    client = web()
    page = client.get(LOGIN, {"next": next_url})
    assert page.status_code == 200
    response = client.post(f"{LOGIN}?{urlencode({'next': next_url})}", {"username": person.email, "password": PASSWORD})
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.scheme in ("", "http"), response["Location"]
    assert location.netloc in ("", HOST), response["Location"]
    assert not response["Location"].startswith(("//", "/\\")), response["Location"]
    assert response["Location"] == settings.LOGIN_REDIRECT_URL


def test_login_next_on_site_is_followed(person: User, app: Application) -> None:
    next_url = authorize_url(authorize_query(app, pkce_pair()[1]))
    response = web().post(f"{LOGIN}?{urlencode({'next': next_url})}", {"username": person.email, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == next_url


# --- iss in every authorization response ----------------------------------------------------------------------------


def metadata_issuer() -> str:
    response = web().get(METADATA)
    assert response.status_code == 200
    value: str = response.json()["issuer"]
    return value


def assert_client_redirect(response: Any, redirect_uri: str, state: str, **expected: str) -> dict[str, list[str]]:
    """A redirect back to the client carrying exactly one `iss`, equal to the metadata issuer, and the state."""
    assert response.status_code in (302, 303), (response.status_code, text(response)[:1000])
    assert response["Location"].startswith(redirect_uri + "?"), response["Location"]
    params = location_params(response)
    assert params.get("iss") == [metadata_issuer()], params
    assert params["iss"] == [issuer()]
    assert params.get("state") == [state], params
    for key, value in expected.items():
        assert params.get(key) == [value], params
    return params


def test_iss_on_success(person: User, app: Application) -> None:
    client = web(person)
    query = authorize_query(app, pkce_pair()[1])
    answer = decide(client, request_id_of(client.get(AUTHORIZE, query)), "allow")
    params = assert_client_redirect(answer, CLIENT_CB, query["state"])
    assert len(params["code"]) == 1


def test_iss_on_access_denied(person: User, app: Application) -> None:
    client = web(person)
    query = authorize_query(app, pkce_pair()[1])
    answer = decide(client, request_id_of(client.get(AUTHORIZE, query)), "deny")
    params = assert_client_redirect(answer, CLIENT_CB, query["state"], error="access_denied")
    assert "code" not in params
    assert not Grant.objects.filter(user=person).exists()


@pytest.mark.parametrize(
    ("params", "error"),
    [
        pytest.param({"resource": "https://other.example/mcp"}, "invalid_target", id="other-resource"),
        pytest.param({"prompt": "none"}, "consent_required", id="prompt-none"),
        pytest.param({"code_challenge": None}, "invalid_request", id="missing-challenge"),
        pytest.param({"code_challenge_method": "plain"}, "invalid_request", id="plain-method"),
        pytest.param({"code_challenge_method": None}, "invalid_request", id="no-method"),
        pytest.param({"code_challenge_method": "S512"}, "invalid_request", id="unknown-method"),
        pytest.param({"response_type": "token"}, None, id="implicit"),
        pytest.param({"response_type": "code token"}, None, id="hybrid"),
    ],
)
def test_iss_on_error_redirects(person: User, app: Application, params: dict[str, str | None], error: str) -> None:
    client = web(person)
    query = authorize_query(app, pkce_pair()[1], **params)
    response = client.get(AUTHORIZE, query)
    found = assert_client_redirect(response, CLIENT_CB, query["state"])
    assert "code" not in found
    assert "access_token" not in found
    assert not urlsplit(response["Location"]).fragment
    if error:
        assert found["error"] == [error]
    else:
        assert found["error"][0] in ("unsupported_response_type", "unauthorized_client")


def test_iss_on_login_required(app: Application) -> None:
    """prompt=none without a session: login_required, sent back to the (registered) client with iss."""
    query = authorize_query(app, pkce_pair()[1], prompt="none")
    response = web().get(AUTHORIZE, query)
    assert_client_redirect(response, CLIENT_CB, query["state"], error="login_required")


# --- implicit and password grants -------------------------------------------------------------------------------


def test_implicit_grant_refused_and_not_advertised(person: User) -> None:
    metadata = web().get(METADATA).json()
    assert metadata["response_types_supported"] == ["code"]
    assert "implicit" not in metadata["grant_types_supported"]
    # Even an application registered for the implicit grant (only possible by hand) gets no token.
    for grant in (Application.GRANT_AUTHORIZATION_CODE, Application.GRANT_IMPLICIT):
        app, _ = make_app(redirect_uris=CLIENT_CB, grant=grant, source=Application.RegistrationSource.MANUAL)
        for response_type in ("token", "id_token token", "id_token"):
            response = consent_page(web(person), app, response_type=response_type)
            assert response.status_code in (302, 400), response.status_code
            if response.status_code == 302:
                assert response["Location"].startswith(CLIENT_CB)
                assert "access_token" not in response["Location"]
                assert "error=" in response["Location"]
    assert not AccessToken.objects.filter(user=person).exists()


def test_password_grant_refused_and_not_advertised(person: User) -> None:
    metadata = web().get(METADATA).json()
    assert metadata["grant_types_supported"] == ["authorization_code", "refresh_token"]
    for grant in (Application.GRANT_AUTHORIZATION_CODE, Application.GRANT_PASSWORD):
        app, secret = make_app(grant=grant, confidential=True, source=Application.RegistrationSource.MANUAL)
        response = post_form(
            TOKEN,
            {
                "grant_type": "password",
                "username": person.email,
                "password": PASSWORD,
                "client_id": app.client_id,
                "client_secret": secret,
                "scope": "mcp:read",
            },
        )
        assert response.status_code in (400, 401), response.content
        assert response.json()["error"] in ("unauthorized_client", "unsupported_grant_type")
        assert "access_token" not in response.json()
    assert not AccessToken.objects.filter(user=person).exists()


# --- the consent page -----------------------------------------------------------------------------------------------


def csrf_field(response: Any) -> str:
    from tests.support.oauth import CSRF_RE

    match = CSRF_RE.search(text(response))
    assert match, text(response)[:2000]
    return match.group(1)


def test_consent_post_without_csrf_token_is_403(person: User, app: Application) -> None:
    client = web(person, csrf=True)
    page = consent_page(client, app)
    response = decide(client, request_id_of(page), "allow")
    assert response.status_code == 403
    assert "Location" not in response
    assert not Grant.objects.filter(user=person).exists()


def test_consent_post_with_a_foreign_csrf_token_is_403(person: User, app: Application) -> None:
    victim = web(person, csrf=True)
    page = consent_page(victim, app)
    attacker = web(make_person("mallory"), csrf=True)
    foreign = csrf_field(consent_page(attacker, app))
    response = decide(victim, request_id_of(page), "allow", csrfmiddlewaretoken=foreign)
    assert response.status_code == 403
    assert not Grant.objects.filter(user=person).exists()
    # With its own token the same form goes through (the refusal above was the CSRF check).
    response = decide(victim, request_id_of(page), "allow", csrfmiddlewaretoken=csrf_field(page))
    assert response.status_code == 302
    assert Grant.objects.filter(user=person).count() == 1


def test_consent_get_never_approves(person: User, app: Application) -> None:
    client = web(person)
    # A person who already allowed this client once...
    tokens_for(person, app)
    page = consent_page(client, app)
    request_id = request_id_of(page)
    grants = Grant.objects.filter(user=person).count()
    # ... and GETs that look like answers, or ask for silent approval, still only show the page.
    app.skip_authorization = True
    app.save(update_fields=["skip_authorization"])
    for extra in (
        {"request_id": request_id, "decision": "allow"},
        {"allow": "Authorize", "approval_prompt": "auto"},
        {"approval_prompt": "auto", "prompt": "consent"},
    ):
        response = consent_page(client, app, **extra)
        assert response.status_code == 200
        assert "Location" not in response
    response = client.get(AUTHORIZE, {"request_id": request_id, "decision": "allow"})
    assert "Location" not in response
    assert Grant.objects.filter(user=person).count() == grants


def test_consent_refuses_tampered_unknown_foreign_and_reused_request_ids(person: User, app: Application) -> None:
    client = web(person)
    request_id = request_id_of(consent_page(client, app))
    other = web(make_person("olga"))
    foreign_id = request_id_of(consent_page(other, app))
    tampered = request_id[:-1] + ("A" if request_id[-1] != "A" else "B")
    for bad in ("", "nope", tampered, request_id + "x", foreign_id, "../" + request_id, "__proto__"):
        response = decide(client, bad, "allow")
        assert_local_error_page(response)
    assert not Grant.objects.filter(user=person).exists()
    # The genuine id still works once, then never again.
    assert decide(client, request_id, "allow").status_code == 302
    assert_local_error_page(decide(client, request_id, "allow"))
    assert Grant.objects.filter(user=person).count() == 1
    # An answer that is neither Allow nor Deny is refused too.
    assert_local_error_page(decide(client, request_id_of(consent_page(client, app)), "yes"))


def test_consent_uses_only_the_stored_request(person: User, app: Application) -> None:
    """Posted fields other than request_id and decision are ignored: the stored, validated request is answered."""
    client = web(person)
    challenge = pkce_pair()[1]
    query = authorize_query(app, challenge, scope="mcp:read")
    request_id = request_id_of(client.get(AUTHORIZE, query))
    evil_challenge = pkce_pair()[1]
    response = decide(
        client,
        request_id,
        "allow",
        redirect_uri="https://evil.example/cb",
        client_id="someone-else",
        scope="mcp:read mcp:write",
        state="forged",
        code_challenge=evil_challenge,
        resource="https://evil.example/mcp",
        response_type="token",
    )
    params = assert_client_redirect(response, CLIENT_CB, query["state"])
    grant = Grant.objects.get(code=params["code"][0])
    assert grant.application == app
    assert grant.scope == "mcp:read"
    assert grant.code_challenge == challenge
    assert grant.resource == [settings.MCP_RESOURCE_URL]


def test_consent_answers_302_never_307(person: User, app: Application) -> None:
    client = web(person)
    for decision in ("allow", "deny"):
        response = decide(client, request_id_of(consent_page(client, app)), decision)
        assert response.status_code in (302, 303)


def register(body: dict[str, Any]) -> Any:
    return web().post(REGISTER, body, content_type="application/json")


def test_consent_escapes_the_client_name(person: User) -> None:
    name = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    registered = register({"client_name": name, "redirect_uris": [CLIENT_CB], "token_endpoint_auth_method": "none"})
    assert registered.status_code == 201, registered.content
    app = Application.objects.get(client_id=registered.json()["client_id"])
    page = consent_page(web(person), app)
    body = text(page)
    assert "<script>alert" not in body
    assert "<img src=x" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in body


def test_consent_says_dynamic_clients_are_not_verified(person: User) -> None:
    client = web(person)
    dcr, _ = make_app(name="Claude", source=Application.RegistrationSource.DCR)
    assert "not verified" in text(consent_page(client, dcr))
    manual, _ = make_app(name="Our own app", source=Application.RegistrationSource.MANUAL)
    assert "not verified" not in text(consent_page(client, manual))
    cimd, _ = make_app(name="Described", source=Application.RegistrationSource.CIMD)
    cimd.client_id = "https://meta.client.example/oauth/client.json"
    cimd.save(update_fields=["client_id"])
    body = text(consent_page(client, cimd))
    assert "not verified" in body
    assert "meta.client.example" in body


def test_consent_shows_redirect_host_and_each_scope_meaning(person: User, app: Application) -> None:
    descriptions: dict[str, str] = provider_setting("SCOPES")
    client = web(person)
    body = text(consent_page(client, app))
    assert "client.example" in body
    for scope, meaning in descriptions.items():
        assert scope in body
        assert meaning in body
    only_read = text(consent_page(client, app, scope="mcp:read"))
    assert descriptions["mcp:read"] in only_read
    assert descriptions["mcp:write"] not in only_read
    loopback = text(consent_page(client, app, redirect_uri=REDIRECT_URI))
    assert "127.0.0.1" in loopback
    assert "a program on this computer" in loopback


# --- page headers and assets ----------------------------------------------------------------------------------------


def strict_pages(person: User, app: Application) -> dict[str, Any]:
    client = web(person)
    return {
        "login": web().get(LOGIN),
        "consent": consent_page(client, app),
        "error": consent_page(client, app, redirect_uri="https://evil.example/cb"),
        "expired": decide(client, "nope"),
        "connected-apps": client.get("/account/connected-apps/"),
    }


# SECURITY-TESTS.md asks for `no-referrer`; the pages send `same-origin`, which equally keeps the URL
# (an authorization request's state, client and challenge) from every other site, because under
# `no-referrer` Chrome posts forms with `Origin: null` and Django's CSRF check refuses them
# (attention_mcp/web.py). Either is accepted here; anything that leaks to other origins is not.
PRIVATE_REFERRER_POLICIES = ("no-referrer", "same-origin")
META_REFERRER = re.compile(r"<meta[^>]+name=[\"']?referrer", re.IGNORECASE)


def test_login_and_consent_pages_forbid_framing_and_referrers(person: User, app: Application) -> None:
    for name, response in strict_pages(person, app).items():
        assert response["X-Frame-Options"] == "DENY", name
        csp = response["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp, name
        assert response["Referrer-Policy"] in PRIVATE_REFERRER_POLICIES, name
        # No <meta name="referrer"> that could loosen the header.
        assert not META_REFERRER.search(text(response)), name
        assert response["Cache-Control"] == "no-store", name


class _Urls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "poster", "data", "formaction") and value is not None:
                self.urls.append((tag, name, value))


def test_pages_load_no_third_party_assets(person: User, app: Application) -> None:
    for name, response in strict_pages(person, app).items():
        parser = _Urls()
        parser.feed(text(response))
        assert parser.urls, name
        for tag, attribute, url in parser.urls:
            parts = urlsplit(url.strip())
            assert not url.strip().startswith("//"), (name, tag, url)
            assert parts.scheme in ("", "http", "https"), (name, tag, url)
            assert parts.netloc in ("", HOST), (name, tag, attribute, url)
        csp = response["Content-Security-Policy"]
        for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'"):
            assert directive in csp, name
        assert "@import" not in text(response)
        assert "url(http" not in text(response)


def test_consent_form_action_allows_only_us_and_the_client(person: User, app: Application) -> None:
    csp = consent_page(web(person), app)["Content-Security-Policy"]
    directive = next(d.strip() for d in csp.split(";") if d.strip().startswith("form-action"))
    assert directive == "form-action 'self' https://client.example"


def test_login_redirect_preserves_the_authorization_request(app: Application) -> None:
    """The anonymous visitor is sent to our login with the whole request as `next` (on-site, relative)."""
    query = authorize_query(app, pkce_pair()[1])
    response = web().get(AUTHORIZE, query)
    location = urlsplit(response["Location"])
    (next_url,) = parse_qs(location.query)["next"]
    assert urlsplit(next_url).netloc == ""
    assert urlsplit(next_url).path == AUTHORIZE
    assert parse_qs(urlsplit(next_url).query) == {k: [v] for k, v in query.items()}
