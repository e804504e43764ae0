"""Reads for organisations, users, roles and teams, always through an Actor."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from accounts.errors import InvalidArgument, NotFound, parse_id
from accounts.models import Invitation, Membership, Organization, Role, Team, User
from accounts.permissions import Actor, Via
from accounts.request_memo import OrgRow, known_org, known_org_row
from accounts.schemas import (
    InvitationOut,
    InvitationPage,
    Me,
    MeAuth,
    MeOrg,
    MeTeam,
    MeUser,
    PersonRef,
    RoleList,
    RoleOut,
    RoleRef,
    TeamDetail,
    TeamList,
    TeamMember,
    TeamMembers,
    TeamNode,
    TeamRef,
    UserOut,
    UserPage,
    UserTeam,
)
from attention_mcp.pagination import decode_cursor, decode_time_id_cursor, encode_cursor


def actor_for_user(*, user: User, via: Via, scopes: frozenset[str]) -> Actor:
    """The Actor of an authenticated person, with the role types they hold right now."""
    if user.org_id is None:
        raise NotFound("user", user.pk)
    role_types = frozenset(user.roles.filter(org_id=user.org_id).values_list("type", flat=True))
    return Actor(org_id=user.org_id, user_id=user.pk, roles=role_types, scopes=scopes, via=via)


def access_org(*, actor: Actor) -> Organization:
    memo = known_org(actor.org_id)
    if memo is not None:
        return memo
    try:
        return Organization.objects.get(pk=actor.org_id)
    except Organization.DoesNotExist:
        raise NotFound("organization") from None


def users_of_org(*, actor: Actor, include_deactivated: bool = False) -> QuerySet[User]:
    qs = User.objects.filter(org_id=actor.org_id)
    if not include_deactivated:
        qs = qs.filter(deactivated_at__isnull=True)
    return qs


def access_user(*, actor: Actor, user_id: uuid.UUID | str) -> User:
    user = users_of_org(actor=actor, include_deactivated=True).filter(pk=parse_id("user", user_id)).first()
    if user is None:
        raise NotFound("user", user_id)
    return user


def access_user_by_email(*, actor: Actor, email: str) -> User:
    user = users_of_org(actor=actor, include_deactivated=True).filter(email__iexact=email.strip()).first()
    if user is None:
        raise NotFound("user", email[:254])
    return user


def teams_of_org(*, actor: Actor, include_archived: bool = True) -> QuerySet[Team]:
    qs = Team.objects.filter(org_id=actor.org_id)
    if not include_archived:
        qs = qs.filter(archived=False)
    return qs


def access_team(*, actor: Actor, team_id: uuid.UUID | str) -> Team:
    team = teams_of_org(actor=actor).filter(pk=parse_id("team", team_id)).first()
    if team is None:
        raise NotFound("team", team_id)
    return team


def access_role(*, actor: Actor, role_id: uuid.UUID | str) -> Role:
    role = Role.objects.filter(org_id=actor.org_id, pk=parse_id("role", role_id)).first()
    if role is None:
        raise NotFound("role", role_id)
    return role


def team_subtree_ids(*, team: Team) -> QuerySet[Team, uuid.UUID]:
    """The team and all its sub-teams, as an id subquery."""
    return Team.objects.filter(org_id=team.org_id, path__startswith=team.path).values_list("id", flat=True)


def team_path_and_above(path: str) -> list[str]:
    """The materialised paths of a team and of every team above it ("/a/b/" -> ["/a/", "/a/b/"])."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def access_org_row(*, actor: Actor) -> OrgRow:
    """The actor's organisation as (id, name, slug): what authentication read this request, else one query."""
    row = known_org_row(actor.org_id)
    if row is None:
        row = Organization.objects.filter(pk=actor.org_id).values_list("id", "name", "slug").first()
        if row is None:
            raise NotFound("organization")
    return row


def me(*, actor: Actor) -> Me:
    """Who the actor is: person (if any), organisation, roles, teams and credential."""
    org_id, org_name, org_slug = access_org_row(actor=actor)
    org = MeOrg(id=str(org_id), name=org_name, slug=org_slug)
    auth = MeAuth(kind=actor.via, scopes=sorted(actor.scopes))
    roles = sorted(actor.roles)
    if actor.user_id is None:
        return Me(user=None, org=org, roles=roles, teams=[], auth=auth)
    user = access_user(actor=actor, user_id=actor.user_id)
    memberships = list(Membership.objects.filter(user=user).select_related("team").order_by("-primary", "team__name"))
    primary = next((m.team for m in memberships if m.primary), None)
    return Me(
        user=MeUser(
            id=str(user.pk),
            email=user.email,
            first_name=user.first_name,
            last_name=user.last_name,
            seat_type=user.seat_type,
            primary_team=TeamRef(id=str(primary.pk), name=primary.name) if primary else None,
        ),
        org=org,
        roles=roles,
        teams=[MeTeam(id=str(m.team.pk), name=m.team.name, primary=m.primary) for m in memberships],
        auth=auth,
    )


