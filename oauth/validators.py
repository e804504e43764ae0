"""DOT's request validator with the three policies MCP clients need.

- Unknown scopes (`claudeai`, `offline_access`, ...) are dropped, not refused:
  the known subset is granted, or the default scopes when none is known.
- Resource indicators (RFC 8707) may only name our own /mcp, and a request
  without one is bound to it, so that every token carries an audience.
- Refresh tokens never depend on `offline_access`: asking for it on refresh is
  ignored like any other unknown scope, but a known scope beyond the original
  grant is still refused.

And two protections DOT lacks at the token endpoint:

- Code replay (RFC 6749 §4.1.2): a second exchange of a code revokes the tokens
  issued from it, if the replay carries the right PKCE verifier.
- PKCE (RFC 7636 §4.1): the verifier must be 43-128 unreserved characters, and a
  challenged code without a verifier is `invalid_grant`.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.conf import settings
from django.utils.crypto import salted_hmac
from oauth2_provider.models import get_grant_model, get_refresh_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.scopes import get_scopes_backend
from oauthlib.oauth2.rfc6749 import errors, utils

# RFC 7636 §4.1: code-verifier = 43*128unreserved
CODE_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def known_scopes() -> set[str]:
    return set(get_scopes_backend().get_all_scopes())


def canonical_resource(value: str) -> str | None:
    """The canonical MCP URL if `value` names it (a trailing slash tolerated), else None."""
    if value.rstrip("/") == settings.MCP_RESOURCE_URL:
        return str(settings.MCP_RESOURCE_URL)
    return None


def resources_for_request(values: list[str]) -> list[str] | None:
    """The resource list to record for an authorization request, or None when one names another server."""
    if not values:
        return [settings.MCP_RESOURCE_URL]
    canonical = {canonical_resource(v) for v in values}
    if None in canonical:
        return None
    return [settings.MCP_RESOURCE_URL]


def code_family(code: str, verifier: str) -> uuid.UUID:
    """The token family of the tokens issued for `code` redeemed with `verifier`.

    Derived (keyed with SECRET_KEY) rather than random, so that a later replay of the code can find
    those tokens after the grant row is gone; and only together with the verifier, so that someone
    who saw just the code (a log, a Referer) cannot revoke the rightful client's tokens.
    """
    return uuid.UUID(bytes=salted_hmac("oauth.code-family", f"{code}\0{verifier}", algorithm="sha256").digest()[:16])


class McpOAuth2Validator(OAuth2Validator):  # type: ignore[misc]
    def validate_scopes(
        self, client_id: str, scopes: list[str], client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        known = [s for s in dict.fromkeys(scopes) if s in known_scopes()]
        if not known:
            known = list(self.get_default_scopes(client_id, request))
        # oauthlib grants request.scopes after this check; narrowing it here is what drops unknown ones.
        request.scopes = known
        scopes[:] = known
        return True

    def is_within_original_scope(
        self, request_scopes: list[str], refresh_token: str, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        # Fix: DOT returns the original scopes as one space-separated string; set() of it was a set of characters,
        # so every refresh naming a scope the original lacked (offline_access included) was refused.
        original = set(utils.scope_to_list(self.get_original_scopes(refresh_token, request)))
        known = [s for s in dict.fromkeys(request_scopes) if s in known_scopes()]
        if not set(known) <= original:
            return False
        request.scopes = known or sorted(original)
        return True

    def _check_and_set_request_resource(self, request: Any) -> None:
        super()._check_and_set_request_resource(request)
        resources = list(request.resource or [])
        if (
            request.grant_type == "authorization_code"
            and not get_grant_model().objects.filter(code=request.code, application=request.client).exists()
        ):
            # Fix: the code was consumed by a parallel exchange after this one was validated; without this
            # the missing grant read as "no resource" (invalid_target). No revocation here: this runs in
            # the token transaction, which the error rolls back.
            raise errors.InvalidGrantError(request=request)
        if request.grant_type in ("authorization_code", "refresh_token") and not resources:
            # Grants and refresh tokens issued by us always carry the resource; this only
            # happens for rows made before the policy, which must not yield unbound tokens.
            raise errors.CustomOAuth2Error(
                error="invalid_target", description="This grant is not bound to a resource.", request=request
            )
        if any(canonical_resource(r) is None for r in resources):
            raise errors.CustomOAuth2Error(
                error="invalid_target",
                description=f"The only resource served here is {settings.MCP_RESOURCE_URL}.",
                request=request,
            )
        request.resource = [settings.MCP_RESOURCE_URL]

    # --- code replay and PKCE (fixes: DOT deletes a used code and forgets it; it checks no verifier length) ---

    def _create_refresh_token(
        self, request: Any, refresh_token_code: str, access_token: Any, previous_refresh_token: Any
    ) -> Any:
        refresh_token = super()._create_refresh_token(request, refresh_token_code, access_token, previous_refresh_token)
        if previous_refresh_token is None and request.grant_type == "authorization_code" and request.code_verifier:
            # Rotations keep the family, so a replay of the code reaches every later token too.
            refresh_token.token_family = code_family(request.code, request.code_verifier)
            refresh_token.save(update_fields=["token_family"])
        return refresh_token

    def _revoke_code_family(self, code: str, request: Any) -> None:
        if not request.code_verifier or request.client is None:
            return
        family = code_family(code, request.code_verifier)
        RefreshToken = get_refresh_token_model()
        if RefreshToken.objects.filter(token_family=family, application=request.client).exists():
            RefreshToken.revoke_family(family)

    def validate_code(self, client_id: str, code: str, client: Any, request: Any, *args: Any, **kwargs: Any) -> bool:
        if super().validate_code(client_id, code, client, request, *args, **kwargs):
            # A person deactivated since consenting gets no tokens (and is refused at /mcp anyway).
            return bool(getattr(request.user, "is_active", False))
        # Unknown, expired or already used. If used, by this client with this verifier: a replay.
        self._revoke_code_family(code, request)
        return False

    def validate_refresh_token(self, refresh_token: str, client: Any, request: Any, *args: Any, **kwargs: Any) -> bool:
        # Deactivation ends OAuth access at once: no new access token for a deactivated person.
        if not super().validate_refresh_token(refresh_token, client, request, *args, **kwargs):
            return False
        return bool(getattr(request.user, "is_active", False))

    def invalidate_authorization_code(self, client_id: str, code: str, request: Any, *args: Any, **kwargs: Any) -> None:
        try:
            super().invalidate_authorization_code(client_id, code, request, *args, **kwargs)
        except errors.InvalidGrantError:
            # Two exchanges of one code raced and the other one consumed it: that is a replay too,
            # and both sets of tokens go (this request's were saved just before).
            self._revoke_code_family(code, request)
            raise

    def _code_consumed_meanwhile(self, code: str, request: Any) -> errors.InvalidGrantError:
        # Fix: DOT re-reads the grant with .get() after validate_code(); when a parallel exchange of the same
        # code deleted it in between, that raised DoesNotExist (a 500). It is a replay like any other.
        self._revoke_code_family(code, request)
        return errors.InvalidGrantError(request=request)

    def get_code_challenge_method(self, code: str, request: Any) -> str | None:
        try:
            method: str | None = super().get_code_challenge_method(code, request)
        except get_grant_model().DoesNotExist:
            raise self._code_consumed_meanwhile(code, request) from None
        return method

    def confirm_redirect_uri(
        self, client_id: str, code: str, redirect_uri: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        try:
            return bool(super().confirm_redirect_uri(client_id, code, redirect_uri, client, request, *args, **kwargs))
        except get_grant_model().DoesNotExist:
            raise self._code_consumed_meanwhile(code, request) from None

    def get_code_challenge(self, code: str, request: Any) -> str | None:
        try:
            challenge: str | None = super().get_code_challenge(code, request)
        except get_grant_model().DoesNotExist:
            raise self._code_consumed_meanwhile(code, request) from None
        verifier = request.code_verifier
        if challenge is not None and verifier is None:
            # oauthlib answers invalid_request; RFC 7636 §4.6 / OAuth 2.1: the grant is not redeemable.
            raise errors.InvalidGrantError(description="This code needs its code_verifier.", request=request)
        if verifier is not None and not CODE_VERIFIER.fullmatch(verifier):
            raise errors.InvalidGrantError(
                description="code_verifier must be 43 to 128 characters from A-Z a-z 0-9 - . _ ~", request=request
            )
        return challenge
