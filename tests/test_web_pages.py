"""The web pages: sign in/out, the account home, Settings → API keys, and their security headers.

Through Django's test client, except the last test, which checks over real HTTP that a key revoked
on the page fails on /mcp at once.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from django.utils import timezone

from accounts.errors import InvalidArgument
from accounts.models import User
from accounts.permissions import Actor
from apikeys import tokens
from apikeys.models import ApiKey
from apikeys.services import apikey_create
from attention_mcp.web import (
    apply_strict_page_headers,
    content_security_policy,
    form_action_source,
    strict_page,
    strict_page_headers,
)
from tests.factories import TEST_PASSWORD, World
from tests.support.mcp import assert_invalid_token, make_org, result_of, rpc

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
LOGOUT = "/accounts/logout/"
HOME = "/account/"
KEYS = "/settings/api-keys/"
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
TOKEN_RE = re.compile(r'<textarea id="api-key-token"[^>]*>([^<]+)</textarea>')


def admin_of(world: World) -> User:
    return world.a.users["admin"]


def signed_in(user: User, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def body(response: Any) -> str:
    return str(response.content.decode())


def create_key(client: Client, **fields: str) -> Any:
    data = {"name": "CI pipeline", "scope": "org", "expiry": "720", "form_id": uuid.uuid4().hex, **fields}
    return client.post(KEYS, data)


def token_in(response: Any) -> str:
    match = TOKEN_RE.search(body(response))
    assert match, body(response)
    return match.group(1)


def assert_strict_headers(response: Any) -> None:
    assert response["Content-Security-Policy"] == CSP
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cache-Control"] == "no-store"
    assert response["X-Content-Type-Options"] == "nosniff"


class AssetAudit(HTMLParser):
    """Collects what the CSP would block or what would reach a third party."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "style":
            self.problems.append("<style> element")
        if "style" in values:
            self.problems.append(f"style attribute on <{tag}>")
        self.problems.extend(f"{name} handler on <{tag}>" for name in values if name.startswith("on"))
        if tag == "script":
            if not values.get("src"):
                self.problems.append("inline <script>")
            self._in_script = True
        for name in ("src", "href", "action"):
            url = values.get(name) or ""
            if re.match(r"^(?:[a-z]+:)?//", url, re.I) or url.lower().startswith("javascript:"):
                self.problems.append(f"{name}={url} on <{tag}>")


def assert_own_assets_only(response: Any) -> None:
    audit = AssetAudit()
    audit.feed(body(response))
    assert audit.problems == []


# --- sign in -------------------------------------------------------------------------------------------------------


def test_login_page_has_email_and_password_fields_and_csrf(client: Client) -> None:
    response = client.get(LOGIN)
    assert response.status_code == 200
    html = body(response)
    for snippet in ('type="email"', 'name="username"', 'autocomplete="username"'):
        assert snippet in html
    for snippet in ('type="password"', 'autocomplete="current-password"'):
        assert snippet in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<html lang="en">' in html
    assert_strict_headers(response)
    assert_own_assets_only(response)


