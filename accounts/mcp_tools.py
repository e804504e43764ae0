"""MCP tools for identity, teams, users, roles and invitations.

Each tool is one call to a selector or service; the services check the admin role and the organisation.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from accounts.permissions import Actor
from accounts.schemas import (
    AddedMember,
    DeletedInvitation,
    InvitationOut,
    InvitationPage,
    Me,
    RemovedMember,
    RoleList,
    TeamDetail,
    TeamList,
    TeamMembers,
    TeamRef,
    UserOut,
    UserPage,
)
from accounts.selectors import (
    invitation_out,
    invitations_page,
    me,
    role_list,
    team_detail,
    team_members_page,
    team_tree,
    user_detail,
    users_page,
)
from accounts.services import (
    invitation_create,
    invitation_delete,
    invitation_update,
    membership_remove,
    team_archive,
    team_create,
    team_member_add,
    team_update,
    user_deactivate,
    user_reactivate,
    user_role_remove,
    user_role_set,
    user_teams_update,
    user_update,
)
from mcpgateway.registry import tool

Email = Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
PageSize = Annotated[int, Field(ge=1, le=50, description="Items per page")]
Cursor = Annotated[str | None, Field(description="next_cursor of the previous page", max_length=500)]
TeamName = Annotated[
    str, Field(min_length=1, max_length=100, description='The team\'s name, e.g. "EMEA"; the "[Org] " prefix is added')
]
SeatType = Literal["recording", "listener"]
TeamId = Annotated[uuid.UUID, Field(description="The team's id, from list_teams")]
UserId = Annotated[uuid.UUID, Field(description="The user's id, from list_reps")]


def _org_level(actor: Actor) -> bool:
    # Bound to no person, get_me needs only the organisation, which authentication has already read.
    return actor.user_id is None


@tool(title="Who am I", access="read", inline=_org_level)
def get_me(actor: Actor) -> Me:
    """Return the caller's identity: the person (null for an org-level API key), the organisation, role types
    (admin, manager, sales_rep), team memberships with the primary team, and the credential kind and scopes.

    Call this first when you need to know whose data you can see, or before admin-only actions."""
    return me(actor=actor)


# --- teams -------------------------------------------------------------------------------------------------------


@tool(title="List teams", access="read")
def list_teams(actor: Actor) -> TeamList:
    """List every team of the organisation as a tree (ids, names, parent ids, depth, archived flag, member
    count). Team names carry the organisation prefix, e.g. "[Acme] EMEA". Use the ids with search_calls'
    team_ids (which includes sub-teams) or get_team."""
    return team_tree(actor=actor)


@tool(title="Get a team", access="read")
def get_team(
    actor: Actor,
    id: Annotated[uuid.UUID, Field(description="The team's id, from list_teams")],
) -> TeamDetail:
    """Get one team: name, parent, direct sub-teams, depth, archived flag, member count and its web link. Use
    list_teams for the whole tree and get_team_members for who is in it."""
    return team_detail(actor=actor, team_id=id)


@tool(title="List a team's members", access="read")
def get_team_members(
    actor: Actor,
    id: Annotated[uuid.UUID, Field(description="The team's id, from list_teams")],
    page_size: PageSize = 20,
    cursor: Cursor = None,
) -> TeamMembers:
    """List the people who are direct members of one team (not of its sub-teams), by email: roles, seat type,
    whether it is their primary team, and whether they are still active. Use list_reps with team_id to include
    sub-teams. Page through with next_cursor."""
    return team_members_page(actor=actor, team_id=id, page_size=page_size, cursor=cursor)


@tool(title="Create a team", access="write", admin=True)
def create_team(
    actor: Actor,
    name: TeamName,
    parent_team_id: Annotated[
        uuid.UUID | None, Field(description="Make it a sub-team of this team (id from list_teams); omit for top level")
    ] = None,
) -> TeamDetail:
    """Create a team (admins only), at the top level or under a parent team. Its stored name gets the
    organisation prefix: "EMEA" becomes "[Acme] EMEA". Names are unique in the organisation (conflict otherwise)."""
    team = team_create(actor=actor, name=name, parent_team_id=parent_team_id)
    return team_detail(actor=actor, team_id=team.pk)


@tool(title="Update a team", access="write", admin=True, idempotent=True)
def update_team(
    actor: Actor,
    team_id: TeamId,
    name: Annotated[
        str | None,
        Field(min_length=1, max_length=100, description='New name, e.g. "EMEA North"; omit to keep the name'),
    ] = None,
    parent_team_id: Annotated[
        uuid.UUID | None, Field(description="Move it under this team; omit to keep the parent")
    ] = None,
) -> TeamDetail:
    """Rename a team and/or move it under another parent (admins only); omitted fields are kept. To move a team
    to the top level use change_team_parent without a parent. Sub-teams move with it; a move under itself or one
    of its own sub-teams is refused."""
    if parent_team_id is None:
        team = team_update(actor=actor, team_id=team_id, name=name)
    else:
        team = team_update(actor=actor, team_id=team_id, name=name, parent_team_id=parent_team_id)
    return team_detail(actor=actor, team_id=team.pk)


@tool(title="Archive or restore a team", access="write", admin=True, idempotent=True)
def archive_team(
    actor: Actor,
    team_id: TeamId,
    archived: Annotated[bool, Field(description="true archives the team, false restores it")] = True,
) -> TeamDetail:
    """Archive a team, or restore an archived one with archived=false (admins only). Reversible: memberships,
    sub-teams and calls are kept."""
    team = team_archive(actor=actor, team_id=team_id, archived=archived)
    return team_detail(actor=actor, team_id=team.pk)


@tool(title="Move a team", access="write", admin=True, idempotent=True)
def change_team_parent(
    actor: Actor,
    team_id: TeamId,
    parent_team_id: Annotated[
        uuid.UUID | None, Field(description="The new parent team's id; omit to make it a top-level team")
    ] = None,
) -> TeamDetail:
    """Move a team, with all its sub-teams, under another team, or to the top level when parent_team_id is
    omitted (admins only). A move under the team itself or one of its sub-teams is refused (teams cannot form
    cycles), as is nesting deeper than 10 levels."""
    team = team_update(actor=actor, team_id=team_id, parent_team_id=parent_team_id)
    return team_detail(actor=actor, team_id=team.pk)


@tool(title="Add a team member", access="write", admin=True, idempotent=True)
def add_team_member(
    actor: Actor,
    team_id: TeamId,
    user_id: Annotated[uuid.UUID | None, Field(description="The user's id, from list_reps; or give user_email")] = None,
    user_email: Annotated[
        Email | None, Field(description='The user\'s email, e.g. "rita@acme.com"; or give user_id')
    ] = None,
    role_id: Annotated[
        uuid.UUID | None, Field(description="Also grant this role (id from list_roles); their other roles stay")
    ] = None,
    primary: Annotated[
        bool, Field(description="Make this the user's primary team (their first team always is)")
    ] = False,
) -> AddedMember:
    """Add a user of the organisation to a team (admins only), named by user_id or user_email (exactly one),
    optionally granting a role and making the team their primary one. Adding an existing member only updates
    primary. To change several memberships of one user at once use update_user_teams."""
    membership = team_member_add(
        actor=actor, team_id=team_id, user_id=user_id, user_email=user_email, role_id=role_id, primary=primary
    )
    return AddedMember(
        team=TeamRef(id=str(membership.team.pk), name=membership.team.name),
        user=user_detail(actor=actor, user_id=membership.user_id),
        primary=membership.primary,
    )


@tool(title="Remove a team member", access="write", admin=True, idempotent=True)
def remove_team_member(actor: Actor, team_id: TeamId, user_id: UserId) -> RemovedMember:
    """Remove a user from one team (admins only); the user and their calls stay. If it was their primary team,
    their oldest other team becomes primary. A user who is not in the team is not_found."""
    membership_remove(actor=actor, team_id=team_id, user_id=user_id)
    team = team_detail(actor=actor, team_id=team_id)
    return RemovedMember(team=TeamRef(id=team.id, name=team.name), user=user_detail(actor=actor, user_id=user_id))


# --- users and roles ---------------------------------------------------------------------------------------------


@tool(title="List users", access="read")
def list_reps(
    actor: Actor,
    email: Annotated[
        str | None, Field(max_length=254, description='Exact email, any case, e.g. "rita@acme.com"')
    ] = None,
    user_id: Annotated[uuid.UUID | None, Field(description="Only this user")] = None,
    team_id: Annotated[uuid.UUID | None, Field(description="Only members of this team or its sub-teams")] = None,
    include_deleted: Annotated[bool, Field(description="Also list deactivated (deleted) users")] = False,
    page_size: PageSize = 20,
    cursor: Cursor = None,
) -> UserPage:
    """List the organisation's people (reps, managers, admins) by email, with ids, names, seat type, roles,
    teams and whether they are active. Use it to find a user_id for other tools or search_calls' rep_ids.
    Filters combine; page through with next_cursor."""
    return users_page(
        actor=actor,
        email=email,
        user_id=user_id,
        team_id=team_id,
        include_deactivated=include_deleted,
        page_size=page_size,
        cursor=cursor,
    )


@tool(title="List roles", access="read")
def list_roles(actor: Actor) -> RoleList:
    """List the organisation's roles (admin, manager, sales_rep) with their ids, for the role_id arguments of
    update_user, manage_user_role, add_team_member and invite_user, and how many active users hold each."""
    return role_list(actor=actor)


@tool(title="Update a user", access="write", admin=True, idempotent=True)
def update_user(
    actor: Actor,
    user_id: UserId,
    first_name: Annotated[str | None, Field(max_length=150, description='e.g. "Rita"; omit to keep')] = None,
    last_name: Annotated[str | None, Field(max_length=150, description='e.g. "Rep"; omit to keep')] = None,
    role_id: Annotated[
        uuid.UUID | None,
        Field(description="Make this (id from list_roles) the user's only role; omit to keep their roles"),
    ] = None,
    seat_type: Annotated[
        SeatType | None, Field(description="recording (calls are recorded) or listener; omit to keep")
    ] = None,
    bot_name: Annotated[
        str | None, Field(max_length=100, description='Name of the recording bot, e.g. "Rita\'s notetaker"; "" resets')
    ] = None,
    deals_enabled: Annotated[bool | None, Field(description="Whether the user works with deals; omit to keep")] = None,
) -> UserOut:
    """Change a user's names, seat type, bot name, deals flag or role (admins only); omitted fields are kept.
    role_id replaces all their roles; to add or take away a single role use manage_user_role. The organisation's
    last active admin cannot lose the admin role (conflict)."""
    user = user_update(
        actor=actor,
        user_id=user_id,
        first_name=first_name,
        last_name=last_name,
        role_id=role_id,
        seat_type=seat_type,
        bot_name=bot_name,
        deals_enabled=deals_enabled,
    )
    return user_detail(actor=actor, user_id=user.pk)


class TeamToAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt "primary" must not silently mean false

    team_id: uuid.UUID = Field(description="The team's id, from list_teams")
    primary: bool = Field(default=False, description="Make it the user's primary team")


@tool(title="Change a user's teams", access="write", admin=True, idempotent=True)
def update_user_teams(
    actor: Actor,
    user_id: UserId,
    teams_to_add: Annotated[
        list[TeamToAdd] | None,
        Field(max_length=50, description='Teams to join, at most one primary: [{"team_id": "<id>", "primary": true}]'),
    ] = None,
    team_ids_to_remove: Annotated[list[uuid.UUID] | None, Field(max_length=50, description="Teams to leave")] = None,
) -> UserOut:
    """Add a user to some teams and remove them from others in one all-or-nothing step (admins only). The user
    always ends with exactly one primary team: the one marked primary, else their current primary if kept, else
    their oldest remaining team. For a single team add_team_member and remove_team_member are simpler."""
    user = user_teams_update(
        actor=actor,
        user_id=user_id,
        teams_to_add=[(t.team_id, t.primary) for t in teams_to_add or []],
        team_ids_to_remove=team_ids_to_remove or [],
    )
    return user_detail(actor=actor, user_id=user.pk)


@tool(title="Grant or take away a role", access="write", admin=True, idempotent=True)
def manage_user_role(
    actor: Actor,
    action: Annotated[Literal["set", "remove"], Field(description="set grants the role, remove takes it away")],
    user_id: UserId,
    role_id: Annotated[uuid.UUID, Field(description="The role's id, from list_roles")],
) -> UserOut:
    """Grant a role to a user (action "set"; their other roles stay) or take one away ("remove") (admins only).
    The organisation's last active admin cannot lose the admin role (conflict). To replace all of a user's roles
    with one, use update_user's role_id."""
    if action == "set":
        user = user_role_set(actor=actor, user_id=user_id, role_id=role_id)
    else:
        user = user_role_remove(actor=actor, user_id=user_id, role_id=role_id)
    return user_detail(actor=actor, user_id=user.pk)


