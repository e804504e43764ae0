"""Writes for organisations, users, roles, teams and memberships.

Every function takes the acting `Actor` first and checks what it may do;
MCP tools, the admin and management commands all call these.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.errors import Conflict, InvalidArgument, NotFound
from accounts.models import Invitation, Membership, Organization, Role, RoleType, SeatType, Team, User
from accounts.permissions import Actor
from accounts.selectors import (
    access_invitation,
    access_org,
    access_role,
    access_team,
    access_user,
    access_user_by_email,
    invitation_status,
    users_of_org,
)

ROLE_NAMES = {RoleType.ADMIN: "Admin", RoleType.MANAGER: "Manager", RoleType.SALES_REP: "Sales Rep"}
INVITATION_LIFETIME = timedelta(days=7)


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
    display = f"[{org.name}] {bare}"
    if len(display) > Team._meta.get_field("name").max_length:  # type: ignore[operator]
        raise InvalidArgument("name", "The team name is too long.")
    return display


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
        _end_sessions(user)
        _end_credentials(user)
    return user


def _end_credentials(user: User) -> None:
    """Revoke the user's API keys and delete their OAuth tokens, grants and connections.

    Authentication already refuses a deactivated user's credentials; ending them as well means a later
    reactivation starts clean instead of bringing old keys and tokens back to life.
    """
    # Imported here: those apps depend on accounts, not the other way round.
    from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

    from apikeys.models import ApiKey
    from oauth.models import Connection

    ApiKey.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    get_refresh_token_model().objects.filter(user=user).delete()
    get_access_token_model().objects.filter(user=user).delete()
    get_grant_model().objects.filter(user=user).delete()
    Connection.objects.filter(user=user).delete()


def _end_sessions(user: User) -> None:
    """Delete the user's web sessions (the auth backend would refuse them anyway: this also drops their data).

    Sessions are signed blobs with no user column, so the live ones are decoded one by one; deactivation is rare.
    """
    user_key = str(user.pk)
    doomed = [
        s.session_key
        for s in Session.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=500)
        if s.get_decoded().get("_auth_user_id") == user_key
    ]
    Session.objects.filter(session_key__in=doomed).delete()


def user_reactivate(*, actor: Actor, user_id: uuid.UUID | str) -> User:
    """Admins restore a deactivated user; the keys and OAuth grants deactivation ended stay ended."""
    actor.require_admin()
    user = access_user(actor=actor, user_id=user_id)
    if not user.is_active:
        user.deactivated_at = None
        user.save(update_fields=["deactivated_at"])
    return user


def _lock_org(actor: Actor) -> None:
    """Serialise admin-count checks (and invitation uniqueness) per organisation."""
    Organization.objects.select_for_update().filter(pk=actor.org_id).first()


def team_member_add(
    *,
    actor: Actor,
    team_id: uuid.UUID | str,
    user_id: uuid.UUID | str | None = None,
    user_email: str | None = None,
    role_id: uuid.UUID | str | None = None,
    primary: bool = False,
) -> Membership:
    """Admins add a user, named by id or by email, to a team and optionally grant them a role in the same step.

    Every id is checked before anything is written: one foreign or unknown id changes nothing.
    """
    actor.require_admin()
    if (user_id is None) == (user_email is None):
        raise InvalidArgument("user_id", "Give exactly one of user_id or user_email.")
    with transaction.atomic():
        team = access_team(actor=actor, team_id=team_id)
        if user_id is not None:
            user = access_user(actor=actor, user_id=user_id)
        else:
            assert user_email is not None
            user = access_user_by_email(actor=actor, email=user_email)
        role = access_role(actor=actor, role_id=role_id) if role_id is not None else None
        membership = membership_add(actor=actor, team_id=team.pk, user_id=user.pk, primary=primary)
        if role is not None:
            user.roles.add(role)
    return membership


def _clean_name(field: str, value: str, max_length: int) -> str:
    value = " ".join(value.split())
    if len(value) > max_length:
        raise InvalidArgument(field, f"{field} is at most {max_length} characters.")
    return value


def _check_seat_type(seat_type: str) -> str:
    if seat_type not in SeatType.values:
        raise InvalidArgument("seat_type", f"seat_type is one of {', '.join(SeatType.values)}.")
    return seat_type


def user_update(
    *,
    actor: Actor,
    user_id: uuid.UUID | str,
    first_name: str | None = None,
    last_name: str | None = None,
    role_id: uuid.UUID | str | None = None,
    seat_type: str | None = None,
    bot_name: str | None = None,
    deals_enabled: bool | None = None,
) -> User:
    """Admins change a user's profile; None keeps a field. `role_id` replaces all the user's roles with that one,
    which the organisation's last active admin cannot use to lose the admin role.
    """
    actor.require_admin()
    with transaction.atomic():
        _lock_org(actor)
        user = access_user(actor=actor, user_id=user_id)
        role = access_role(actor=actor, role_id=role_id) if role_id is not None else None
        changed: list[str] = []
        if first_name is not None:
            user.first_name = _clean_name("first_name", first_name, 150)
            changed.append("first_name")
        if last_name is not None:
            user.last_name = _clean_name("last_name", last_name, 150)
            changed.append("last_name")
        if bot_name is not None:
            user.bot_name = _clean_name("bot_name", bot_name, 100)
            changed.append("bot_name")
        if seat_type is not None:
            user.seat_type = _check_seat_type(seat_type)
            changed.append("seat_type")
        if deals_enabled is not None:
            user.deals_enabled = deals_enabled
            changed.append("deals_enabled")
        if role is not None:
            if role.type != RoleType.ADMIN and user.is_active:
                _refuse_last_admin(user)
            user.roles.set([role])
        if changed:
            user.save(update_fields=changed)
    return user


def user_teams_update(
    *,
    actor: Actor,
    user_id: uuid.UUID | str,
    teams_to_add: Sequence[tuple[uuid.UUID | str, bool]] = (),
    team_ids_to_remove: Sequence[uuid.UUID | str] = (),
) -> User:
    """Admins add and remove a user's team memberships in one all-or-nothing step.

    `teams_to_add` is (team_id, primary) pairs, at most one primary. Afterwards a user with teams has exactly one
    primary: the one asked for, else the current one if kept, else their oldest remaining membership. Adding a
    team the user is already in (only updating primary) and removing one they are not in are no-ops.
    """
    actor.require_admin()
    if sum(1 for _, primary in teams_to_add if primary) > 1:
        raise InvalidArgument("teams_to_add", "At most one team can be primary.")
    with transaction.atomic():
        user = access_user(actor=actor, user_id=user_id)
        User.objects.select_for_update().filter(pk=user.pk).first()
        adds = [(access_team(actor=actor, team_id=team_id), primary) for team_id, primary in teams_to_add]
        removes = [access_team(actor=actor, team_id=team_id) for team_id in team_ids_to_remove]
        add_ids = [team.pk for team, _ in adds]
        if len(set(add_ids)) != len(add_ids):
            raise InvalidArgument("teams_to_add", "A team is listed twice.")
        if set(add_ids) & {team.pk for team in removes}:
            raise InvalidArgument("team_ids_to_remove", "A team cannot be both added and removed.")
        memberships = Membership.objects.filter(user=user)
        memberships.filter(team__in=removes).delete()
        for team, _ in adds:
            Membership.objects.get_or_create(user=user, team=team, defaults={"primary": False})
        wanted = next((team.pk for team, primary in adds if primary), None)
        if wanted is None:
            current = memberships.filter(primary=True).first()
            oldest = memberships.order_by("created_at", "team__name").first()
            wanted = current.team_id if current else (oldest.team_id if oldest else None)
        if wanted is not None:
            memberships.filter(primary=True).exclude(team_id=wanted).update(primary=False)
            memberships.filter(team_id=wanted).update(primary=True)
    return user


def _clean_email(email: str) -> str:
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidArgument("email", "email is not a valid email address.") from None
    return email


def invitation_create(
    *,
    actor: Actor,
    email: str,
    team_id: uuid.UUID | str | None = None,
    role_id: uuid.UUID | str | None = None,
    seat_type: str = SeatType.RECORDING,
) -> Invitation:
    """Admins who are people (not org-level keys) invite someone; the invitation names them as the inviter.

    The role defaults to the organisation's sales rep role. Refused (conflict) for an email that already has an
    account in the organisation or a pending invitation.
    """
    actor.require_admin()
    inviter_id = actor.require_user()
    email = _clean_email(email)
    seat_type = _check_seat_type(seat_type)
    with transaction.atomic():
        _lock_org(actor)
        team = access_team(actor=actor, team_id=team_id) if team_id is not None else None
        if role_id is not None:
            role = access_role(actor=actor, role_id=role_id)
        else:
            role = Role.objects.get(org_id=actor.org_id, type=RoleType.SALES_REP)
        inviter = access_user(actor=actor, user_id=inviter_id)
        if users_of_org(actor=actor, include_deactivated=True).filter(email__iexact=email).exists():
            raise Conflict("This person already has an account in the organisation.", field="email")
        now = timezone.now()
        pending = Invitation.objects.filter(
            org_id=actor.org_id, email__iexact=email, accepted_at__isnull=True, expires_at__gt=now
        ).first()
        if pending is not None:
            raise Conflict(
                "A pending invitation for this email exists: change or resend it with update_invitation.",
                field="email",
                invitation_id=str(pending.pk),
            )
        return Invitation.objects.create(
            org_id=actor.org_id,
            email=email,
            team=team,
            role=role,
            seat_type=seat_type,
            invited_by=inviter,
            created_at=now,
            expires_at=now + INVITATION_LIFETIME,
        )


def invitation_update(
    *,
    actor: Actor,
    invitation_id: uuid.UUID | str,
    team_id: uuid.UUID | str | None = None,
    role_id: uuid.UUID | str | None = None,
    seat_type: str | None = None,
    resend: bool = False,
) -> Invitation:
    """Admins who are people change a not-yet-accepted invitation (None keeps a field).

    `resend` sends it again: a fresh expiry from now, and the resending admin becomes the inviter it names.
    """
    actor.require_admin()
    user_id = actor.require_user()
    with transaction.atomic():
        invitation = access_invitation(actor=actor, invitation_id=invitation_id)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        team = access_team(actor=actor, team_id=team_id) if team_id is not None else None
        role = access_role(actor=actor, role_id=role_id) if role_id is not None else None
        if seat_type is not None:
            invitation.seat_type = _check_seat_type(seat_type)
        if invitation_status(invitation) == "accepted":
            raise Conflict("This invitation was already accepted.")
        if team is not None:
            invitation.team = team
        if role is not None:
            invitation.role = role
        if resend:
            invitation.invited_by = access_user(actor=actor, user_id=user_id)
            invitation.expires_at = timezone.now() + INVITATION_LIFETIME
        invitation.save()
    return invitation


def invitation_delete(*, actor: Actor, invitation_id: uuid.UUID | str) -> Invitation:
    """Admins who are people withdraw an invitation that was not accepted (the row is deleted; it cannot be used)."""
    actor.require_admin()
    actor.require_user()
    with transaction.atomic():
        invitation = access_invitation(actor=actor, invitation_id=invitation_id)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.accepted_at is not None:
            raise Conflict("This invitation was already accepted: deactivate the user with delete_user instead.")
        invitation_pk = invitation.pk
        invitation.delete()
        invitation.pk = invitation_pk  # Django clears it on delete; callers still report which one went
    return invitation
