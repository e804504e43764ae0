"""Reads for organisations, users, roles and teams, always through an Actor."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db.models import Count, QuerySet

from accounts.errors import NotFound, parse_id
from accounts.models import Membership, Organization, Role, Team, User
from accounts.permissions import Actor, Via
from accounts.request_memo import known_org
from accounts.schemas import Me, MeAuth, MeOrg, MeTeam, MeUser, TeamList, TeamNode, TeamRef


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


def me(*, actor: Actor) -> Me:
    """Who the actor is: person (if any), organisation, roles, teams and credential."""
    org = access_org(actor=actor)
    auth = MeAuth(kind=actor.via, scopes=sorted(actor.scopes))
    roles = sorted(actor.roles)
    if actor.user_id is None:
        return Me(user=None, org=MeOrg(id=str(org.pk), name=org.name, slug=org.slug), roles=roles, teams=[], auth=auth)
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
        org=MeOrg(id=str(org.pk), name=org.name, slug=org.slug),
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
                url=f"{settings.WEB_APP_BASE_URL}/teams/{t.pk}",
            )
            for t in teams
        ]
    )