@tool(title="Deactivate a user", access="write", admin=True, user_required=True, idempotent=True)
def delete_user(actor: Actor, user_id: UserId) -> UserOut:
    """Deactivate ("delete") a user (admins acting as themselves, not org-level keys). Their access ends at once:
    their user-level API keys and OAuth logins are refused from the next request and their web sessions are
    ended. Their calls, snippets and memberships are kept, and reactivate_user restores them. The organisation's
    last active admin cannot be deactivated (conflict)."""
    user = user_deactivate(actor=actor, user_id=user_id)
    return user_detail(actor=actor, user_id=user.pk)


@tool(title="Reactivate a user", access="write", admin=True, idempotent=True)
def reactivate_user(actor: Actor, user_id: UserId) -> UserOut:
    """Restore a user deactivated with delete_user (admins only): their roles, teams and data are as they were,
    and their API keys and OAuth logins work again (web sessions ended at deactivation do not come back)."""
    user = user_reactivate(actor=actor, user_id=user_id)
    return user_detail(actor=actor, user_id=user.pk)


# --- invitations -------------------------------------------------------------------------------------------------


@tool(title="List invitations", access="read")
def list_invitations(
    actor: Actor,
    email: Annotated[
        str | None, Field(max_length=254, description='Exact email, any case, e.g. "new@acme.com"')
    ] = None,
    team_id: Annotated[uuid.UUID | None, Field(description="Only invitations into this team")] = None,
    page_size: PageSize = 20,
    cursor: Cursor = None,
) -> InvitationPage:
    """List the organisation's invitations, newest first: email, team, role, seat type, who invited, and status
    (pending, expired or accepted) with expiry. Page through with next_cursor."""
    return invitations_page(actor=actor, email=email, team_id=team_id, page_size=page_size, cursor=cursor)


