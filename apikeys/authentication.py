"""API key -> Actor, checked against the database on every request (so revocation is immediate).

This is on the hot path of every API-key request, so it is one hand-written
query: the key row, its organisation (kept for the rest of the request) and,
for user-level keys, the user's state and role types.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections
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
       o.name, o.slug,
       u.org_id, u.deactivated_at,
       (SELECT {agg} FROM accounts_user_roles ur JOIN accounts_role r ON r.id = ur.role_id
         WHERE ur.user_id = k.user_id AND r.org_id = k.org_id) AS role_types
FROM apikeys_apikey k
JOIN accounts_organization o ON o.id = k.org_id
LEFT JOIN accounts_user u ON u.id = k.user_id
WHERE k.jti = %s
"""


@cache
def _sql_for(vendor: str) -> str:
    agg = "string_agg(r.type, ',')" if vendor == "postgresql" else "group_concat(r.type, ',')"
    return _SQL.format(agg=agg)


def _sql() -> str:
    return _sql_for(connection.vendor)


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


def _fetch_key_row(jti: str) -> tuple[Any, ...] | None:
    # One lookup of this thread's connection: each `django.db.connection.x` goes through asgiref's Local.
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql":
        with conn.cursor() as cursor:
            cursor.execute(_sql_for(conn.vendor), [jti])
            return cursor.fetchone()  # type: ignore[no-any-return]
    # PostgreSQL: a server-side-bound, prepared statement on the raw connection. Django's own
    # cursor binds parameters client-side, which costs more CPU than the whole rest of this check.
    conn.ensure_connection()
    # Translated into Django's DatabaseError family (and flagged on the connection), like any ORM error.
    with conn.wrap_database_errors, psycopg.Cursor(conn.connection) as cursor:
        cursor.execute(_sql_for("postgresql"), (jti,), prepare=True)
        return cursor.fetchone()


def authenticate_api_key(token: str, claims: tokens.KeyClaims) -> Actor:
    """The Actor for a token whose signature and claims `tokens.verify` accepted.

    Raises TokenInvalid or TokenExpired. Database errors propagate: the caller
    answers 503, authentication never fails open.
    """
    row = _fetch_key_row(claims.jti)
    if row is None:
        raise tokens.TokenInvalid("unknown key")
    (key_id, stored_hash, org_id, user_id, revoked_at, expires_at, last_used_at,
     org_name, org_slug, user_org_id, user_deactivated, role_types) = row  # fmt: skip
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
    # The fields read here; any other field of this instance loads from the database if touched.
    remember_org(Organization.from_db("default", ["id", "name", "slug"], [org_id, org_name, org_slug]))
    last_used = _dt(last_used_at)
    if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key_id).update(last_used_at=now)
    return actor
