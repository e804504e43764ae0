"""The operators' commands: mint_api_key and revoke_api_key."""

from __future__ import annotations

import io
import re
import time
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.services import user_deactivate
from apikeys import tokens
from apikeys.authentication import authenticate_api_key
from apikeys.models import ApiKey
from tests.support.mcp import McpOrg, make_org

pytestmark = pytest.mark.django_db

JWT_RE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


@pytest.fixture
def org() -> McpOrg:
    return make_org()


def run(name: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def mint(*args: str) -> tuple[str, str, str]:
    """Runs mint_api_key; returns (token, stdout, stderr), checking the token is alone on the last stdout line."""
    out, err = run("mint_api_key", *args)
    lines = out.splitlines()
    assert lines, (out, err)
    token = lines[-1]
    assert JWT_RE.match(token), out
    assert out.strip() == token  # nothing else on stdout: `$(manage.py mint_api_key ...)` is the token
    return token, out, err


def authenticate(token: str) -> Any:
    return authenticate_api_key(token, tokens.verify(token))


def test_mint_an_org_level_key(org: McpOrg) -> None:
    token, _out, err = mint("--org", org.org.slug, "--name", "CI pipeline")
    claims = tokens.verify(token)
    assert claims.org_id == str(org.org.pk)
    assert claims.user_id is None
    assert claims.expires_at is None
    key = ApiKey.objects.get(jti=claims.jti)
    assert key.name == "CI pipeline"
    assert key.org_level
    assert key.expires_at is None
    assert key.created_by is None
    assert "org-level" in err
    assert str(key.pk) in err
    assert key.prefix in err
    assert token not in err
    actor = authenticate(token)
    assert actor.org_id == org.org.pk
    assert actor.user_id is None
    assert actor.via == "org_key"


def test_mint_a_user_level_key(org: McpOrg) -> None:
    token, _out, err = mint("--org", org.org.slug, "--name", "rep laptop", "--user", f"  {org.rep.email.upper()} ")
    claims = tokens.verify(token)
    assert claims.user_id == str(org.rep.pk)
    assert ApiKey.objects.get(jti=claims.jti).user == org.rep
    assert "user-level" in err
    actor = authenticate(token)
    assert actor.user_id == org.rep.pk
    assert actor.roles == frozenset({"sales_rep"})
    assert actor.via == "user_key"


def test_mint_with_expiry(org: McpOrg) -> None:
    token, _out, _err = mint("--org", org.org.slug, "--name", "short", "--expiry-hours", "5")
    claims = tokens.verify(token)
    key = ApiKey.objects.get(jti=claims.jti)
    assert key.expires_at is not None
    assert claims.expires_at == int(key.expires_at.timestamp())
    assert 5 * 3600 - 60 < claims.expires_at - time.time() <= 5 * 3600
    assert authenticate(token).org_id == org.org.pk


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--org", "no-such-org", "--name", "x"), "No organisation"),
        (("--org", "{slug}", "--name", "x", "--user", "nobody@example.com"), "No user"),
        (("--org", "{slug}", "--name", "x", "--user", "{other_rep}"), "No user"),
        (("--org", "{slug}", "--name", "x", "--expiry-hours", "0"), "expiry_hours"),
        (("--org", "{slug}", "--name", "   "), "name"),
    ],
    ids=["unknown-org", "unknown-user", "user-of-another-org", "bad-expiry", "blank-name"],
)
def test_mint_errors_are_command_errors(org: McpOrg, args: tuple[str, ...], message: str) -> None:
    other = make_org("Other")
    filled = [a.format(slug=org.org.slug, other_rep=other.rep.email) for a in args]
    before = ApiKey.objects.count()
    with pytest.raises(CommandError, match=message):
        run("mint_api_key", *filled)
    assert ApiKey.objects.count() == before


def test_mint_for_a_deactivated_user_is_refused(org: McpOrg) -> None:
    user_deactivate(actor=org.system, user_id=org.rep.pk)
    with pytest.raises(CommandError, match="deactivated"):
        run("mint_api_key", "--org", org.org.slug, "--name", "x", "--user", org.rep.email)


def test_mint_requires_org_and_name() -> None:
    with pytest.raises(CommandError):
        run("mint_api_key", "--name", "x")
    with pytest.raises(CommandError):
        run("mint_api_key", "--org", "acme")


def test_revoke_by_id(org: McpOrg) -> None:
    token, _out, _err = mint("--org", org.org.slug, "--name", "to revoke")
    key = ApiKey.objects.get(jti=tokens.verify(token).jti)
    out, _err = run("revoke_api_key", str(key.pk))
    assert "Revoked" in out
    assert key.prefix in out
    assert token not in out
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert key.revoked_at <= timezone.now()
    with pytest.raises(tokens.TokenInvalid):
        authenticate(token)


@pytest.mark.parametrize("shown", ["bare", "with-ellipsis"])
def test_revoke_by_prefix(org: McpOrg, shown: str) -> None:
    token, _out, _err = mint("--org", org.org.slug, "--name", "by prefix", "--user", org.rep.email)
    key = ApiKey.objects.get(jti=tokens.verify(token).jti)
    ref = key.prefix if shown == "bare" else key.display_prefix
    run("revoke_api_key", ref)
    with pytest.raises(tokens.TokenInvalid):
        authenticate(token)
    # Other keys are untouched.
    assert authenticate(org.org_key).org_id == org.org.pk
    assert authenticate(org.rep_key).user_id == org.rep.pk


def test_revoking_twice_keeps_the_first_revocation(org: McpOrg) -> None:
    key = org.keys["org"]
    run("revoke_api_key", str(key.pk))
    first = ApiKey.objects.get(pk=key.pk).revoked_at
    run("revoke_api_key", str(key.pk))
    assert ApiKey.objects.get(pk=key.pk).revoked_at == first


@pytest.mark.parametrize("ref", ["ak_nothere", "00000000-0000-0000-0000-000000000000", "…", " "])
def test_revoke_unknown_key_is_a_command_error(org: McpOrg, ref: str) -> None:
    with pytest.raises(CommandError, match="No API key"):
        run("revoke_api_key", ref)


def test_revoke_an_ambiguous_prefix_is_a_command_error(org: McpOrg) -> None:
    row = org.keys["org"]
    ApiKey.objects.create(jti="twin-jti", token_hash="0" * 64, prefix=row.prefix, name="twin", org=org.org)
    with pytest.raises(CommandError, match="give the id"):
        run("revoke_api_key", row.prefix)
    assert ApiKey.objects.get(pk=row.pk).revoked_at is None