def team_tree(*, actor: Actor) -> TeamList:
    """Every team of the actor's organisation (read access is org-wide), parents first."""
    teams = teams_of_org(actor=actor).annotate(member_count=Count("memberships")).order_by("path")
    return TeamList(
        teams=[
            TeamNode(
                id=str(t.pk),
                name=t.name,
                parent_team_id=str(t.parent_id) if t.parent_id else None,
                depth=t.path.count("/") - 2,
                archived=t.archived,
                member_count=t.member_count,
                url=team_url(t),
            )
            for t in teams
        ]
    )


def team_url(team: Team) -> str:
    return f"{settings.WEB_APP_BASE_URL}/teams/{team.pk}"


def _bad_cursor() -> InvalidArgument:
    return InvalidArgument("cursor", "The cursor is not one this server issued.")


def _email_after(cursor: str | None, *, kind: str) -> str | None:
    """Where an email-ordered page starts: the last email of the previous page (emails are unique)."""
    position = decode_cursor(cursor, kind=kind)
    if position is None:
        return None
    email = position.get("e")
    if not isinstance(email, str):
        raise _bad_cursor()
    return email


def team_detail(*, actor: Actor, team_id: uuid.UUID | str) -> TeamDetail:
    """One team of the actor's organisation (read access is org-wide) with its parent and direct sub-teams."""
    team = access_team(actor=actor, team_id=team_id)
    parent = Team.objects.filter(pk=team.parent_id).only("id", "name").first() if team.parent_id else None
    children = Team.objects.filter(parent=team).order_by("name").only("id", "name")
    return TeamDetail(
        id=str(team.pk),
        name=team.name,
        parent=TeamRef(id=str(parent.pk), name=parent.name) if parent else None,
        sub_teams=[TeamRef(id=str(c.pk), name=c.name) for c in children],
        depth=team.path.count("/") - 2,
        archived=team.archived,
        member_count=Membership.objects.filter(team=team).count(),
        created_at=team.created_at.isoformat(),
        url=team_url(team),
    )


def team_members_page(
    *, actor: Actor, team_id: uuid.UUID | str, page_size: int = 20, cursor: str | None = None
) -> TeamMembers:
    """The direct members of one team of the actor's organisation (deactivated ones included, marked), by email."""
    team = access_team(actor=actor, team_id=team_id)
    kind = f"team_members:{team.pk}"
    after = _email_after(cursor, kind=kind)
    qs = Membership.objects.filter(team=team).select_related("user").order_by("user__email")
    if after is not None:
        qs = qs.filter(user__email__gt=after)
    roles = Prefetch("user__roles", queryset=Role.objects.filter(org_id=team.org_id).order_by("type"))
    page = list(qs.prefetch_related(roles)[: page_size + 1])
    more = len(page) > page_size
    page = page[:page_size]
    return TeamMembers(
        team=TeamRef(id=str(team.pk), name=team.name),
        members=[
            TeamMember(
                id=str(m.user.pk),
                email=m.user.email,
                first_name=m.user.first_name,
                last_name=m.user.last_name,
                seat_type=m.user.seat_type,
                roles=[r.type for r in m.user.roles.all()],
                primary=m.primary,
                active=m.user.is_active,
            )
            for m in page
        ],
        next_cursor=encode_cursor({"k": kind, "e": page[-1].user.email}) if more and page else None,
    )


def _with_user_relations(qs: QuerySet[User], org_id: uuid.UUID) -> QuerySet[User]:
    memberships = Membership.objects.select_related("team").order_by("-primary", "team__name")
    roles = Role.objects.filter(org_id=org_id).order_by("type")
    return qs.prefetch_related(Prefetch("roles", queryset=roles), Prefetch("memberships", queryset=memberships))


def user_out(user: User) -> UserOut:
    """The shape every user tool returns (roles and memberships are prefetched by `_with_user_relations`)."""
    return UserOut(
        id=str(user.pk),
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        seat_type=user.seat_type,
        bot_name=user.bot_name,
        deals_enabled=user.deals_enabled,
        roles=[r.type for r in user.roles.all()],
        teams=[UserTeam(id=str(m.team.pk), name=m.team.name, primary=m.primary) for m in user.memberships.all()],
        active=user.is_active,
        deactivated_at=user.deactivated_at.isoformat() if user.deactivated_at else None,
    )


