"""Creating and revoking API keys. The raw token exists only in the return value of apikey_create."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.errors import InvalidArgument
from accounts.permissions import Actor
from accounts.selectors import access_user
from apikeys import tokens
from apikeys.models import ApiKey
from apikeys.selectors import access_api_key

MAX_EXPIRY_HOURS = 24 * 365 * 10


def apikey_create(
    *,
    actor: Actor,
    name: str,
    org_level: bool = True,
    expiry_hours: int | None = None,
    user_id: uuid.UUID | str | None = None,
) -> tuple[ApiKey, str]:
    """Admins create a key; returns the row and the token, which is shown once and never stored.

    An org-level key has full org access and no user. A user-level key carries
    one user's roles and teams: the caller's own, or (for operators and
    commands) the user named by `user_id`.
    """
    actor.require_admin()
    name = " ".join(name.split())
    if not 1 <= len(name) <= 100:
        raise InvalidArgument("name", "A key name must have 1 to 100 characters.")
    if expiry_hours is not None and not 1 <= expiry_hours <= MAX_EXPIRY_HOURS:
        raise InvalidArgument("expiry_hours", f"expiry_hours must be between 1 and {MAX_EXPIRY_HOURS}.")
    if org_level:
        owner_id = None
    elif user_id is not None:
        owner = access_user(actor=actor, user_id=user_id)
        if not owner.is_active:
            raise InvalidArgument("user_id", "A deactivated user cannot own a key.")
        owner_id = owner.pk
    else:
        owner_id = actor.require_user()
    now = timezone.now()
    expires_at = now + timedelta(hours=expiry_hours) if expiry_hours is not None else None
    token, jti = tokens.mint(
        org_id=str(actor.org_id),
        user_id=str(owner_id) if owner_id else None,
        expires_at=int(expires_at.timestamp()) if expires_at else None,
    )
    with transaction.atomic():
        key = ApiKey.objects.create(
            jti=jti,
            token_hash=tokens.token_hash(token),
            prefix=f"ak_{jti[:8]}",
            name=name,
            org_id=actor.org_id,
            user_id=owner_id,
            created_by_id=actor.user_id,
            created_at=now,
            expires_at=expires_at,
        )
    return key, token


def apikey_revoke(*, actor: Actor, api_key_id: uuid.UUID | str) -> ApiKey:
    """Admins revoke a key of their organisation; it fails from the very next request on."""
    actor.require_admin()
    with transaction.atomic():
        key = access_api_key(actor=actor, api_key_id=api_key_id)
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
    return key
