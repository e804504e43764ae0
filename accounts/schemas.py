"""Output shapes of the accounts tools (they become the tools' outputSchema)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TeamRef(BaseModel):
    id: str
    name: str


class MeUser(BaseModel):
    id: str
    email: str
    first_name: str
    last_name: str
    seat_type: str = Field(description="recording or listener")
    primary_team: TeamRef | None


class MeOrg(BaseModel):
    id: str
    name: str
    slug: str


class MeTeam(BaseModel):
    id: str
    name: str
    primary: bool


class MeAuth(BaseModel):
    kind: str = Field(description="oauth, user_key or org_key")
    scopes: list[str]


class Me(BaseModel):
    user: MeUser | None = Field(description="Null for an org-level API key, which acts for no person.")
    org: MeOrg
    roles: list[str] = Field(description="Role types held: admin, manager, sales_rep.")
    teams: list[MeTeam]
    auth: MeAuth


class TeamNode(BaseModel):
    id: str
    name: str
    parent_team_id: str | None
    depth: int = Field(description="0 for a top-level team")
    archived: bool
    member_count: int
    url: str


class TeamList(BaseModel):
    teams: list[TeamNode] = Field(description="Every team of the organisation, parents before children.")