@tool(title="Invite a user", access="write", admin=True, user_required=True)
def invite_user(
    actor: Actor,
    email: Annotated[Email, Field(description='Who to invite, e.g. "new.rep@acme.com"')],
    team_id: Annotated[uuid.UUID | None, Field(description="Team they will join (id from list_teams)")] = None,
    role_id: Annotated[
        uuid.UUID | None, Field(description="Their role (id from list_roles); omit for sales rep")
    ] = None,
    seat_type: Annotated[SeatType, Field(description="recording (calls are recorded) or listener")] = "recording",
) -> InvitationOut:
    """Invite someone to the organisation by email (admins acting as themselves, not org-level keys: the
    invitation names you as the inviter). It expires after 7 days. Refused (conflict) if they already have an
    account here or a pending invitation; then use update_invitation with resend=true."""
    invitation = invitation_create(actor=actor, email=email, team_id=team_id, role_id=role_id, seat_type=seat_type)
    return invitation_out(invitation)


@tool(title="Change or resend an invitation", access="write", admin=True, user_required=True)
def update_invitation(
    actor: Actor,
    invitation_id: Annotated[uuid.UUID, Field(description="The invitation's id, from list_invitations")],
    team_id: Annotated[uuid.UUID | None, Field(description="New team; omit to keep")] = None,
    role_id: Annotated[uuid.UUID | None, Field(description="New role (id from list_roles); omit to keep")] = None,
    seat_type: Annotated[SeatType | None, Field(description="recording or listener; omit to keep")] = None,
    resend: Annotated[
        bool, Field(description="Send it again: it expires 7 days from now and names you as the inviter")
    ] = False,
) -> InvitationOut:
    """Change a not-yet-accepted invitation's team, role or seat type, and/or resend it (which also revives an
    expired one) (admins acting as themselves). Omitted fields are kept; an accepted invitation is a conflict."""
    invitation = invitation_update(
        actor=actor, invitation_id=invitation_id, team_id=team_id, role_id=role_id, seat_type=seat_type, resend=resend
    )
    return invitation_out(invitation)


@tool(title="Delete an invitation", access="write", admin=True, user_required=True, destructive=True, idempotent=True)
def delete_invitation(
    actor: Actor,
    invitation_id: Annotated[uuid.UUID, Field(description="The invitation's id, from list_invitations")],
) -> DeletedInvitation:
    """Withdraw an invitation that was not accepted (admins acting as themselves): it is deleted and can no longer
    be used. To remove someone who already joined, use delete_user."""
    invitation = invitation_delete(actor=actor, invitation_id=invitation_id)
    return DeletedInvitation(id=str(invitation.pk), email=invitation.email, deleted=True)
