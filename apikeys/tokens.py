"""Minting, peeking at and verifying API-key JWTs.

`peek_is_api_key` is the zero-cost routing test of the seed document: it
base64-decodes the payload segment, without any signature work, and looks for
`"api-version": "apiv2"`. A token that peeks as an API key is then verified
here and only here; failure is final, it is never retried as an OAuth token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings
from django.core.signals import setting_changed

from apikeys.keyring import ALGORITHM, keyring

API_VERSION_CLAIM = "api-version"
API_VERSION = "apiv2"
TOKEN_TYPE = "apikey+jwt"  # noqa: S105 (a JWT media type, not a secret)
# Longer than any token we mint by a wide margin; anything bigger is refused before decoding.
MAX_TOKEN_LENGTH = 2048
# Tolerated clock difference between the minting and the verifying host.
LEEWAY_SECONDS = 30
_SUPPORTED_CRIT: frozenset[str] = frozenset()


class TokenInvalid(Exception):
    """The token is not one of ours, or was tampered with."""


class TokenExpired(Exception):
    """The token was ours but its `exp` has passed."""


@dataclass(frozen=True, slots=True)
class KeyClaims:
    jti: str
    org_id: str
    user_id: str | None
    expires_at: int | None
    # Derived once per token (verification is remembered per token): what every request would redo.
    org_uuid: uuid.UUID
    user_uuid: uuid.UUID | None
    token_sha256: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def peek_is_api_key(token: str) -> bool:
    """True when the unverified payload says `"api-version": "apiv2"`. Never raises."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        return False
    payload_segment = token.split(".", 2)[1]
    try:
        payload = json.loads(_b64url_decode(payload_segment))
    except (ValueError, binascii.Error, RecursionError):
        return False
    return isinstance(payload, dict) and payload.get(API_VERSION_CLAIM) == API_VERSION


def mint(*, org_id: str, user_id: str | None, expires_at: int | None) -> tuple[str, str]:
    """A new signed token and its `jti`. The caller stores the jti and the hash, never the token."""
    ring = keyring()
    jti = secrets.token_urlsafe(18)
    now = int(time.time())
    claims: dict[str, Any] = {
        API_VERSION_CLAIM: API_VERSION,
        "iss": settings.PUBLIC_BASE_URL,
        "aud": settings.MCP_RESOURCE_URL,
        "sub": f"user:{user_id}" if user_id else f"org:{org_id}",
        "org": org_id,
        "jti": jti,
        "iat": now,
    }
    if expires_at is not None:
        claims["exp"] = expires_at
    token = jwt.encode(
        claims, ring.signing_key, algorithm=ALGORITHM, headers={"kid": ring.signing_kid, "typ": TOKEN_TYPE}
    )
    return token, jti


def verify(token: str) -> KeyClaims:
    """Check signature, header and claims. Raises TokenExpired or TokenInvalid; never anything else.

    A token that verified once verifies again (same bytes, same keys, same settings), so the
    signature work is remembered per exact token; expiry is re-checked on every call, and
    revocation is the database's job on every request anyway.
    """
    return _unexpired(_remembered.verified(token))


def api_key_claims(token: str) -> KeyClaims | None:
    """The bearer token's API-key claims, verified; None when it is not an API key (an OAuth token).

    Raises TokenExpired or TokenInvalid for a token that peeks as an API key and fails: that is final,
    never retried as OAuth. A token that verified before is known to be an API key without peeking
    again (its verified claims say "apiv2", and the peek reads those same bytes).
    """
    claims = _remembered.get(token)
    if claims is None:
        if not peek_is_api_key(token):
            return None
        claims = _remembered.verified(token)
    return _unexpired(claims)


def _unexpired(claims: KeyClaims) -> KeyClaims:
    if claims.expires_at is not None and claims.expires_at < time.time() - LEEWAY_SECONDS:
        raise TokenExpired
    return claims


class _Remembered:
    """Claims of tokens that verified, by exact token; bounded, oldest out first.

    Only successes are kept (a failing token is checked again each time), so the table holds API keys
    alone, never an OAuth token. Reads take no lock: one dict lookup is atomic. The issuer and audience
    that verification checks come from settings: a change to either empties the table.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._claims: dict[str, KeyClaims] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> KeyClaims | None:
        return self._claims.get(token)

    def verified(self, token: str) -> KeyClaims:
        claims = self._claims.get(token)
        if claims is None:
            claims = _verify_signature_and_claims(token, settings.PUBLIC_BASE_URL, settings.MCP_RESOURCE_URL)
            with self._lock:
                while len(self._claims) >= self.size:
                    del self._claims[next(iter(self._claims))]
                self._claims[token] = claims
        return claims

    def clear(self) -> None:
        with self._lock:
            self._claims.clear()


_remembered = _Remembered(4096)
# Settings that decide whether a token verifies (and what its claims say).
_VERIFICATION_SETTINGS = frozenset({"PUBLIC_BASE_URL", "MCP_RESOURCE_URL"})


def _forget_on_settings_change(*, setting: str, **kwargs: Any) -> None:
    if setting in _VERIFICATION_SETTINGS:
        _remembered.clear()


setting_changed.connect(_forget_on_settings_change)


def _verify_signature_and_claims(token: str, issuer: str, audience: str) -> KeyClaims:
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenInvalid("too long")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenInvalid("bad header") from exc
    kid = header.get("kid")
    ring = keyring()
    # The kid is only ever a dictionary key: no file, URL or database lookup hangs off it.
    key = ring.verification_keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise TokenInvalid("unknown kid")
    if header.get("alg") != ALGORITHM or header.get("typ") != TOKEN_TYPE:
        raise TokenInvalid("wrong alg or typ")
    crit = header.get("crit")
    if crit is not None and (not isinstance(crit, list) or not set(crit) <= _SUPPORTED_CRIT):
        raise TokenInvalid("unsupported crit")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "aud", "sub", "jti", "iat"], "verify_iat": True},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenExpired from exc
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise TokenInvalid(type(exc).__name__) from exc
    # Re-read from the verified claims: the peek only routed the request.
    if claims.get(API_VERSION_CLAIM) != API_VERSION:
        raise TokenInvalid("not an api key")
    iat = claims["iat"]
    if not isinstance(iat, int) or iat > time.time() + LEEWAY_SECONDS:
        raise TokenInvalid("issued in the future")
    jti, org, sub, exp = claims["jti"], claims.get("org"), claims["sub"], claims.get("exp")
    if not isinstance(jti, str) or not isinstance(org, str) or not isinstance(sub, str):
        raise TokenInvalid("malformed claims")
    if sub.startswith("user:"):
        user_id: str | None = sub[5:]
    elif sub == f"org:{org}":
        user_id = None
    else:
        raise TokenInvalid("malformed sub")
    try:
        org_uuid = uuid.UUID(org)
        user_uuid = uuid.UUID(user_id) if user_id is not None else None
    except ValueError:
        raise TokenInvalid("malformed ids") from None
    # Only canonical ids: they are compared as text with the database's.
    if str(org_uuid) != org or (user_uuid is not None and str(user_uuid) != user_id):
        raise TokenInvalid("malformed ids")
    return KeyClaims(
        jti=jti,
        org_id=org,
        user_id=user_id,
        expires_at=exp if isinstance(exp, int) else None,
        org_uuid=org_uuid,
        user_uuid=user_uuid,
        token_sha256=token_hash(token),
    )
