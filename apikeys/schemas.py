"""Output shapes of the API-key tools."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="Start of the key's id, to tell keys apart; never the token")
    org_level: bool = Field(description="True: full org access, bound to no user")
    user_email: str | None = Field(description="The user a user-level key acts as")
    created_by: str | None
    created_at: str
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None


class ApiKeyList(BaseModel):
    api_keys: list[ApiKeyOut]


class CreatedApiKey(ApiKeyOut):
    token: str = Field(description="The key itself. Shown only now: store it in a secrets manager.")
    warning: str


class RevokedApiKey(BaseModel):
    id: str
    revoked_at: str
