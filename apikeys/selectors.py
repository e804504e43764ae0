"""Reads for API keys."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from accounts.errors import NotFound, parse_id
from accounts.permissions import Actor
from apikeys.models import ApiKey
from apikeys.schemas import ApiKeyList, ApiKeyOut


def api_keys_visible_to(*, actor: Actor, include_revoked: bool = False) -> QuerySet[ApiKey]:
    """Admins (and org-wide credentials) see every key of the org; others only keys bound to themselves."""
    qs = ApiKey.objects.filter(org_id=actor.org_id).select_related("user", "created_by")
    if not actor.is_admin and actor.user_id is not None:
        qs = qs.filter(user_id=actor.user_id)
    if not include_revoked:
        qs = qs.filter(revoked_at__isnull=True)
    return qs


def access_api_key(*, actor: Actor, api_key_id: uuid.UUID | str) -> ApiKey:
    key = api_keys_visible_to(actor=actor, include_revoked=True).filter(pk=parse_id("api key", api_key_id)).first()
    if key is None:
        raise NotFound("api key", api_key_id)
    return key


def api_key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=str(key.pk),
        name=key.name,
        prefix=key.display_prefix,
        org_level=key.org_level,
        user_email=key.user.email if key.user else None,
        created_by=key.created_by.email if key.created_by else None,
        created_at=key.created_at.isoformat(),
        expires_at=key.expires_at.isoformat() if key.expires_at else None,
        last_used_at=key.last_used_at.isoformat() if key.last_used_at else None,
        revoked_at=key.revoked_at.isoformat() if key.revoked_at else None,
    )


def api_key_list(*, actor: Actor) -> ApiKeyList:
    """Active keys the actor may see (see api_keys_visible_to); never a token."""
    return ApiKeyList(api_keys=[api_key_out(k) for k in api_keys_visible_to(actor=actor)[:500]])
