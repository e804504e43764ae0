"""Writes for organisations, users, roles, teams and memberships.

Every function takes the acting `Actor` first and checks what it may do;
MCP tools, the admin and management commands all call these.
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from accounts.errors import Conflict, InvalidArgument, NotFound
from accounts.models import Membership, Organization, Role, RoleType, Team, User
from accounts.permissions import Actor
from accounts.selectors import access_org, access_role, access_team, access_user

ROLE_NAMES = {RoleType.ADMIN: "Admin", RoleType.MANAGER: "Manager", RoleType.SALES_REP: "Sales Rep"}


def organization_create(*, name: str, slug: str, email_domains: list[str]) -> Organization:
    """Create an organisation with its three roles. System-level: operators and seeding only."""
    with transaction.atomic():
        org = Organization.objects.create(
            name=name, slug=slug, email_domains=sorted({d.strip().lower() for d in email_domains if d.strip()})
        )
        Role.objects.bulk_create([Role(org=org, type=t, name=ROLE_NAMES[t]) for t in RoleType])
    return org


def team_display_name(*, org: Organization, name: str) -> str:
    """Team names carry their organisation: "[Acme] EMEA" (given "EMEA" or "[Acme] EMEA")."""
    bare = " ".join(name.split()).removeprefix(f"[{org.name}]").strip()
    if not bare:
        raise InvalidArgument("name", "A team name cannot be empty.")
    return f"[{org.name}] {bare}"


def _child_path(parent: Team | None, team_id: uuid.UUID) -> str:
    return f"{parent.path if parent else '/'}{team_id.hex}/"


def _check_parent(*, team: Team | None, parent: Team | None) -> None:
    if parent is None:
        return
    if team is not None and parent.path.startswith(team.path):
        raise InvalidArgument("parent_team_id", "A team cannot be moved under itself or one of its sub-teams.")
    if parent.path.count("/") - 1 >= Team.MAX_DEPTH:
        raise InvalidArgument("parent_team_id", f"Teams nest at most {Team.MAX_DEPTH} levels deep.")


def _ensure_unique_name(*, org_id: uuid.UUID, name: str, exclude: uuid.UUID | None = None) -> None:
    qs = Team.objects.filter(org_id=org_id, name=name)
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    if qs.exists():
        raise Conflict(f"A team named {name!r} already exists.", field="name")


def team_create(*, actor: Actor, name: str, parent_team_id: uuid.UUID | str | None = None) -> Team:
    """Admins create teams, optionally under a parent of their own organisation."""
    actor.require_admin()
    org = access_org(actor=actor)
    parent = access_team(actor=actor, team_id=parent_team_id) if parent_team_id else None
    _check_parent(team=None, parent=parent)
    display = team_display_name(org=org, name=name)
    with transaction.atomic():
        _ensure_unique_name(org_id=org.pk, name=display)
        team_id = uuid.uuid4()
        return Team.objects.create(id=team_id, org=org, name=display, parent=parent, path=_child_path(parent, team_id))


_KEEP = object()


def team_update(
    *, actor: Actor, team_id: uuid.UUID | str, name: str | None = None, parent_team_id: object = _KEEP
) -> Team:
    """Admins rename a team and/or move it; `parent_team_id=None` moves it to the top level.

    Moving a team carries its whole subtree; a move under itself or a descendant is refused.
    """
    actor.require_admin()
    with transaction.atomic():
        team = access_team(actor=actor, team_id=team_id)
        team = Team.objects.select_for_update().get(pk=team.pk)
        if name is not None:
            display = team_display_name(org=access_org(actor=actor), name=name)
            _ensure_unique_name(org_id=team.org_id, name=display, exclude=team.pk)
            team.name = display
        if parent_team_id is not _KEEP:
            parent = access_team(actor=actor, team_id=str(parent_team_id)) if parent_team_id else None
            _check_parent(team=team, parent=parent)
            old_path, new_path = team.path, _child_path(parent, team.pk)
            deepest = max(
                (t.count("/") for t in Team.objects.filter(path__startswith=old_path).values_list("path", flat=True)),
                default=old_path.count("/"),
            )
            if deepest - old_path.count("/") + new_path.count("/") - 1 > Team.MAX_DEPTH:
                raise InvalidArgument("parent_team_id", f"Teams nest at most {Team.MAX_DEPTH} levels deep.")
            team.parent = parent
            team.path = new_path
            if old_path != new_path:
                for sub in Team.objects.filter(org_id=team.org_id, path__startswith=old_path).exclude(pk=team.pk):
                    sub.path = new_path + sub.path[len(old_path) :]
                    sub.save(update_fields=["path"])
        team.save()
    return team


def team_archive(*, actor: Actor, team_id: uuid.UUID | str, archived: bool = True) -> Team:
    """Admins archive (or restore) a team; memberships and calls are kept."""
    actor.require_admin()
    team = access_team(actor=actor, team_id=team_id)
    team.archived = archived
    team.save(update_fields=["archived"])
    return team


def membership_add(
    *, actor: Actor, team_id: uuid.UUID | str, user_id: uuid.UUID | str, primary: bool = False
) -> Membership:
    """Admins add a user to a team. A user's first team becomes primary; `primary=True` moves it here."""
    actor.require_admin()
    with transaction.atomic():
        team = access_team(actor=actor, team_id=team_id)
        user = access_user(actor=actor, user_id=user_id)
        # Lock the user's row so concurrent changes to their memberships serialise.
        User.objects.select_for_update().filter(pk=user.pk).first()
        existing = Membership.objects.filter(user=user)
        make_primary = primary or not existing.filter(primary=True).exists()
        if make_primary:
            existing.filter(primary=True).exclude(team=team).update(primary=False)
        membership, created = Membership.objects.get_or_create(user=user, team=team, defaults={"primary": make_primary})
        if not created and make_primary and not membership.primary:
            membership.primary = True
            membership.save(update_fields=["primary"])
    return membership


