"""SECURITY-TESTS.md, "OAuth authorization server": the token and revocation endpoints in process —
code replay, PKCE, codes of other clients, expiry, refresh rotation and reuse, scopes and resources,
form encoding, `Cache-Control`, unknown clients and RFC 7009 revocation.

Parallel refreshes and everything /mcp decides are in test_oauth_resource.py (real HTTP).
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from accounts.models import User
from oauth.models import Application
from tests.support.oauth import pkce_pair
from tests.support.oauth_inproc import (
    AUTHORIZE,
    FORM,
    HOST,
    REGISTER,
    REVOKE,
    TOKEN,
    Issued,
    authorize_query,
    exchange,
    issue_code,
    make_app,
    make_person,
    mcp_resource,
    oauth_error,
    post_form,
    provider_setting,
    refresh,
    request_id_of,
    revoke,
    text,
    tokens_for,
    web,
)

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.support.oauth_fixtures"]  # fixtures: fast_hashers

Grant = get_grant_model()
AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()


@pytest.fixture
def person(fast_hashers: None) -> User:
    return make_person()


@pytest.fixture
def app(db: None) -> Application:
    return make_app()[0]


def live_access_tokens(app: Application) -> int:
    return int(AccessToken.objects.filter(application=app, user__isnull=False).count())


def assert_error(response: Any, error: str, status: int = 400) -> None:
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"] == "application/json"
    assert oauth_error(response) == error, response.content
    assert "access_token" not in response.json()


def assert_usable(app: Application, pair: dict[str, Any]) -> dict[str, Any]:
    """The refresh token still works (and rotates); returns the new pair."""
    response = refresh(app, pair["refresh_token"])
    assert response.status_code == 200, response.content
    new: dict[str, Any] = response.json()
    return new


# --- code replay --------------------------------------------------------------------------------------------------


def test_code_replay_fails_and_revokes_tokens_issued_from_the_code(person: User, app: Application) -> None:
    issued = issue_code(web(person), app)
    first = exchange(app, issued)
    assert first.status_code == 200
    # The client went on refreshing: tokens issued "from the code" include the rotated ones.
    rotated = assert_usable(app, first.json())
    assert live_access_tokens(app) == 1

    replay = exchange(app, issued)
    assert_error(replay, "invalid_grant")
    assert live_access_tokens(app) == 0
    assert not RefreshToken.objects.filter(application=app, revoked__isnull=True).exists()
    assert_error(refresh(app, rotated["refresh_token"]), "invalid_grant")


def test_code_replay_with_a_wrong_verifier_does_not_revoke(person: User, app: Application) -> None:
    """Whoever saw only the code (a log, a Referer) cannot use a replay to end the client's session."""
    issued = issue_code(web(person), app)
    pair = exchange(app, issued).json()
    other_app, _ = make_app(name="Other client")
    for attempt in (
        exchange(app, issued, code_verifier=pkce_pair()[0]),
        exchange(app, issued, code_verifier=None),
        exchange(app, issued, code_verifier=issued.verifier[:-1] + ("A" if issued.verifier[-1] != "A" else "B")),
        exchange(app, issued, code_verifier="short"),
        exchange(other_app, issued),  # another client, even with the right verifier
    ):
        assert_error(attempt, "invalid_grant")
    assert live_access_tokens(app) == 1
    assert_usable(app, pair)


# --- PKCE ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"code_challenge": None}, id="missing-challenge"),
        pytest.param({"code_challenge": None, "code_challenge_method": None}, id="missing-both"),
        pytest.param({"code_challenge_method": "plain"}, id="plain"),
        pytest.param({"code_challenge_method": None}, id="no-method"),
        pytest.param({"code_challenge_method": "s256"}, id="lower-case-method"),
    ],
)
def test_pkce_challenge_required_s256_only(person: User, app: Application, params: dict[str, str | None]) -> None:
    """Refused before the person is asked: an error redirect, never the consent page, never a code."""
    client = web(person)
    response = client.get(AUTHORIZE, authorize_query(app, pkce_pair()[1], **params))
    assert response.status_code == 302
    assert "error=invalid_request" in response["Location"]
    assert "code=" not in response["Location"]
    assert not Grant.objects.filter(user=person).exists()