def test_admin_signs_in_by_email_and_lands_on_the_account_page(client: Client, world: World) -> None:
    response = client.post(LOGIN, {"username": "Admin@ACME.example", "password": TEST_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == HOME
    page = client.get(HOME)
    assert page.status_code == 200
    assert "admin@acme.example" in body(page)
    assert page.context["user"] == admin_of(world)


def test_signing_in_rotates_the_session_key(client: Client, world: World) -> None:
    session = client.session
    session["before"] = True
    session.save()
    before = session.session_key
    client.post(LOGIN, {"username": "admin@acme.example", "password": TEST_PASSWORD})
    after = client.cookies["sessionid"].value
    assert after
    assert after != before


def test_wrong_password_deactivated_and_unknown_accounts_get_one_and_the_same_message(
    client: Client, world: World
) -> None:
    attempts = {
        "wrong password": ("rep.sales@acme.example", "not-the-password"),
        "deactivated": ("deactivated@acme.example", TEST_PASSWORD),
        "unknown": ("nobody@acme.example", TEST_PASSWORD),
    }
    pages = {}
    for case, (email, password) in attempts.items():
        response = client.post(LOGIN, {"username": email, "password": password})
        assert response.status_code == 200, case
        assert "_auth_user_id" not in client.session, case
        html = body(response)
        assert "Wrong email or password, or the account is deactivated." in html, case
        assert_strict_headers(response)
        # Apart from the echoed address and the per-response CSRF token, the pages are identical.
        pages[case] = re.sub(r'value="[^"]*"', 'value=""', html)
    assert len(set(pages.values())) == 1


def test_deactivated_user_cannot_sign_in_and_an_old_session_ends(world: World) -> None:
    user = world.a.users["deactivated"]
    client = Client()
    client.force_login(user)  # as if the session had been opened before the deactivation
    response = client.get(HOME)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "https:/evil.example",
        "http://testserver.evil.example/",
        "javascript:alert(1)",
        " https://evil.example/",
    ],
)
def test_next_off_site_lands_on_the_account_page(client: Client, world: World, next_url: str) -> None:
    response = client.post(
        f"{LOGIN}?next={quote(next_url)}", {"username": "admin@acme.example", "password": TEST_PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == HOME


def test_off_site_next_is_not_carried_in_the_form(client: Client) -> None:
    html = body(client.get(f"{LOGIN}?next=https://evil.example/"))
    assert "evil.example" not in html


def test_next_on_site_is_kept_through_the_form_and_followed(client: Client, world: World) -> None:
    html = body(client.get(f"{LOGIN}?next={KEYS}"))
    assert f'<input type="hidden" name="next" value="{KEYS}">' in html
    response = client.post(LOGIN, {"username": "admin@acme.example", "password": TEST_PASSWORD, "next": KEYS})
    assert response["Location"] == KEYS


def test_signed_in_user_opening_the_login_page_goes_on(world: World) -> None:
    client = signed_in(admin_of(world))
    assert client.get(LOGIN)["Location"] == HOME
    assert client.get(f"{LOGIN}?next={KEYS}")["Location"] == KEYS
    # `next` naming the login page itself must not loop (Django would raise).
    assert client.get(f"{LOGIN}?next={LOGIN}")["Location"] == HOME


def test_login_post_without_csrf_token_is_refused(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(LOGIN, {"username": "admin@acme.example", "password": TEST_PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_anonymous_account_page_redirects_to_login(client: Client) -> None:
    response = client.get(HOME)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={HOME}"
    assert_strict_headers(response)


def test_admin_login_page_is_still_the_admins_own(client: Client) -> None:
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


# --- sign out ------------------------------------------------------------------------------------------------------


def test_sign_out_is_post_only(world: World) -> None:
    client = signed_in(admin_of(world))
    response = client.get(LOGOUT)
    assert response.status_code == 405
    assert_strict_headers(response)
    assert client.get(HOME).status_code == 200

    response = client.post(LOGOUT)
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert client.get(HOME).status_code == 302


def test_sign_out_needs_the_csrf_token(world: World) -> None:
    client = signed_in(admin_of(world), csrf=True)
    assert client.post(LOGOUT).status_code == 403
    assert client.get(HOME).status_code == 200


def test_header_shows_the_email_and_a_sign_out_form(world: World) -> None:
    html = body(signed_in(admin_of(world)).get(HOME))
    assert "admin@acme.example" in html
    assert re.search(
        r'<form method="post" action="/accounts/logout/"[^>]*>\s*<input type="hidden" name="csrfmiddlewaretoken"', html
    )
    assert ">Sign out</button>" in html
    assert '<a href="/account/connected-apps/"' in html


# --- navigation and access -----------------------------------------------------------------------------------------


def test_nav_shows_api_keys_to_admins_only(world: World) -> None:
    assert f'href="{KEYS}"' in body(signed_in(admin_of(world)).get(HOME))
    for persona in ("manager", "rep_sales"):
        html = body(signed_in(world.a.users[persona]).get(HOME))
        assert KEYS not in html, persona
        assert "Connected apps" in html


@pytest.mark.parametrize("persona", ["manager", "rep_sales", "listener"])
def test_non_admins_get_403_on_the_api_keys_page(world: World, persona: str) -> None:
    client = signed_in(world.a.users[persona])
    response = client.get(KEYS)
    assert response.status_code == 403
    assert "Organisation admins only" in body(response)
    assert_strict_headers(response)
    before = ApiKey.objects.count()
    assert create_key(client).status_code == 403
    assert ApiKey.objects.count() == before


def test_user_without_an_organisation_gets_403_and_a_plain_account_page(db: None) -> None:
    operator = User.objects.create_user("ops@example.com", None, is_staff=True)
    client = signed_in(operator)
    assert client.get(KEYS).status_code == 403
    home = client.get(HOME)
    assert home.status_code == 200
    assert "belongs to no organisation" in body(home)


def test_anonymous_api_keys_page_redirects_to_login(client: Client) -> None:
    for method in (client.get, client.post):
        response = method(KEYS)
        assert response.status_code == 302
        assert response["Location"] == f"{LOGIN}?next={quote(KEYS)}"


def test_every_page_sends_the_strict_headers_and_uses_only_its_own_assets(world: World) -> None:
    admin = signed_in(admin_of(world))
    created = create_key(admin)
    key = ApiKey.objects.get(org=world.a.org, name="CI pipeline")
    responses = {
        "login": Client().get(LOGIN),
        "home": admin.get(HOME),
        "keys": admin.get(KEYS),
        "created": created,
        "revoke confirm": admin.get(f"{KEYS}{key.pk}/revoke/"),
        "403": signed_in(world.a.users["rep_sales"]).get(KEYS),
        "404": admin.get(f"{KEYS}{uuid.uuid4()}/revoke/"),
        "bad form": create_key(admin, name=""),
        "revoke": admin.post(f"{KEYS}{key.pk}/revoke/"),
    }
    for name, response in responses.items():
        assert_strict_headers(response)
        if response.get("Content-Type", "").startswith("text/html"):
            assert_own_assets_only(response)
        assert response.status_code < 500, name


# --- Settings → API keys: create ------------------------------------------------------------------------------------


def test_admin_creates_an_org_level_key_with_an_expiry_and_sees_the_token_once(world: World) -> None:
    client = signed_in(admin_of(world))
    response = create_key(client, name="  CI   pipeline ", scope="org", expiry="720")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = body(response)
    assert "shown only this once and cannot be shown again" in html
    assert 'data-copy-target="api-key-token"' in html
    assert "/static/js/copy.js" in html
    token = token_in(response)

    key = ApiKey.objects.get(org=world.a.org, revoked_at__isnull=True, created_by=admin_of(world))
    assert key.name == "CI pipeline"
    assert key.org_level
    assert key.token_hash == tokens.token_hash(token)
    assert key.expires_at is not None
    assert abs(key.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)

    # Never again: not on the list, not on reload.
    listing = body(client.get(KEYS))
    assert key.prefix in listing
    assert token not in listing
    assert token not in str(dict(client.session))


def test_admin_creates_a_user_level_key_without_expiry(world: World) -> None:
    admin = admin_of(world)
    response = create_key(signed_in(admin), name="My laptop", scope="user", expiry="")
    assert response.status_code == 200
    key = ApiKey.objects.get(org=world.a.org, name="My laptop")
    assert key.user == admin
    assert key.expires_at is None
    assert key.token_hash == tokens.token_hash(token_in(response))
    assert "User: admin@acme.example" in body(response)


def test_resubmitting_the_create_form_makes_no_second_key_and_shows_no_token(world: World) -> None:
    client = signed_in(admin_of(world))
    form_id = uuid.uuid4().hex
    first = create_key(client, name="Once", form_id=form_id)
    token = token_in(first)
    again = create_key(client, name="Once", form_id=form_id)
    assert again.status_code == 303
    assert again["Location"] == KEYS
    assert ApiKey.objects.filter(name="Once").count() == 1
    page = client.get(KEYS)
    assert token not in body(page)
    assert "already created and its token cannot be shown again" in body(page)


def test_the_list_form_carries_a_fresh_form_id(world: World) -> None:
    client = signed_in(admin_of(world))
    ids = {re.search(r'name="form_id" value="([^"]+)"', body(client.get(KEYS))).group(1) for _ in range(2)}  # type: ignore[union-attr]
    assert len(ids) == 2


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required."),
        ({"name": "   "}, "name", "This field is required."),
        ({"name": "x" * 101}, "name", "at most 100 characters"),
        ({"scope": "root"}, "scope", "Select a valid choice."),
        ({"expiry": "999999"}, "expiry", "Select a valid choice."),
        ({"expiry": "-1"}, "expiry", "Select a valid choice."),
    ],
)
def test_bad_input_is_a_form_error_not_a_500(world: World, fields: dict[str, str], field: str, message: str) -> None:
    response = create_key(signed_in(admin_of(world)), **fields)
    assert response.status_code == 400
    assert message in body(response)
    assert f'id="id_{field}_error"' in body(response)
    assert 'aria-invalid="true"' in body(response)
    assert not ApiKey.objects.filter(org=world.a.org).exists()


def test_a_domain_error_from_the_service_is_shown_on_its_field(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**kwargs: Any) -> None:
        raise InvalidArgument("expiry_hours", "expiry_hours must be between 1 and 87600.")

    monkeypatch.setattr("apikeys.views.apikey_create", refuse)
    response = create_key(signed_in(admin_of(world)))
    assert response.status_code == 400
    assert "expiry_hours must be between 1 and 87600." in body(response)
    assert 'id="id_expiry_error"' in body(response)


def test_creating_a_key_needs_the_csrf_token(world: World) -> None:
    client = signed_in(admin_of(world), csrf=True)
    assert create_key(client).status_code == 403
    assert not ApiKey.objects.filter(org=world.a.org).exists()


def test_the_token_is_never_logged(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    token = token_in(create_key(signed_in(admin_of(world))))
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text


# --- Settings → API keys: the list ---------------------------------------------------------------------------------


def test_the_list_shows_prefix_scope_creator_created_expires_and_last_used(
    world: World, actor_for: Any, org_key_actor: Any
) -> None:
    admin = admin_of(world)
    by_admin, _ = apikey_create(actor=actor_for(admin), name="Warehouse", org_level=True, expiry_hours=24 * 90)
    by_admin.last_used_at = timezone.now() - timedelta(hours=2)
    by_admin.save(update_fields=["last_used_at"])
    own, _ = apikey_create(actor=actor_for(admin), name="Laptop", org_level=False)
    by_command, _ = apikey_create(
        actor=Actor.org_wide(world.a.org.pk, via="operator"),
        name="Rep bot",
        org_level=False,
        user_id=world.a.users["rep_sales"].pk,
    )
    revoked, _ = apikey_create(actor=actor_for(admin), name="Old one")
    revoked.revoked_at = timezone.now()
    revoked.save(update_fields=["revoked_at"])
    other_org, _ = apikey_create(actor=org_key_actor(world.b.org), name="Mirror key")

    response = signed_in(admin).get(KEYS)
    assert response.status_code == 200
    html = body(response).replace("<wbr>", "")  # addresses may wrap after their "@"
    for header in ("Name", "Prefix", "Scope", "Created by", "Created", "Expires", "Last used"):
        assert f'<th scope="col">{header}</th>' in html
    rows = {row.key.name: row for row in response.context["rows"]}
    assert set(rows) == {"Warehouse", "Laptop", "Rep bot"}
    for key in (by_admin, own, by_command):
        assert key.display_prefix in html
    assert "Organisation" in html
    assert "User: admin@acme.example" in html
    assert "User: rep.sales@acme.example" in html
    assert "an operator" in html  # made by a command: no creator
    assert html.count("admin@acme.example</td>") >= 2  # creator column
    assert f'datetime="{by_admin.expires_at.isoformat()}"' in html  # type: ignore[union-attr]
    assert f'datetime="{by_admin.last_used_at.isoformat()}"' in html
    assert by_admin.created_at.strftime("%Y") in html
    assert revoked.prefix not in html
    assert other_org.prefix not in html
    assert f"{KEYS}{by_admin.pk}/revoke/" in html


def test_an_expired_key_is_marked(world: World, actor_for: Any) -> None:
    key, _ = apikey_create(actor=actor_for(admin_of(world)), name="Short", expiry_hours=1)
    key.expires_at = timezone.now() - timedelta(minutes=1)
    key.save(update_fields=["expires_at"])
    assert ">expired</span>" in body(signed_in(admin_of(world)).get(KEYS))


# --- Settings → API keys: revoke ------------------------------------------------------------------------------------


def test_revoke_asks_first_then_revokes_and_redirects(world: World, actor_for: Any) -> None:
    key, _ = apikey_create(actor=actor_for(admin_of(world)), name="Doomed")
    client = signed_in(admin_of(world))
    confirm = client.get(f"{KEYS}{key.pk}/revoke/")
    assert confirm.status_code == 200
    assert ">Revoke key</button>" in body(confirm)
    key.refresh_from_db()
    assert key.revoked_at is None  # a GET never revokes

    response = client.post(f"{KEYS}{key.pk}/revoke/")
    assert response.status_code == 303
    assert response["Location"] == KEYS
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    page = body(client.get(KEYS))
    assert "is revoked. It no longer works." in page
    assert f"{KEYS}{key.pk}/revoke/" not in page
    assert "already revoked" in body(client.get(f"{KEYS}{key.pk}/revoke/"))


def test_revoke_needs_the_csrf_token(world: World, actor_for: Any) -> None:
    key, _ = apikey_create(actor=actor_for(admin_of(world)), name="Kept")
    response = signed_in(admin_of(world), csrf=True).post(f"{KEYS}{key.pk}/revoke/")
    assert response.status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None


def test_another_organisations_key_is_not_found(world: World, org_key_actor: Any) -> None:
    key, _ = apikey_create(actor=org_key_actor(world.b.org), name="Theirs")
    client = signed_in(admin_of(world))
    for response in (client.get(f"{KEYS}{key.pk}/revoke/"), client.post(f"{KEYS}{key.pk}/revoke/")):
        assert response.status_code == 404
        assert_strict_headers(response)
    for bad in ("not-a-uuid", "%00", "1"):
        assert client.post(f"{KEYS}{bad}/revoke/").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_non_admin_cannot_revoke(world: World, actor_for: Any) -> None:
    key, _ = apikey_create(actor=actor_for(admin_of(world)), name="Safe")
    response = signed_in(world.a.users["manager"]).post(f"{KEYS}{key.pk}/revoke/")
    assert response.status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None


# --- the decorator ---------------------------------------------------------------------------------------------------


def test_strict_page_headers_allows_extra_form_action_sources(rf: Any) -> None:
    from django.http import HttpResponse

    @strict_page_headers(form_action=("'self'", "https://client.example", "http://127.0.0.1:33418"))
    def consent(request: Any) -> HttpResponse:
        return HttpResponse("ok")

    response = consent(rf.get("/"))
    assert "form-action 'self' https://client.example http://127.0.0.1:33418;" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


def test_a_view_may_set_its_own_per_request_policy(rf: Any) -> None:
    from django.http import HttpResponse

    @strict_page
    def consent(request: Any) -> HttpResponse:
        response = HttpResponse("ok")
        apply_strict_page_headers(response, form_action=("'self'", form_action_source("http://127.0.0.1:5555/cb?x=1")))
        return response

    response = consent(rf.get("/"))
    assert "form-action 'self' http://127.0.0.1:5555;" in response["Content-Security-Policy"]
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("url", "source"),
    [
        ("https://Client.Example/cb", "https://client.example"),
        ("http://localhost:8080/callback", "http://localhost:8080"),
        ("http://[::1]:9000/cb", "http://[::1]:9000"),
        ("com.example.app:/oauth", "com.example.app:"),
    ],
)
def test_form_action_source_of_a_redirect_uri(url: str, source: str) -> None:
    assert form_action_source(url) == source


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,x", "https:///nohost", "https://a b/", "https://x;y/", "/relative"]
)
def test_form_action_source_refuses_what_it_cannot_express_safely(url: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        form_action_source(url)


@pytest.mark.parametrize(
    "source", ["https://x; script-src *", "*", "'unsafe-inline'", "https://x\r\nSet-Cookie: a=b", ""]
)
def test_content_security_policy_refuses_injected_sources(source: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        content_security_policy(form_action=("'self'", source))


# --- over HTTP: a key revoked on the page fails on /mcp at once ------------------------------------------------------


@pytest.mark.live
def test_key_created_on_the_page_works_on_mcp_until_revoked_on_the_page(
    live_mcp_url: str, live_server_url: str
) -> None:
    org = make_org()  # committed: this test uses transactional_db (through live_mcp_url)
    client = signed_in(org.admin)
    token = token_in(create_key(client, name="Live key"))
    assert "tools" in result_of(rpc(live_mcp_url, token, "tools/list"))

    key = ApiKey.objects.get(org=org.org, name="Live key")
    assert client.post(f"{KEYS}{key.pk}/revoke/").status_code == 303
    assert_invalid_token(rpc(live_mcp_url, token, "tools/list"), live_server_url)
