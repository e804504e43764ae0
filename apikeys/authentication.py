"""API key -> Actor, checked against the database on every request (so revocation is immediate)."""

from __future__ import annotations

import hmac
from datetime import timedelta

from django.utils import timezone

from accounts.permissions import ALL_SCOPES, Actor
from accounts.selectors import actor_for_user
from apikeys import tokens
from apikeys.models import ApiKey

# last_used_at is written at most this often per key, to keep writes off the hot path.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def authenticate_api_key(token: str, claims: tokens.KeyClaims) -> Actor:
    """The Actor for a token whose signature and claims `tokens.verify` accepted.

    Raises TokenInvalid or TokenExpired. Database errors propagate: the caller
    answers 503, authentication never fails open.
    """
    key = ApiKey.objects.select_related("user").filter(jti=claims.jti).first()
    if key is None or not hmac.compare_digest(key.token_hash, tokens.token_hash(token)):
        raise tokens.TokenInvalid("unknown key")
    if key.revoked_at is not None or str(key.org_id) != claims.org_id:
        raise tokens.TokenInvalid("revoked")
    now = timezone.now()
    if key.expires_at is not None and key.expires_at <= now:
        raise tokens.TokenExpired
    if key.expires_at is not None and claims.expires_at is None:
        raise tokens.TokenInvalid("expiry mismatch")
    if key.user is None:
        if claims.user_id is not None:
            raise tokens.TokenInvalid("user mismatch")
        actor = Actor.org_wide(key.org_id, via="org_key")
    else:
        user = key.user
        if str(user.pk) != claims.user_id or not user.is_active or user.org_id != key.org_id:
            raise tokens.TokenInvalid("user inactive")
        actor = actor_for_user(user=user, via="user_key", scopes=ALL_SCOPES)
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return actor