def test_pkce_verifier_missing_for_a_challenged_code_is_invalid_grant(person: User, app: Application) -> None:
    issued = issue_code(web(person), app)
    assert_error(exchange(app, issued, code_verifier=None), "invalid_grant")
    assert_error(exchange(app, issued, code_verifier=""), "invalid_grant")
    assert exchange(app, issued).status_code == 200  # the code was not burnt by the failures


def test_pkce_wrong_verifier_is_invalid_grant(person: User, app: Application) -> None:
    issued = issue_code(web(person), app)
    assert_error(exchange(app, issued, code_verifier=pkce_pair()[0]), "invalid_grant")
    assert live_access_tokens(app) == 0


def test_pkce_verifier_for_an_unchallenged_code_is_invalid_grant(person: User, app: Application) -> None:
    """A code without a challenge (only possible from an old row or a script) cannot be redeemed at all."""
    code = secrets.token_urlsafe(30)
    Grant.objects.create(
        application=app,
        user=person,
        code=code,
        expires=timezone.now() + timedelta(minutes=1),
        redirect_uri=app.redirect_uris,
        scope="mcp:read",
        resource=[mcp_resource()],
    )
    unchallenged = Issued(code=code, verifier=pkce_pair()[0], state="", params={})
    assert_error(exchange(app, unchallenged), "invalid_grant")
    assert exchange(app, unchallenged, code_verifier=None).status_code == 400
    assert live_access_tokens(app) == 0


@pytest.mark.parametrize(
    ("verifier", "accepted"),
    [
        pytest.param("a" * 42, False, id="42-chars"),
        pytest.param("a" * 43, True, id="43-chars"),
        pytest.param("A1-._~" * 21 + "ab", True, id="128-chars"),
        pytest.param("a" * 129, False, id="129-chars"),
        pytest.param("a" * 42 + "+", False, id="plus"),
        pytest.param("a" * 42 + "/", False, id="slash"),
        pytest.param("a" * 42 + "=", False, id="padding"),
        pytest.param("a" * 42 + " ", False, id="space"),
        pytest.param("a" * 42 + "é", False, id="non-ascii"),
    ],
)
def test_pkce_verifier_length_and_alphabet(person: User, app: Application, verifier: str, accepted: bool) -> None:
    """RFC 7636 §4.1: 43 to 128 unreserved characters, even when the challenge matches."""
    issued = issue_code(web(person), app, verifier=verifier)
    response = exchange(app, issued)
    if accepted:
        assert response.status_code == 200, response.content
    else:
        assert_error(response, "invalid_grant")
        assert live_access_tokens(app) == 0


# --- codes of other clients, expired codes ---------------------------------------------------------------------------


def test_client_b_cannot_exchange_client_a_code(person: User, app: Application, fast_hashers: None) -> None:
    issued = issue_code(web(person), app)
    public_b, _ = make_app(name="Client B")
    confidential_b, secret_b = make_app(name="Client B (confidential)", confidential=True)
    assert_error(exchange(public_b, issued), "invalid_grant")
    assert_error(exchange(confidential_b, issued, secret=secret_b), "invalid_grant")
    assert not AccessToken.objects.filter(user=person).exists()
    # A's code is still A's.
    assert exchange(app, issued).status_code == 200


def test_expired_code_refused(person: User, app: Application) -> None:
    issued = issue_code(web(person), app)
    Grant.objects.filter(code=issued.code).update(expires=timezone.now() - timedelta(seconds=1))
    assert_error(exchange(app, issued), "invalid_grant")
    assert live_access_tokens(app) == 0


def test_codes_live_briefly() -> None:
    assert provider_setting("AUTHORIZATION_CODE_EXPIRE_SECONDS") <= 60


# --- refresh --------------------------------------------------------------------------------------------------------


def test_refresh_rotates(person: User, app: Application) -> None:
    pair = tokens_for(person, app)
    new = assert_usable(app, pair)
    assert new["access_token"] != pair["access_token"]
    assert new["refresh_token"] != pair["refresh_token"]
    assert live_access_tokens(app) == 1
    assert AccessToken.objects.get(application=app).token == new["access_token"]
    old = RefreshToken.objects.get(token=pair["refresh_token"])
    assert old.revoked is not None