def membership_remove(*, actor: Actor, team_id: uuid.UUID | str, user_id: uuid.UUID | str) -> None:
    """Admins remove a user from a team; if it was their primary team another one becomes primary."""
    actor.require_admin()
    with transaction.atomic():
        team = access_team(actor=actor, team_id=team_id)
        user = access_user(actor=actor, user_id=user_id)
        User.objects.select_for_update().filter(pk=user.pk).first()
        membership = Membership.objects.filter(user=user, team=team).first()
        if membership is None:
            raise NotFound("membership")
        membership.delete()
        if membership.primary:
            successor = Membership.objects.filter(user=user).order_by("created_at").first()
            if successor is not None:
                successor.primary = True
                successor.save(update_fields=["primary"])


def _active_admin_count(org_id: uuid.UUID) -> int:
    return (
        User.objects.filter(org_id=org_id, deactivated_at__isnull=True, roles__type=RoleType.ADMIN).distinct().count()
    )


def _refuse_last_admin(user: User) -> None:
    assert user.org_id is not None
    if user.roles.filter(type=RoleType.ADMIN).exists() and _active_admin_count(user.org_id) <= 1:
        raise Conflict("This is the organisation's last active admin; make someone else an admin first.")


def user_role_set(*, actor: Actor, user_id: uuid.UUID | str, role_id: uuid.UUID | str) -> User:
    """Admins grant a role to a user of their organisation (roles accumulate)."""
    actor.require_admin()
    with transaction.atomic():
        user = access_user(actor=actor, user_id=user_id)
        user.roles.add(access_role(actor=actor, role_id=role_id))
    return user


def user_role_remove(*, actor: Actor, user_id: uuid.UUID | str, role_id: uuid.UUID | str) -> User:
    """Admins take a role away; the organisation's last active admin keeps theirs."""
    actor.require_admin()
    with transaction.atomic():
        # Serialise admin-count checks per organisation.
        Organization.objects.select_for_update().filter(pk=actor.org_id).first()
        user = access_user(actor=actor, user_id=user_id)
        role = access_role(actor=actor, role_id=role_id)
        if role.type == RoleType.ADMIN and user.is_active:
            _refuse_last_admin(user)
        user.roles.remove(role)
    return user


def user_deactivate(*, actor: Actor, user_id: uuid.UUID | str) -> User:
    """Admins deactivate a user: every credential of theirs stops on its next use; data is kept."""
    actor.require_admin()
    with transaction.atomic():
        Organization.objects.select_for_update().filter(pk=actor.org_id).first()
        user = access_user(actor=actor, user_id=user_id)
        if not user.is_active:
            return user
        _refuse_last_admin(user)
        user.deactivated_at = timezone.now()
        user.save(update_fields=["deactivated_at"])
    return user


def user_reactivate(*, actor: Actor, user_id: uuid.UUID | str) -> User:
    """Admins restore a deactivated user."""
    actor.require_admin()
    user = access_user(actor=actor, user_id=user_id)
    if not user.is_active:
        user.deactivated_at = None
        user.save(update_fields=["deactivated_at"])
    return user