def user_detail(*, actor: Actor, user_id: uuid.UUID | str) -> UserOut:
    """One user of the actor's organisation (deactivated included), as the user tools return it."""
    user = access_user(actor=actor, user_id=user_id)
    fresh = _with_user_relations(User.objects.filter(pk=user.pk), actor.org_id).get()
    return user_out(fresh)


def users_page(
    *,
    actor: Actor,
    email: str | None = None,
    user_id: uuid.UUID | str | None = None,
    team_id: uuid.UUID | str | None = None,
    include_deactivated: bool = False,
    page_size: int = 20,
    cursor: str | None = None,
) -> UserPage:
    """The organisation's users (read access is org-wide), by email; `team_id` includes its sub-teams.

    A `user_id` or `team_id` of another organisation is NotFound, as everywhere.
    """
    qs = users_of_org(actor=actor, include_deactivated=include_deactivated)
    if user_id is not None:
        qs = qs.filter(pk=access_user(actor=actor, user_id=user_id).pk)
    if team_id is not None:
        team = access_team(actor=actor, team_id=team_id)
        qs = qs.filter(memberships__team_id__in=team_subtree_ids(team=team)).distinct()
    if email is not None:
        qs = qs.filter(email__iexact=email.strip())
    after = _email_after(cursor, kind="reps")
    if after is not None:
        qs = qs.filter(email__gt=after)
    page = list(_with_user_relations(qs.order_by("email"), actor.org_id)[: page_size + 1])
    more = len(page) > page_size
    page = page[:page_size]
    return UserPage(
        reps=[user_out(u) for u in page],
        next_cursor=encode_cursor({"k": "reps", "e": page[-1].email}) if more and page else None,
    )


def role_list(*, actor: Actor) -> RoleList:
    """The organisation's roles with their ids (what role_id arguments take)."""
    active = Q(users__deactivated_at__isnull=True)
    roles = Role.objects.filter(org_id=actor.org_id).annotate(n=Count("users", filter=active)).order_by("type")
    return RoleList(roles=[RoleOut(id=str(r.pk), type=r.type, name=r.name, user_count=r.n) for r in roles])


def access_invitation(*, actor: Actor, invitation_id: uuid.UUID | str) -> Invitation:
    invitation = Invitation.objects.filter(org_id=actor.org_id, pk=parse_id("invitation", invitation_id)).first()
    if invitation is None:
        raise NotFound("invitation", invitation_id)
    return invitation


def invitation_status(invitation: Invitation, now: datetime | None = None) -> str:
    if invitation.accepted_at is not None:
        return "accepted"
    return "pending" if invitation.expires_at > (now or timezone.now()) else "expired"


def invitation_out(invitation: Invitation, now: datetime | None = None) -> InvitationOut:
    team, role, by = invitation.team, invitation.role, invitation.invited_by
    return InvitationOut(
        id=str(invitation.pk),
        email=invitation.email,
        team=TeamRef(id=str(team.pk), name=team.name) if team else None,
        role=RoleRef(id=str(role.pk), type=role.type, name=role.name),
        seat_type=invitation.seat_type,
        invited_by=PersonRef(id=str(by.pk), name=by.full_name, email=by.email),
        status=invitation_status(invitation, now),
        created_at=invitation.created_at.isoformat(),
        expires_at=invitation.expires_at.isoformat(),
        accepted_at=invitation.accepted_at.isoformat() if invitation.accepted_at else None,
    )


def invitations_page(
    *,
    actor: Actor,
    email: str | None = None,
    team_id: uuid.UUID | str | None = None,
    page_size: int = 20,
    cursor: str | None = None,
) -> InvitationPage:
    """The organisation's invitations, newest first (read access is org-wide)."""
    qs = Invitation.objects.filter(org_id=actor.org_id)
    if email is not None:
        qs = qs.filter(email__iexact=email.strip())
    if team_id is not None:
        qs = qs.filter(team=access_team(actor=actor, team_id=team_id))
    position = decode_time_id_cursor(cursor, kind="invitations", time_key="c")
    if position is not None:
        at, after_id = position
        qs = qs.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=after_id))
    rows = qs.select_related("team", "role", "invited_by").order_by("-created_at", "-id")
    page = list(rows[: page_size + 1])
    more = len(page) > page_size
    page = page[:page_size]
    now = timezone.now()
    next_cursor = None
    if more and page:
        last = page[-1]
        next_cursor = encode_cursor({"k": "invitations", "c": last.created_at.isoformat(), "i": str(last.pk)})
    return InvitationPage(invitations=[invitation_out(i, now) for i in page], next_cursor=next_cursor)
