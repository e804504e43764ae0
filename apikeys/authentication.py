"""API key -> Actor, checked against the database on every request (so revocation is immediate).

This is on the hot path of every API-key request, so it is one hand-written
query: the key row, its organisation (kept for the rest of the request) and,
for user-level keys, the user's state and role types.
"""

from __future__ import annotations

import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from accounts.models import Organization
from accounts.permissions import ALL_SCOPES, Actor
from accounts.request_memo import remember_org
from apikeys import tokens
from apikeys.models import ApiKey

# last_used_at is written at most this often per key, to keep writes off the hot path.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_SQL = """
SELECT k.id, k.token_hash, k.org_id, k.user_id, k.revoked_at, k.expires_at, k.last_used_at,
       o.name, o.slug, o.email_domains, o.created_at,
       u.org_id, u.deactivated_at,
       (SELECT {agg} FROM accounts_user_roles ur JOIN accounts_role r ON r.id = ur.role_id
         WHERE ur.user_id = k.user_id AND r.org_id = k.org_id) AS role_types
FROM apikeys_apikey k
JOIN accounts_organization o ON o.id = k.org_id
LEFT JOIN accounts_user u ON u.id = k.user_id
WHERE k.jti = %s
"""


def _sql() -> str:
    agg = "string_agg(r.type, ',')" if connection.vendor == "postgresql" else "group_concat(r.type, ',')"
    return _SQL.format(agg=agg)


def _dt(value: Any) -> datetime | None:
    """Aware datetimes from either backend (SQLite hands back strings or naive values)."""
    if value is None:
        return None
    parsed: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


def authenticate_api_key(token: str, claims: tokens.KeyClaims) -> Actor:
    """The Actor for a token whose signature and claims `tokens.verify` accepted.

    Raises TokenInvalid or TokenExpired. Database errors propagate: the caller
    answers 503, authentication never fails open.
    """
    with connection.cursor() as cursor:
        cursor.execute(_sql(), [claims.jti])
        row = cursor.fetchone()
    if row is None:
        raise tokens.TokenInvalid("unknown key")
    (key_id, stored_hash, org_id, user_id, revoked_at, expires_at, last_used_at,
     org_name, org_slug, org_domains, org_created, user_org_id, user_deactivated, role_types) = row  # fmt: skip
    if not hmac.compare_digest(stored_hash, tokens.token_hash(token)):
        raise tokens.TokenInvalid("unknown key")
    org_id, user_id, user_org_id = _uuid(org_id), _uuid(user_id), _uuid(user_org_id)
    if revoked_at is not None or str(org_id) != claims.org_id:
        raise tokens.TokenInvalid("revoked")
    now = timezone.now()
    expires = _dt(expires_at)
    if expires is not None and expires <= now:
        raise tokens.TokenExpired
    if expires is not None and claims.expires_at is None:
        raise tokens.TokenInvalid("expiry mismatch")
    assert org_id is not None
    if user_id is None:
        if claims.user_id is not None:
            raise tokens.TokenInvalid("user mismatch")
        actor = Actor.org_wide(org_id, via="org_key")
    else:
        if str(user_id) != claims.user_id or user_deactivated is not None or user_org_id != org_id:
            raise tokens.TokenInvalid("user inactive")
        roles = frozenset(role_types.split(",")) if role_types else frozenset()
        actor = Actor(org_id=org_id, user_id=user_id, roles=roles, scopes=ALL_SCOPES, via="user_key")
    # psycopg decodes jsonb itself; SQLite hands back the JSON text.
    domains = org_domains if isinstance(org_domains, list) else json.loads(org_domains or "[]")
    remember_org(
        Organization(id=org_id, name=org_name, slug=org_slug, email_domains=domains, created_at=_dt(org_created) or now)
    )
    last_used = _dt(last_used_at)
    if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key_id).update(last_used_at=now)
    return actor