def test_refresh_grace_only_for_the_immediate_predecessor(person: User, app: Application) -> None:
    """Within the grace window the previous refresh token gets the already-issued pair back (a client that
    refreshed in parallel or lost the response); the one before it is a replay and revokes the family."""
    p0 = tokens_for(person, app)
    p1 = assert_usable(app, p0)
    p2 = assert_usable(app, p1)
    again = refresh(app, p1["refresh_token"])
    assert again.status_code == 200, again.content
    assert again.json()["access_token"] == p2["access_token"]
    assert again.json()["refresh_token"] == p2["refresh_token"]
    assert live_access_tokens(app) == 1

    assert_error(refresh(app, p0["refresh_token"]), "invalid_grant")
    assert live_access_tokens(app) == 0
    assert_error(refresh(app, p2["refresh_token"]), "invalid_grant")
    assert_error(refresh(app, p1["refresh_token"]), "invalid_grant")


def test_refresh_reuse_beyond_the_grace_window_revokes_the_family(person: User, app: Application) -> None:
    p0 = tokens_for(person, app)
    p1 = assert_usable(app, p0)
    grace = provider_setting("REFRESH_TOKEN_GRACE_PERIOD_SECONDS")
    RefreshToken.objects.filter(token=p0["refresh_token"]).update(revoked=timezone.now() - timedelta(seconds=grace + 1))
    assert_error(refresh(app, p0["refresh_token"]), "invalid_grant")
    assert live_access_tokens(app) == 0
    assert_error(refresh(app, p1["refresh_token"]), "invalid_grant")
    # Other sessions of the same person and client are separate families and live on.


def test_refresh_family_revocation_spares_other_sessions(person: User, app: Application) -> None:
    session_a = tokens_for(person, app)
    session_b = tokens_for(person, app)
    assert_usable(app, session_a)
    RefreshToken.objects.filter(token=session_a["refresh_token"]).update(revoked=timezone.now() - timedelta(hours=1))
    assert_error(refresh(app, session_a["refresh_token"]), "invalid_grant")
    assert_usable(app, session_b)


def test_refresh_cannot_broaden_scope(person: User, app: Application) -> None:
    pair = tokens_for(person, app, scope="mcp:read")
    assert pair["scope"] == "mcp:read"
    assert_error(refresh(app, pair["refresh_token"], scope="mcp:read mcp:write"), "invalid_scope")
    assert_error(refresh(app, pair["refresh_token"], scope="mcp:write"), "invalid_scope")
    narrowed = refresh(app, pair["refresh_token"], scope="mcp:read offline_access claudeai")
    assert narrowed.status_code == 200, narrowed.content
    assert narrowed.json()["scope"] == "mcp:read"
    plain = refresh(app, narrowed.json()["refresh_token"])
    assert plain.status_code == 200
    assert plain.json()["scope"] == "mcp:read"


@pytest.mark.parametrize(
    "resource",
    [
        "https://other.example/mcp",
        "http://127.0.0.1:8000/mcpx",
        "http://127.0.0.1:8000/",
        "http://127.0.0.1:8001/mcp",
        "not a uri",
    ],
)
def test_refresh_cannot_name_another_resource(person: User, app: Application, resource: str) -> None:
    pair = tokens_for(person, app)
    assert_error(refresh(app, pair["refresh_token"], resource=resource), "invalid_target")
    same = refresh(app, pair["refresh_token"], resource=mcp_resource())
    assert same.status_code == 200, same.content
    assert AccessToken.objects.get(token=same.json()["access_token"]).resource == [mcp_resource()]


def test_expired_refresh_token_refused(person: User, app: Application) -> None:
    pair = tokens_for(person, app)
    lifetime = provider_setting("REFRESH_TOKEN_EXPIRE_SECONDS")
    assert 0 < lifetime <= 90 * 24 * 3600  # finite
    AccessToken.objects.filter(token=pair["access_token"]).update(
        expires=timezone.now() - timedelta(seconds=lifetime + 1)
    )
    assert_error(refresh(app, pair["refresh_token"]), "invalid_grant")


