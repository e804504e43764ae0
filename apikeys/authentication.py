"""API key -> Actor, checked against the database on every request (so revocation is immediate).

This is on the hot path of every API-key request, so it is one hand-written
query: the key row, its organisation (kept for the rest of the request) and,
for user-level keys, the user's state and role types.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone

from accounts.permissions import ALL_SCOPES, Actor
from accounts.request_memo import remember_org_row
from apikeys import tokens
from apikeys.models import ApiKey
from attention_mcp import pgpipe

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


class KeyAuth(NamedTuple):
    """What one key check established: the actor, the organisation's row, and whether last use is due.

    Immutable; a NamedTuple because one is built on every API-key request (a frozen dataclass costs more)."""

    actor: Actor
    key_id: Any  # the key's primary key, as the row gave it (UUID or its text)
    org: tuple[uuid.UUID, str, str]  # id, name, slug
    touch_due: bool

    def remember(self) -> None:
        """Keep the organisation's row for the rest of the request (`access_org` and `access_org_row` reuse it)."""
        remember_org_row(self.org)


def _text(value: Any) -> str | None:
    """A UUID column as canonical text: PostgreSQL's text (as is), a UUID object, or SQLite's 32 hex digits."""
    if value is None or (isinstance(value, str) and len(value) == 36):
        return value
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(value))


def check_key_row(claims: tokens.KeyClaims, row: Sequence[Any] | None, now: datetime) -> KeyAuth:
    """The decision on a key's row (as `_SQL` selects it, from either path). Raises TokenInvalid or TokenExpired.

    Ids are compared as text (canonical UUIDs on both sides: the claims were checked when verified), so the
    hot path parses none; the actor's UUIDs come from the verified claims.
    """
    if row is None:
        raise tokens.TokenInvalid("unknown key")
    (key_id, stored_hash, org_id, user_id, revoked_at, expires_at, last_used_at,
     org_name, org_slug, user_org_id, user_deactivated, role_types) = row  # fmt: skip
    if not hmac.compare_digest(stored_hash, claims.token_sha256):
        raise tokens.TokenInvalid("unknown key")
    org_text = _text(org_id)
    if revoked_at is not None or org_text != claims.org_id:
        raise tokens.TokenInvalid("revoked")
    expires = _dt(expires_at)
    if expires is not None and expires <= now:
        raise tokens.TokenExpired
    if expires is not None and claims.expires_at is None:
        raise tokens.TokenInvalid("expiry mismatch")
    if user_id is None:
        if claims.user_id is not None:
            raise tokens.TokenInvalid("user mismatch")
        actor = Actor.org_wide(claims.org_uuid, via="org_key")
    else:
        if _text(user_id) != claims.user_id or user_deactivated is not None or _text(user_org_id) != org_text:
            raise tokens.TokenInvalid("user inactive")
        assert claims.user_uuid is not None
        roles = frozenset(role_types.split(",")) if role_types else frozenset()
        actor = Actor(org_id=claims.org_uuid, user_id=claims.user_uuid, roles=roles, scopes=ALL_SCOPES, via="user_key")
    last_used = _dt(last_used_at)
    touch_due = last_used is None or now - last_used >= LAST_USED_RESOLUTION
    return KeyAuth(actor, key_id, (claims.org_uuid, org_name, org_slug), touch_due)


def authenticate_api_key(token: str, claims: tokens.KeyClaims) -> Actor:
    """The Actor for a token whose signature and claims `tokens.verify` accepted (sync, any database).

    Raises TokenInvalid or TokenExpired. Database errors propagate: the caller
    answers 503, authentication never fails open.
    """
    if claims.token_sha256 != tokens.token_hash(token):
        raise tokens.TokenInvalid("claims of another token")
    now = timezone.now()
    checked = check_key_row(claims, _fetch_key_row(claims.jti), now)
    checked.remember()
    if checked.touch_due:
        record_use(checked.key_id, now)
    return checked.actor


def record_use(key_id: Any, when: datetime) -> None:
    """Write last_used_at (sync: the caller makes sure it is due, at most once a minute per key)."""
    ApiKey.objects.filter(pk=key_id).update(last_used_at=when)


# The same query for the event loop's pipelined connection (PostgreSQL only; libpq numbers its parameters).
_PIPE_KEY_ROW = pgpipe.statement("apikey_row", _sql_for("postgresql").replace("%s", "$1"))


def key_rows_async(claims: tokens.KeyClaims) -> Awaitable[list[pgpipe.Row]]:
    """Send the key's row query from the event loop now (PostgreSQL only); await the rows later.

    Sending first and awaiting later lets the caller's other round trip (the rate limiter's) overlap it.
    The caller then decides with `check_key_row`, remembers the organisation (`KeyAuth.remember`) in its
    request's scope, and records the key's use (`record_use`, off the event loop) when `touch_due`.
    """
    return pgpipe.pipe().fetch(_PIPE_KEY_ROW, (claims.jti.encode(),))
