"""Bearer authentication on /mcp and the API-key JWT lines of SECURITY-TESTS.md.

Over HTTP against a live Daphne (the exact 401 bodies and challenges of the seed document), and
directly through `apikeys.tokens.verify` / `mcpgateway.auth` where a case needs a hand-made token.
Every forged token below gets an `ApiKey` row with its own jti and hash, so a rejection can only
come from the check under test, never from "unknown key"; the untouched template is accepted.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.apps import apps
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from accounts.models import Role, User
from accounts.services import user_deactivate, user_reactivate, user_role_remove, user_role_set
from apikeys import authentication, tokens
from apikeys.authentication import authenticate_api_key
from apikeys.keyring import keyring
from apikeys.models import ApiKey
from mcpgateway import auth
from tests.support.live import free_port, server_log, start_daphne, stop_daphne
from tests.support.mcp import (
    INVALID_BODY,
    McpOrg,
    assert_invalid_token,
    assert_unauthorized,
    b64json,
    b64url,
    client,
    committed,
    make_org,
    our_header,
    post,
    register_token,
    request,
    sign_raw,
    tool_error,
    tool_ok,
)

pytest_plugins = ["tests.support.mcp_fixtures"]  # fixtures: mcp_url, shared_org, fresh_org
pytestmark = pytest.mark.django_db

PING = request("ping")
FAST = 1.0  # seconds: a refused token must never be slow


def timed_post(url: str, token: str | None, headers: dict[str, str] | None = None) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    response = post(url, token, PING, headers)
    return response, time.monotonic() - start


# --- the 401 answers of the seed ----------------------------------------------------------------------------------


def test_no_authorization_header_is_unauthorized(live_server_url: str, mcp_url: str) -> None:
    response = post(mcp_url, None, PING)
    assert_unauthorized(response, live_server_url)
    assert "error=" not in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    "value",
    ["Basic dXNlcjpwYXNz", "Bearer", "Token abc", "Bearerabc", "Bearer a b", "Bearer a, Bearer b", "Digest x", ""],
)
def test_unusable_authorization_header_is_unauthorized(live_server_url: str, mcp_url: str, value: str) -> None:
    assert_unauthorized(post(mcp_url, None, PING, {"Authorization": value}), live_server_url)


def test_token_in_the_query_string_is_ignored(live_server_url: str, mcp_url: str, shared_org: McpOrg) -> None:
    for param in ("access_token", "token", "api_key"):
        response = client().post(
            f"{mcp_url}?{param}={shared_org.org_key}",
            content=json.dumps(PING),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        assert_unauthorized(response, live_server_url)


def test_bearer_scheme_is_case_insensitive(mcp_url: str, shared_org: McpOrg) -> None:
    response = post(mcp_url, None, PING, {"Authorization": f"bearer {shared_org.org_key}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "token",
    ["garbage", "abc.def.ghi", "a" * 64, "ya29.a0AfH6SMBx-oauth-shaped-opaque-token_123", "eyJhbGciOiJIUzI1NiJ9"],
)
def test_unknown_token_is_invalid_token(live_server_url: str, mcp_url: str, token: str) -> None:
    response, elapsed = timed_post(mcp_url, token)
    assert_invalid_token(response, live_server_url)
    assert elapsed < FAST


def test_protected_resource_documents_name_this_server(live_server_url: str, mcp_url: str) -> None:
    for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
        response = client().get(live_server_url + path)
        assert response.status_code == 200, path
        doc = response.json()
        assert doc["resource"] == mcp_url
        assert doc["authorization_servers"] == [live_server_url]
        assert doc["scopes_supported"] == ["mcp:read", "mcp:write"]
        assert doc["bearer_methods_supported"] == ["header"]


# --- expiry ----------------------------------------------------------------------------------------------------------


def test_expired_key_is_invalid_token_expired(live_server_url: str, mcp_url: str, shared_org: McpOrg) -> None:
    past = timezone.now() - timedelta(hours=2)
    token, _jti = tokens.mint(org_id=str(shared_org.org.pk), user_id=None, expires_at=int(past.timestamp()))
    committed(register_token, token, org=shared_org.org, expires_at=past)
    response, elapsed = timed_post(mcp_url, token)
    assert_invalid_token(response, live_server_url, expired=True)
    assert elapsed < FAST
    with pytest.raises(tokens.TokenExpired):
        tokens.verify(token)


def test_key_whose_row_expired_is_refused_even_if_the_jwt_has_not(
    live_server_url: str, mcp_url: str, shared_org: McpOrg
) -> None:
    row, token = committed(shared_org.new_org_key, expiry_hours=1)
    assert post(mcp_url, token, PING).status_code == 200
    committed(lambda: ApiKey.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(minutes=5)))
    assert_invalid_token(post(mcp_url, token, PING), live_server_url, expired=True)


def test_key_with_expiry_works_until_then(mcp_url: str, shared_org: McpOrg) -> None:
    row, token = committed(shared_org.new_org_key, expiry_hours=1)
    assert row.expires_at is not None
    assert tokens.verify(token).expires_at == int(row.expires_at.timestamp())
    assert post(mcp_url, token, PING).status_code == 200


def test_key_without_expiry_has_no_exp_and_works(mcp_url: str, shared_org: McpOrg) -> None:
    row = shared_org.keys["org"]
    assert row.expires_at is None
    payload = json.loads(tokens._b64url_decode(shared_org.org_key.split(".")[1]))
    assert "exp" not in payload
    assert tokens.verify(shared_org.org_key).expires_at is None
    assert post(mcp_url, shared_org.org_key, PING).status_code == 200


# --- forged tokens --------------------------------------------------------------------------------------------------

ATTACKER = Ed25519PrivateKey.generate()


def _public_pem() -> bytes:
    return (
        keyring()
        .signing_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _public_raw() -> bytes:
    return keyring().signing_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    return f"{signing_input}.{b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def _attacker_jwk() -> dict[str, str]:
    raw = ATTACKER.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}


def _with(claims: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = {**claims, **changes}
    return {k: v for k, v in out.items() if v is not None}


def _tamper_signature(token: str) -> str:
    head, payload, sig = token.split(".")
    raw = bytearray(tokens._b64url_decode(sig))
    raw[0] ^= 1
    return f"{head}.{payload}.{b64url(bytes(raw))}"


def _tamper_payload(claims: dict[str, Any]) -> str:
    genuine = sign_raw(our_header(), claims)
    head, _payload, sig = genuine.split(".")
    return f"{head}.{b64json(_with(claims, org=str(uuid.uuid4())))}.{sig}"


@dataclass(frozen=True)
class Attack:
    build: Callable[[dict[str, Any], McpOrg], str]
    stage: str = "verify"  # where it must fail: "verify" (signature, header, claims) or "db" (the key row)
    row_user: str | None = None  # "rep" / "admin": the row is a user-level key of that user
    row_expires: bool = False


def _base(o: McpOrg) -> dict[str, Any]:
    return {
        tokens.API_VERSION_CLAIM: tokens.API_VERSION,
        "iss": settings.PUBLIC_BASE_URL,
        "aud": settings.MCP_RESOURCE_URL,
        "sub": f"org:{o.org.pk}",
        "org": str(o.org.pk),
        "jti": f"forged-{uuid.uuid4().hex}",
        "iat": int(time.time()),
    }


_NOW = int(time.time())
ATTACKS: dict[str, Attack] = {
    # algorithm confusion
    "alg-none": Attack(lambda c, o: f"{b64json(our_header(alg='none'))}.{b64json(c)}."),
    "alg-none-no-kid": Attack(lambda c, o: f"{b64json({'alg': 'none', 'typ': tokens.TOKEN_TYPE})}.{b64json(c)}."),
    "hs256-public-key-pem": Attack(lambda c, o: _hs256(our_header(alg="HS256"), c, _public_pem())),
    "hs256-public-key-raw": Attack(lambda c, o: _hs256(our_header(alg="HS256"), c, _public_raw())),
    "eddsa-signed-alg-hs256": Attack(lambda c, o: sign_raw(our_header(alg="HS256"), c)),
    "eddsa-signed-alg-es256": Attack(lambda c, o: sign_raw(our_header(alg="ES256"), c)),
    "eddsa-signed-alg-ed25519": Attack(lambda c, o: sign_raw(our_header(alg="Ed25519"), c)),
    "eddsa-signed-alg-lowercase": Attack(lambda c, o: sign_raw(our_header(alg="eddsa"), c)),
    "eddsa-signed-alg-missing": Attack(
        lambda c, o: sign_raw({"typ": tokens.TOKEN_TYPE, "kid": keyring().signing_kid}, c)
    ),
    # kid
    "kid-path-traversal": Attack(lambda c, o: sign_raw(our_header(kid="../../dev/null"), c)),
    "kid-sql": Attack(lambda c, o: sign_raw(our_header(kid="' OR 1=1 --"), c)),
    "kid-url": Attack(lambda c, o: sign_raw(our_header(kid="http://127.0.0.1:1/key"), c)),
    "kid-missing": Attack(lambda c, o: sign_raw(our_header(kid=None), c)),
    "kid-empty": Attack(lambda c, o: sign_raw(our_header(kid=""), c)),
    "kid-number": Attack(lambda c, o: sign_raw(our_header(kid=1), c)),
    "kid-list": Attack(lambda c, o: sign_raw(our_header(kid=[keyring().signing_kid]), c)),
    # keys offered by the token itself
    "jku-attacker-key": Attack(lambda c, o: sign_raw(our_header(jku="http://127.0.0.1:1/jwks.json"), c, ATTACKER)),
    "x5u-attacker-key": Attack(lambda c, o: sign_raw(our_header(x5u="http://127.0.0.1:1/cert.pem"), c, ATTACKER)),
    "jwk-embedded-attacker-key": Attack(lambda c, o: sign_raw(our_header(jwk=_attacker_jwk()), c, ATTACKER)),
    "jwk-embedded-no-kid": Attack(lambda c, o: sign_raw(our_header(kid=None, jwk=_attacker_jwk()), c, ATTACKER)),
    "attacker-key-our-kid": Attack(lambda c, o: sign_raw(our_header(), c, ATTACKER)),
    # crit
    "crit-unknown": Attack(lambda c, o: sign_raw(our_header(crit=["exp"], exp=1), c)),
    "crit-b64": Attack(lambda c, o: sign_raw(our_header(crit=["b64"], b64=True), c)),
    "crit-not-a-list": Attack(lambda c, o: sign_raw(our_header(crit="b64"), c)),
    "crit-unhashable": Attack(lambda c, o: sign_raw(our_header(crit=[{"a": 1}]), c)),
    # typ (an OAuth access token is not a key)
    "typ-jwt": Attack(lambda c, o: sign_raw(our_header(typ="JWT"), c)),
    "typ-oauth-access-token": Attack(lambda c, o: sign_raw(our_header(typ="at+jwt"), c)),
    "typ-missing": Attack(lambda c, o: sign_raw(our_header(typ=None), c)),
    # issuer
    "iss-trailing-slash": Attack(lambda c, o: sign_raw(our_header(), _with(c, iss=settings.PUBLIC_BASE_URL + "/"))),
    "iss-lookalike-host": Attack(lambda c, o: sign_raw(our_header(), _with(c, iss="http://127.0.0.1.evil"))),
    "iss-prefix": Attack(lambda c, o: sign_raw(our_header(), _with(c, iss=settings.PUBLIC_BASE_URL + ".evil"))),
    "iss-https": Attack(
        lambda c, o: sign_raw(our_header(), _with(c, iss=settings.PUBLIC_BASE_URL.replace("http:", "https:")))
    ),
    "iss-upper-case": Attack(lambda c, o: sign_raw(our_header(), _with(c, iss=settings.PUBLIC_BASE_URL.upper()))),
    "iss-list": Attack(lambda c, o: sign_raw(our_header(), _with(c, iss=[settings.PUBLIC_BASE_URL]))),
    "iss-missing": Attack(lambda c, o: sign_raw(our_header(), _with(c, iss=None))),
    # audience
    "aud-base-url": Attack(lambda c, o: sign_raw(our_header(), _with(c, aud=settings.PUBLIC_BASE_URL))),
    "aud-trailing-slash": Attack(lambda c, o: sign_raw(our_header(), _with(c, aud=settings.MCP_RESOURCE_URL + "/"))),
    "aud-other-server": Attack(lambda c, o: sign_raw(our_header(), _with(c, aud="https://other.example/mcp"))),
    "aud-missing": Attack(lambda c, o: sign_raw(our_header(), _with(c, aud=None))),
    # time
    "iat-future": Attack(lambda c, o: sign_raw(our_header(), _with(c, iat=int(time.time()) + 3600))),
    "iat-missing": Attack(lambda c, o: sign_raw(our_header(), _with(c, iat=None))),
    "iat-not-a-number": Attack(lambda c, o: sign_raw(our_header(), _with(c, iat="now"))),
    "iat-float": Attack(lambda c, o: sign_raw(our_header(), _with(c, iat=time.time()))),
    "nbf-future": Attack(lambda c, o: sign_raw(our_header(), _with(c, nbf=int(time.time()) + 3600))),
    # claims
    "api-version-apiv1": Attack(lambda c, o: sign_raw(our_header(), _with(c, **{tokens.API_VERSION_CLAIM: "apiv1"}))),
    "jti-missing": Attack(lambda c, o: sign_raw(our_header(), _with(c, jti=None))),
    "jti-number": Attack(lambda c, o: sign_raw(our_header(), _with(c, jti=12345))),
    "sub-garbage": Attack(lambda c, o: sign_raw(our_header(), _with(c, sub="admin"))),
    "sub-missing": Attack(lambda c, o: sign_raw(our_header(), _with(c, sub=None))),
    "org-missing": Attack(lambda c, o: sign_raw(our_header(), _with(c, org=None))),
    "sub-org-mismatch": Attack(lambda c, o: sign_raw(our_header(), _with(c, sub=f"org:{uuid.uuid4()}"))),
    # tampering
    "signature-tampered": Attack(lambda c, o: _tamper_signature(sign_raw(our_header(), c))),
    "signature-stripped": Attack(lambda c, o: sign_raw(our_header(), c).rsplit(".", 1)[0] + "."),
    "payload-tampered": Attack(lambda c, o: _tamper_payload(c)),
    # valid signature and claims, but they do not match the key row
    "other-org-claimed": Attack(
        lambda c, o: sign_raw(our_header(), _with(c, org=(other := str(uuid.uuid4())), sub=f"org:{other}")), "db"
    ),
    "user-claimed-on-org-key": Attack(lambda c, o: sign_raw(our_header(), _with(c, sub=f"user:{o.rep.pk}")), "db"),
    "org-claimed-on-user-key": Attack(lambda c, o: sign_raw(our_header(), c), "db", row_user="rep"),
    "other-user-claimed": Attack(
        lambda c, o: sign_raw(our_header(), _with(c, sub=f"user:{o.admin.pk}")), "db", row_user="rep"
    ),
    "no-exp-but-row-expires": Attack(lambda c, o: sign_raw(our_header(), c), "db", row_expires=True),
}


def _forge(name: str, o: McpOrg) -> tuple[str, Attack]:
    attack = ATTACKS[name]
    return attack.build(_base(o), o), attack


def _store(token: str, attack: Attack, o: McpOrg) -> None:
    """A row with this token's own jti and hash (when it has a usable jti), as if we had issued it."""
    segment = token.split(".")[1]
    try:
        jti = json.loads(tokens._b64url_decode(segment)).get("jti")
    except ValueError:
        return
    if not isinstance(jti, str):
        return
    user = getattr(o, attack.row_user) if attack.row_user else None
    expires = timezone.now() + timedelta(hours=1) if attack.row_expires else None
    committed(register_token, token, org=o.org, user=user, expires_at=expires)