def test_deactivated_person_gets_no_new_tokens(person: User, app: Application) -> None:
    pair = tokens_for(person, app)
    pending = issue_code(web(person), app)
    User.objects.filter(pk=person.pk).update(deactivated_at=timezone.now())
    assert_error(refresh(app, pair["refresh_token"]), "invalid_grant")
    assert_error(exchange(app, pending), "invalid_grant")


def test_refresh_token_issued_without_offline_access(person: User, app: Application) -> None:
    pair = tokens_for(person, app, scope="mcp:read mcp:write")
    assert pair["refresh_token"]
    assert_usable(app, pair)


# --- scopes and resource -------------------------------------------------------------------------------------------


def test_unknown_scopes_grant_the_known_subset(person: User, app: Application) -> None:
    client = web(person)
    page = client.get(AUTHORIZE, authorize_query(app, pkce_pair()[1], scope="mcp:read claudeai offline_access"))
    assert "claudeai" not in text(page)
    assert "offline_access" not in text(page)
    request_id_of(page)
    pair = tokens_for(person, app, scope="mcp:read claudeai offline_access")
    assert pair["scope"] == "mcp:read"
    assert pair["refresh_token"]
    only_unknown = tokens_for(person, app, scope="claudeai offline_access")
    assert set(only_unknown["scope"].split()) == {"mcp:read", "mcp:write"}
    no_scope = tokens_for(person, app, scope=None)
    assert set(no_scope["scope"].split()) == {"mcp:read", "mcp:write"}


def test_tokens_are_bound_to_mcp(person: User, app: Application) -> None:
    without = tokens_for(person, app, resource=None)
    assert AccessToken.objects.get(token=without["access_token"]).resource == [mcp_resource()]
    slash = tokens_for(person, app, resource=mcp_resource() + "/")
    assert AccessToken.objects.get(token=slash["access_token"]).resource == [mcp_resource()]
    issued = issue_code(web(person), app)
    assert_error(exchange(app, issued, resource="https://other.example/mcp"), "invalid_target")


# --- the token endpoint ---------------------------------------------------------------------------------------------


def exchange_data(app: Application, issued: Issued) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": issued.code,
        "redirect_uri": app.redirect_uris,
        "code_verifier": issued.verifier,
        "client_id": app.client_id,
    }


def test_token_endpoint_is_form_encoded_only(person: User, app: Application) -> None:
    issued = issue_code(web(person), app)
    data = exchange_data(app, issued)
    client = Client(HTTP_HOST=HOST)
    for response in (
        client.post(TOKEN, json.dumps(data), content_type="application/json"),
        client.post(TOKEN, data),  # multipart/form-data
        client.post(TOKEN, "&".join(f"{k}={v}" for k, v in data.items()), content_type="text/plain"),
        client.post(TOKEN, json.dumps(data), content_type=FORM.replace("x-www-form-urlencoded", "json; x=y")),
    ):
        assert_error(response, "invalid_request")
        assert response["Cache-Control"] == "no-store"
    assert client.get(TOKEN, data).status_code == 405
    assert live_access_tokens(app) == 0
    # The code was not consumed by the refused attempts; a charset parameter is fine.
    response = client.post(TOKEN, urlencode(data), content_type=f"{FORM}; charset=UTF-8")
    assert response.status_code == 200, response.content


def test_token_register_and_revoke_responses_are_no_store(person: User, app: Application, fast_hashers: None) -> None:
    issued = issue_code(web(person), app)
    client = Client(HTTP_HOST=HOST)
    responses = {
        "token 200": exchange(app, issued),
        "token 400": exchange(app, issued),
        "token 401": post_form(TOKEN, {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "nobody"}),
        "token 415-ish": client.post(TOKEN, "{}", content_type="application/json"),
        "revoke 200": revoke(app, "unknown-token"),
        "revoke 400": client.post(REVOKE, "{}", content_type="application/json"),
        "register 201": client.post(
            REGISTER,
            {"redirect_uris": ["https://client.example/cb"], "token_endpoint_auth_method": "client_secret_post"},
            content_type="application/json",
        ),
        "register 400": client.post(REGISTER, {"redirect_uris": []}, content_type="application/json"),
        "register 413": client.post(
            REGISTER, {"redirect_uris": ["https://a.example/cb"], "x": "y" * 20000}, content_type="application/json"
        ),
    }
    for name, response in responses.items():
        assert response["Cache-Control"] == "no-store", name
    assert responses["token 200"].status_code == 200
    assert responses["register 201"].status_code == 201


