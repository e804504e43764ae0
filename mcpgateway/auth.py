"""Bearer-token resolution for /mcp: peek -> API key | OAuth, and the exact 401 answers of the seed.

Two stages, so that the event loop does only CPU work and the database is
touched once, in the worker thread that also runs the request:
`precheck` (header parsing, the base64 peek, JWT signature and claims) and
`resolve_actor` (revocation, expiry and the user's current state, and
OAuth access tokens, which are opaque and live only in the database).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

from django.conf import settings

from accounts.permissions import Actor
from apikeys import tokens
from apikeys.authentication import authenticate_api_key
from oauth.authentication import OAuthTokenRejected, authenticate_access_token

EXPIRED_DESCRIPTION = "The access token has expired..."
INVALID_DESCRIPTION = "The access token is invalid."
MISSING_DESCRIPTION = "missing or invalid Authorization header"


class AuthFailure(Exception):
    def __init__(self, kind: Literal["missing", "invalid", "expired"]) -> None:
        super().__init__(kind)
        self.kind = kind


class Credential(NamedTuple):
    """The bearer token, with its verified claims when it is an API key (immutable; built on every request)."""

    token: str
    api_key: tokens.KeyClaims | None  # None: an OAuth access token, looked up in resolve_actor


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of `Authorization: Bearer <token>`; the query string is never looked at."""
    value = headers.get("authorization", "")
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise AuthFailure("missing")
    return token


def precheck(headers: Mapping[str, str]) -> Credential:
    """CPU-only checks. Raises AuthFailure."""
    token = bearer_token(headers)
    if len(token) > tokens.MAX_TOKEN_LENGTH:
        raise AuthFailure("invalid")
    try:
        claims = tokens.api_key_claims(token)
    except tokens.TokenExpired:
        raise AuthFailure("expired") from None
    except tokens.TokenInvalid:
        # Final: a token that claims to be an API key is never retried as OAuth.
        raise AuthFailure("invalid") from None
    return Credential(token=token, api_key=claims)


def resolve_actor(credential: Credential) -> Actor:
    """Database checks, in a worker thread. Raises AuthFailure; DatabaseError propagates (-> 503)."""
    if credential.api_key is None:
        try:
            return authenticate_access_token(credential.token)
        except OAuthTokenRejected as rejected:
            raise AuthFailure(rejected.kind) from None
    try:
        return authenticate_api_key(credential.token, credential.api_key)
    except tokens.TokenExpired:
        raise AuthFailure("expired") from None
    except tokens.TokenInvalid:
        raise AuthFailure("invalid") from None


def resource_metadata_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}/.well-known/oauth-protected-resource/mcp"


def challenge(failure: AuthFailure) -> tuple[str, dict[str, str]]:
    """The WWW-Authenticate value and the JSON body for a 401."""
    parts = [f'Bearer resource_metadata="{resource_metadata_url()}"', 'scope="mcp:read mcp:write"']
    if failure.kind == "missing":
        return ", ".join(parts), {"error": "unauthorized", "error_description": MISSING_DESCRIPTION}
    description = EXPIRED_DESCRIPTION if failure.kind == "expired" else INVALID_DESCRIPTION
    parts += ['error="invalid_token"', f'error_description="{description}"']
    return ", ".join(parts), {"error": "invalid_token", "error_description": description}