def test_the_forging_harness_builds_acceptable_tokens(mcp_url: str, shared_org: McpOrg) -> None:
    """The control: the untouched template, signed by our key and stored, is accepted."""
    token = sign_raw(our_header(), _base(shared_org))
    _store(token, Attack(lambda c, o: token), shared_org)
    assert tokens.verify(token).org_id == str(shared_org.org.pk)
    assert post(mcp_url, token, PING).status_code == 200


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_forged_token_is_refused_over_http(live_server_url: str, mcp_url: str, shared_org: McpOrg, name: str) -> None:
    token, attack = _forge(name, shared_org)
    _store(token, attack, shared_org)
    response, elapsed = timed_post(mcp_url, token)
    assert_invalid_token(response, live_server_url)
    assert elapsed < FAST


@pytest.mark.parametrize("name", sorted(n for n, a in ATTACKS.items() if a.stage == "verify"))
def test_forged_token_fails_verification(
    mcp_url: str,
    shared_org: McpOrg,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    django_assert_num_queries: Any,
) -> None:
    token, _attack = _forge(name, shared_org)
    keyring()  # loaded (and cached) before the file system is closed off

    def no_files(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"verification opened a file: {args!r}")

    monkeypatch.setattr(builtins, "open", no_files)
    monkeypatch.setattr(os, "open", no_files)
    # Signature, header and claims are checked with no file and no database access (kid is only a dict key).
    with django_assert_num_queries(0):
        with pytest.raises(tokens.TokenInvalid):
            tokens.verify(token)
        # A token that claims to be an API key and fails is final: never handed on as an OAuth token.
        if tokens.peek_is_api_key(token):
            with pytest.raises(auth.AuthFailure) as failure:
                auth.precheck({"authorization": f"Bearer {token}"})
            assert failure.value.kind == "invalid"