def test_unknown_or_deleted_client_is_401_invalid_client(person: User, app: Application, fast_hashers: None) -> None:
    issued = issue_code(web(person), app)
    data = exchange_data(app, issued)
    assert_error(post_form(TOKEN, {**data, "client_id": "no-such-client"}), "invalid_client", 401)
    assert_error(post_form(TOKEN, {**data, "client_id": ""}), "invalid_client", 401)
    pair = exchange(app, issued).json()
    # Deleted (pruned, or removed by an operator): Claude re-registers when it sees invalid_client.
    app.delete()
    assert_error(refresh(app, pair["refresh_token"]), "invalid_client", 401)
    confidential, _secret = make_app(confidential=True)
    assert_error(
        post_form(TOKEN, {"grant_type": "refresh_token", "refresh_token": "x", "client_id": confidential.client_id}),
        "invalid_client",
        401,
    )
    wrong = post_form(
        TOKEN,
        {
            "grant_type": "refresh_token",
            "refresh_token": "x",
            "client_id": confidential.client_id,
            "client_secret": "no",
        },
    )
    assert_error(wrong, "invalid_client", 401)


# --- revocation (RFC 7009) -------------------------------------------------------------------------------------------


def test_revoking_the_refresh_token_kills_its_access_token(person: User, app: Application) -> None:
    pair = tokens_for(person, app)
    response = revoke(app, pair["refresh_token"], hint="refresh_token")
    assert response.status_code == 200
    assert not AccessToken.objects.filter(token=pair["access_token"]).exists()
    assert_error(refresh(app, pair["refresh_token"]), "invalid_grant")


def test_revoking_the_access_token_kills_its_refresh_token(person: User, app: Application) -> None:
    pair = tokens_for(person, app)
    # No hint, and a wrong hint: the endpoint looks the token up under both types.
    for hint in (None, "refresh_token"):
        other = tokens_for(person, app)
        assert revoke(app, other["access_token"], hint=hint).status_code == 200
        assert not AccessToken.objects.filter(token=other["access_token"]).exists()
        assert_error(refresh(app, other["refresh_token"]), "invalid_grant")
    assert revoke(app, pair["access_token"], hint="access_token").status_code == 200
    assert_error(refresh(app, pair["refresh_token"]), "invalid_grant")


def test_revocation_by_another_client_has_no_effect(person: User, app: Application, fast_hashers: None) -> None:
    pair = tokens_for(person, app)
    public_b, _ = make_app(name="Client B")
    confidential_b, secret_b = make_app(name="Client B (confidential)", confidential=True)
    for token in (pair["access_token"], pair["refresh_token"]):
        assert revoke(public_b, token).status_code == 200
        assert revoke(confidential_b, token, secret=secret_b).status_code == 200
    assert AccessToken.objects.filter(token=pair["access_token"]).exists()
    assert_usable(app, pair)


def test_revoking_an_unknown_token_answers_200(app: Application) -> None:
    for token in ("never-issued", "", "x" * 5000):
        response = revoke(app, token)
        assert response.status_code in (200, 400)
        if token == "never-issued":
            assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"


def test_confidential_client_must_authenticate_to_revoke(person: User, fast_hashers: None) -> None:
    app, secret = make_app(confidential=True)
    pair = tokens_for(person, app, secret)
    response = post_form(REVOKE, {"token": pair["access_token"], "client_id": app.client_id})
    assert response.status_code == 401
    assert AccessToken.objects.filter(token=pair["access_token"]).exists()
    assert revoke(app, pair["access_token"], secret=secret).status_code == 200
    assert not AccessToken.objects.filter(token=pair["access_token"]).exists()
