"""OAuth access token -> Actor for /mcp, checked against the database on every request.

No validation cache: a disconnect, a revocation or a deactivation takes effect
on the very next request. The token is found by its SHA-256 checksum (DOT's
indexed column), never by comparing values.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Literal

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from accounts.permissions import ALL_SCOPES, Actor
from accounts.selectors import actor_for_user
from oauth.models import Connection

# Connection.last_used_at is written at most this often per person and client.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class OAuthTokenRejected(Exception):
    def __init__(self, kind: Literal["invalid", "expired"]) -> None:
        super().__init__(kind)
        self.kind = kind


def authenticate_access_token(token: str) -> Actor:
    """The Actor for a bearer OAuth access token. Raises OAuthTokenRejected."""
    checksum = hashlib.sha256(token.encode()).hexdigest()
    AccessToken = get_access_token_model()
    last_used = Connection.objects.filter(user_id=OuterRef("user_id"), application_id=OuterRef("application_id"))
    row = (
        AccessToken.objects.filter(token_checksum=checksum)
        .select_related("user")
        .annotate(connection_id=Subquery(last_used.values("pk")[:1]))
        .annotate(connection_last_used=Subquery(last_used.values("last_used_at")[:1]))
        .first()
    )
    if row is None:
        raise OAuthTokenRejected("invalid")
    # Audience (RFC 8707): issued for exactly this /mcp; a token with no recorded resource is not ours to honour.
    if not row.resource or any(resource != settings.MCP_RESOURCE_URL for resource in row.resource):
        raise OAuthTokenRejected("invalid")
    user = row.user
    if user is None or row.application_id is None or not user.is_active or user.org_id is None:
        raise OAuthTokenRejected("invalid")
    scopes = frozenset(row.scope.split()) & ALL_SCOPES
    if not scopes:
        raise OAuthTokenRejected("invalid")
    now = timezone.now()
    if row.expires <= now:
        raise OAuthTokenRejected("expired")
    last = row.connection_last_used
    if row.connection_id is None:
        Connection.objects.get_or_create(
            user_id=user.pk, application_id=row.application_id, defaults={"last_used_at": now}
        )
    elif last is None or last < now - LAST_USED_RESOLUTION:
        Connection.objects.filter(pk=row.connection_id).update(last_used_at=now)
    return actor_for_user(user=user, via="oauth", scopes=scopes)