@pytest.mark.parametrize("name", sorted(n for n, a in ATTACKS.items() if a.stage == "db"))
def test_forged_claims_that_disagree_with_the_key_row_fail_the_database_check(
    mcp_url: str, shared_org: McpOrg, name: str
) -> None:
    token, attack = _forge(name, shared_org)
    _store(token, attack, shared_org)
    claims = tokens.verify(token)  # the signature and claims are fine ...
    with pytest.raises(tokens.TokenInvalid):  # ... but they do not match what we issued
        authenticate_api_key(token, claims)


def test_api_version_is_rechecked_on_the_verified_claims(mcp_url: str, shared_org: McpOrg) -> None:
    for value in (None, "apiv1", "APIV2", ["apiv2"]):
        claims = _with(_base(shared_org), **{tokens.API_VERSION_CLAIM: value})
        token = sign_raw(our_header(), claims)
        assert not tokens.peek_is_api_key(token)
        with pytest.raises(tokens.TokenInvalid):
            tokens.verify(token)


def test_peek_routes_without_verifying_and_precheck_is_final_for_api_keys(mcp_url: str, shared_org: McpOrg) -> None:
    bad = _tamper_signature(shared_org.org_key)
    assert tokens.peek_is_api_key(bad)
    with pytest.raises(auth.AuthFailure) as failure:
        auth.precheck({"authorization": f"Bearer {bad}"})
    assert failure.value.kind == "invalid"
    # Not an API key: routed to the OAuth lookup (which refuses everything until OAuth exists).
    opaque = auth.precheck({"authorization": "Bearer some-opaque-oauth-token"})
    assert opaque.api_key is None
    with pytest.raises(auth.AuthFailure):
        auth.resolve_actor(opaque)


