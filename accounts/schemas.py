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


class TeamDetail(BaseModel):
    id: str
    name: str = Field(description='With the organisation prefix, e.g. "[Acme] EMEA"')
    parent: TeamRef | None = Field(description="The parent team; null for a top-level team")
    sub_teams: list[TeamRef] = Field(description="Direct sub-teams")
    depth: int = Field(description="0 for a top-level team")
    archived: bool
    member_count: int = Field(description="Direct members (sub-teams' members not counted)")
    created_at: str
    url: str


class TeamMember(BaseModel):
    id: str
    email: str
    first_name: str
    last_name: str
    seat_type: str = Field(description="recording or listener")
    roles: list[str] = Field(description="Role types held: admin, manager, sales_rep")
    primary: bool = Field(description="This team is the member's primary team")
    active: bool = Field(description="false for a deactivated (deleted) user")


class TeamMembers(BaseModel):
    team: TeamRef
    members: list[TeamMember] = Field(description="Direct members, by email")
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")


class UserTeam(BaseModel):
    id: str
    name: str
    primary: bool


class UserOut(BaseModel):
    id: str
    email: str
    first_name: str
    last_name: str
    seat_type: str = Field(description="recording or listener")
    bot_name: str = Field(description="Name of the recording bot that joins this user's calls; empty for the default")
    deals_enabled: bool
    roles: list[str] = Field(description="Role types held: admin, manager, sales_rep")
    teams: list[UserTeam] = Field(description="Team memberships, primary first")
    active: bool = Field(description="false once deactivated with delete_user")
    deactivated_at: str | None


class UserPage(BaseModel):
    reps: list[UserOut] = Field(description="Users of the organisation, by email")
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")


class RoleOut(BaseModel):
    id: str
    type: str = Field(description="admin, manager or sales_rep")
    name: str
    user_count: int = Field(description="Active users holding the role")


class RoleList(BaseModel):
    roles: list[RoleOut]


class AddedMember(BaseModel):
    team: TeamRef
    user: UserOut = Field(description="The user as they are now, with all their teams and roles")
    primary: bool = Field(description="The team is now the user's primary team")


class RemovedMember(BaseModel):
    team: TeamRef
    user: UserOut = Field(description="The user as they are now; another team became primary if needed")


class RoleRef(BaseModel):
    id: str
    type: str
    name: str


class PersonRef(BaseModel):
    id: str
    name: str
    email: str


class InvitationOut(BaseModel):
    id: str
    email: str
    team: TeamRef | None
    role: RoleRef
    seat_type: str = Field(description="recording or listener")
    invited_by: PersonRef = Field(description="Who sent the invitation (last sent it, after a resend)")
    status: str = Field(description="pending, expired or accepted")
    created_at: str
    expires_at: str
    accepted_at: str | None


class InvitationPage(BaseModel):
    invitations: list[InvitationOut] = Field(description="Newest first")
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")


class DeletedInvitation(BaseModel):
    id: str
    email: str
    deleted: bool
