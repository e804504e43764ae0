"""MCP tools for API keys."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field

from accounts.permissions import Actor
from apikeys.schemas import ApiKeyList, CreatedApiKey, RevokedApiKey
from apikeys.selectors import api_key_list, api_key_out
from apikeys.services import MAX_EXPIRY_HOURS, apikey_create, apikey_revoke
from mcpgateway.registry import tool


@tool(title="List API keys", access="read")
def list_api_keys(actor: Actor) -> ApiKeyList:
    """List the organisation's active API keys (admins see all, others their own user-level keys): name, id,
    org- or user-level, creator, creation, expiry and last use. Tokens are never shown again after creation."""
    return api_key_list(actor=actor)


@tool(title="Create an API key", access="write", admin=True)
def create_api_key(
    actor: Actor,
    name: Annotated[str, Field(min_length=1, max_length=100, description='What the key is for, e.g. "CI/CD Pipeline"')],
    org_level: Annotated[
        bool, Field(description="true: full org access, bound to no user; false: acts as you, with your roles")
    ] = True,
    expiry_hours: Annotated[
        int | None,
        Field(ge=1, le=MAX_EXPIRY_HOURS, description="Lifetime in hours, e.g. 8760 for a year; omit for none"),
    ] = None,
) -> CreatedApiKey:
    """Create an API key (admins only) and return its token once: it cannot be shown again, so tell the user to
    store it in a secrets manager. Send it as "Authorization: Bearer <token>". A user-level key needs a caller
    who is a person (OAuth login or user-level key)."""
    key, token = apikey_create(actor=actor, name=name, org_level=org_level, expiry_hours=expiry_hours)
    return CreatedApiKey(
        **api_key_out(key).model_dump(),
        token=token,
        warning="This token is shown only once. Store it in a secrets manager; it cannot be recovered.",
    )


@tool(title="Delete an API key", access="write", admin=True, destructive=True, idempotent=True)
def delete_api_key(
    actor: Actor, api_key_id: Annotated[uuid.UUID, Field(description="The key's id, from list_api_keys")]
) -> RevokedApiKey:
    """Revoke an API key (admins only). It stops working on its very next request; this cannot be undone."""
    key = apikey_revoke(actor=actor, api_key_id=api_key_id)
    assert key.revoked_at is not None
    return RevokedApiKey(id=str(key.pk), revoked_at=key.revoked_at.isoformat())