# --- malformed tokens ----------------------------------------------------------------------------------------------

MALFORMED = {
    "two-segments": "eyJhbGciOiJFZERTQSJ9." + b64json({"api-version": "apiv2"}),
    "four-segments": "a." + b64json({"api-version": "apiv2"}) + ".c.d",
    "payload-not-base64": "eyJhbGciOiJFZERTQSJ9.@@@!!!.sig",
    "payload-not-json": "eyJhbGciOiJFZERTQSJ9." + b64url(b"not json") + ".sig",
    "payload-json-list": "eyJhbGciOiJFZERTQSJ9." + b64json(["api-version", "apiv2"]) + ".sig",
    "payload-deeply-nested": "x." + b64url(b"[" * 1400) + ".y",
    "header-not-base64": "@@@." + b64json({"api-version": "apiv2"}) + ".sig",
    "header-not-json": b64url(b"{{{") + "." + b64json({"api-version": "apiv2"}) + ".sig",
    "header-json-list": b64json([1]) + "." + b64json({"api-version": "apiv2"}) + ".sig",
    "only-dots": "..",
    "over-length-apiv2": b64json(our_header()) + "." + b64json({"api-version": "apiv2", "pad": "x" * 3000}) + ".sig",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_token_is_a_fast_401(live_server_url: str, mcp_url: str, name: str) -> None:
    token = MALFORMED[name]
    response, elapsed = timed_post(mcp_url, token)
    assert_invalid_token(response, live_server_url)
    assert elapsed < FAST
    with pytest.raises(tokens.TokenInvalid):
        tokens.verify(token)


def test_non_ascii_bytes_in_the_token_are_a_401(live_server_url: str, mcp_url: str) -> None:
    raw = b"Bearer \xe9." + b64json({"api-version": "apiv2"}).encode() + b".\xfc\xff"
    response = client().post(
        mcp_url, content=json.dumps(PING), headers={b"Content-Type": b"application/json", b"Authorization": raw}
    )
    assert_invalid_token(response, live_server_url)
    with pytest.raises(tokens.TokenInvalid):
        tokens.verify(raw.decode("latin-1")[7:])


def test_a_one_megabyte_authorization_header_is_refused_fast_never_500(mcp_url: str) -> None:
    """Daphne (Twisted) drops a connection whose headers pass 16 KiB without answering: refused, never served."""
    token = "eyJhbGciOiJFZERTQSJ9." + b64json({"api-version": "apiv2", "pad": "x" * (1024 * 1024)}) + ".sig"
    start = time.monotonic()
    try:
        response = httpx.post(
            mcp_url,
            content=json.dumps(PING),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            timeout=5,
        )
    except httpx.RemoteProtocolError:
        status = None  # the HTTP server dropped the connection: refused, not served
    else:
        status = response.status_code
        assert 400 <= status < 500, (status, response.text[:200])
    assert time.monotonic() - start < FAST
    assert not tokens.peek_is_api_key(token)
    with pytest.raises(tokens.TokenInvalid):
        tokens.verify(token)
    assert status is None or status in {400, 401, 413, 431}


# --- the key row: revocation, deletion, the user's state, what is stored -------------------------------------------


def test_revoked_key_is_refused_on_the_very_next_request(
    live_server_url: str, mcp_url: str, shared_org: McpOrg
) -> None:
    row, token = committed(shared_org.new_org_key, name="to revoke")
    assert post(mcp_url, token, PING).status_code == 200
    revoked = tool_ok(mcp_url, shared_org.admin_key, "delete_api_key", {"api_key_id": str(row.pk)})
    assert revoked["id"] == str(row.pk)
    assert_invalid_token(post(mcp_url, token, PING), live_server_url)
    # The revocation is recorded, not a deletion.
    assert ApiKey.objects.get(pk=row.pk).revoked_at is not None


def test_deleted_key_row_is_refused(live_server_url: str, mcp_url: str, shared_org: McpOrg) -> None:
    row, token = committed(shared_org.new_org_key, name="to delete")
    assert post(mcp_url, token, PING).status_code == 200
    committed(lambda: ApiKey.objects.filter(pk=row.pk).delete())
    assert_invalid_token(post(mcp_url, token, PING), live_server_url)


def test_deactivating_the_user_kills_their_user_key_on_the_next_request(
    live_server_url: str, mcp_url: str, fresh_org: McpOrg
) -> None:
    o = fresh_org
    assert post(mcp_url, o.rep_key, PING).status_code == 200
    committed(user_deactivate, actor=o.system, user_id=o.rep.pk)
    assert_invalid_token(post(mcp_url, o.rep_key, PING), live_server_url)
    assert post(mcp_url, o.org_key, PING).status_code == 200  # the org's own key is unaffected
    # The key died with the deactivation (TOOLS.md): bringing the person back does not bring it back.
    committed(user_reactivate, actor=o.system, user_id=o.rep.pk)
    assert_invalid_token(post(mcp_url, o.rep_key, PING), live_server_url)
    assert committed(lambda: ApiKey.objects.get(user=o.rep).revoked_at) is not None


def test_moving_the_user_to_another_organisation_kills_their_user_key(
    live_server_url: str, mcp_url: str, fresh_org: McpOrg
) -> None:
    other = committed(make_org, "Elsewhere")
    assert post(mcp_url, fresh_org.rep_key, PING).status_code == 200
    committed(lambda: User.objects.filter(pk=fresh_org.rep.pk).update(org=other.org))
    assert_invalid_token(post(mcp_url, fresh_org.rep_key, PING), live_server_url)


def test_role_changes_apply_on_the_next_request(mcp_url: str, fresh_org: McpOrg) -> None:
    o = fresh_org
    admin_role = Role.objects.get(org=o.org, type="admin")
    assert tool_error(mcp_url, o.rep_key, "create_api_key", {"name": "x"})["error"] == "admin_required"
    committed(user_role_set, actor=o.system, user_id=o.rep.pk, role_id=admin_role.pk)
    created = tool_ok(mcp_url, o.rep_key, "create_api_key", {"name": "now allowed"})
    assert created["created_by"] == o.rep.email
    committed(user_role_remove, actor=o.system, user_id=o.rep.pk, role_id=admin_role.pk)
    assert tool_error(mcp_url, o.rep_key, "create_api_key", {"name": "x"})["error"] == "admin_required"


def test_remembered_verification_still_expires(
    mcp_url: str, shared_org: McpOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However verification results are reused, a token stops verifying once its exp has passed."""
    row, token = committed(shared_org.new_org_key, name="expiring", expiry_hours=1)
    assert tokens.verify(token).jti == row.jti
    assert tokens.verify(token).jti == row.jti
    later = time.time() + 2 * 3600

    class Later:
        @staticmethod
        def time() -> float:
            return later

    assert auth.precheck({"authorization": f"Bearer {token}"}).api_key is not None  # remembered now
    monkeypatch.setattr(tokens, "time", Later)
    with pytest.raises(tokens.TokenExpired):
        tokens.verify(token)
    # The gateway's path too: a token known to be an API key is still refused once expired.
    with pytest.raises(auth.AuthFailure) as failure:
        auth.precheck({"authorization": f"Bearer {token}"})
    assert failure.value.kind == "expired"


def test_only_verified_api_keys_are_remembered_and_the_table_is_bounded(
    mcp_url: str, shared_org: McpOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    remembered = tokens._Remembered(3)
    monkeypatch.setattr(tokens, "_remembered", remembered)
    # An OAuth-shaped token and a tampered API key: neither is kept, so neither skips the peek next time.
    assert tokens.api_key_claims("an-opaque-oauth-access-token") is None
    bad = _tamper_signature(shared_org.org_key)
    with pytest.raises(tokens.TokenInvalid):
        tokens.api_key_claims(bad)
    assert remembered.get("an-opaque-oauth-access-token") is None
    assert remembered.get(bad) is None
    # A verified key is kept, and then found without peeking at its payload again.
    token = shared_org.org_key
    claims = tokens.api_key_claims(token)
    assert claims is not None
    assert remembered.get(token) == claims

    def no_peek(_token: str) -> bool:
        raise AssertionError("peeked at a remembered token")

    monkeypatch.setattr(tokens, "peek_is_api_key", no_peek)
    assert tokens.api_key_claims(token) == claims
    monkeypatch.undo()
    monkeypatch.setattr(tokens, "_remembered", remembered)
    # Bounded: the oldest goes first.
    others = [committed(shared_org.new_org_key, name=f"bounded {i}")[1] for i in range(3)]
    for other in others:
        assert tokens.api_key_claims(other) is not None
    assert remembered.get(token) is None
    assert all(remembered.get(other) is not None for other in others)
    # Forgotten when the issuer or audience changes: another deployment's settings verify afresh (and refuse).
    with override_settings(PUBLIC_BASE_URL="https://elsewhere.example"), pytest.raises(tokens.TokenInvalid):
        tokens.api_key_claims(others[0])


def test_a_valid_signature_with_a_reused_jti_is_refused(live_server_url: str, mcp_url: str, shared_org: McpOrg) -> None:
    """The row is found by jti, then the whole token's hash must match: a re-signed twin is not the key we issued."""
    row = shared_org.keys["org"]
    twin = sign_raw(our_header(), {**_base(shared_org), "jti": row.jti, "iat": int(time.time()) - 1})
    assert twin != shared_org.org_key
    assert tokens.verify(twin).jti == row.jti
    assert_invalid_token(post(mcp_url, twin, PING), live_server_url)
    with pytest.raises(tokens.TokenInvalid):
        authenticate_api_key(twin, tokens.verify(twin))


def test_lookup_is_by_jti_and_the_hash_comparison_is_constant_time(
    mcp_url: str, shared_org: McpOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = shared_org.org_key
    claims = tokens.verify(token)
    compared: list[tuple[Any, Any]] = []
    real_compare = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    looked_up: list[str] = []
    real_fetch = authentication._fetch_key_row

    def fetch_spy(jti: str) -> Any:
        looked_up.append(jti)
        return real_fetch(jti)

    # The hot path uses a raw prepared statement, invisible to Django's query capture: spy on its one entry.
    monkeypatch.setattr(authentication, "_fetch_key_row", fetch_spy)
    authenticate_api_key(token, claims)
    expected_hash = tokens.token_hash(token)
    assert (shared_org.keys["org"].token_hash, expected_hash) in compared or (expected_hash, expected_hash) in compared
    assert looked_up == [claims.jti]  # found by its jti ...
    where = authentication._sql().rsplit("WHERE", 1)[1]
    assert "k.jti = %s" in where
    assert "token_hash" not in where  # ... never looked up by the hash (a timing oracle) or the token


def test_the_database_never_holds_a_raw_token(mcp_url: str, shared_org: McpOrg) -> None:
    issued = {
        "org": shared_org.org_key,
        "admin": shared_org.admin_key,
        "rep": shared_org.rep_key,
    }
    for name, token in issued.items():
        row = ApiKey.objects.get(pk=shared_org.keys[name].pk)
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.prefix == f"ak_{row.jti[:8]}"
    signatures = [t.rsplit(".", 1)[1] for t in issued.values()]
    for model in apps.get_models():
        for values in model._default_manager.values():
            dump = json.dumps(values, default=str)
            for token, signature in zip(issued.values(), signatures, strict=True):
                assert token not in dump, model
                assert signature not in dump, model


# --- the key store is down --------------------------------------------------------------------------------------------


def test_key_store_unreachable_is_503_and_logs_never_hold_the_token(mcp_url: str, shared_org: McpOrg) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start_daphne(port, extra_env={"DATABASE_URL": "postgres://postgres@127.0.0.1:1/none", "LOG_LEVEL": "DEBUG"})
    try:
        with override_settings(PUBLIC_BASE_URL=base, MCP_RESOURCE_URL=f"{base}/mcp"):
            token, _jti = tokens.mint(org_id=str(shared_org.org.pk), user_id=None, expires_at=None)
        start = time.monotonic()
        response = httpx.post(
            f"{base}/mcp",
            content=json.dumps(PING),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert time.monotonic() - start < 5
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "error": "temporarily_unavailable",
            "error_description": "The service is temporarily unavailable.",
        }
        assert "Traceback" not in response.text
        assert int(response.headers["retry-after"]) >= 1
        # Authentication fails closed, but a bad token is still a plain 401 (no database needed to refuse it).
        bad = httpx.post(
            f"{base}/mcp",
            content=json.dumps(PING),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {_tamper_signature(token)}"},
            timeout=10,
        )
        assert bad.status_code == 401
        assert bad.json() == INVALID_BODY
    finally:
        stop_daphne(proc)
    log = server_log(proc)
    assert "database" in log.lower()  # the failure was logged ...
    assert token not in log  # ... without the credential
    assert token.rsplit(".", 1)[1] not in log
    assert "Bearer" not in log


def test_the_key_row_check_reads_ids_in_every_shape_a_database_returns(shared_org: McpOrg) -> None:
    """PostgreSQL's text (the event loop's connection), UUID objects (Django's cursor) and SQLite's 32 hex
    digits (the embedded default `make run` serves) are the same ids: each row shape is accepted."""
    claims = tokens.verify(shared_org.org_key)
    now = timezone.now()
    for shape in (str, lambda u: u, lambda u: u.hex):
        row = (shape(uuid.uuid4()), claims.token_sha256, shape(claims.org_uuid), None, None, None, None,
               "Acme", "acme", None, None, None)  # fmt: skip
        checked = authentication.check_key_row(claims, row, now)
        assert checked.actor.org_id == claims.org_uuid
        other = (row[0], row[1], shape(uuid.uuid4()), *row[3:])
        with pytest.raises(tokens.TokenInvalid):
            authentication.check_key_row(claims, other, now)
