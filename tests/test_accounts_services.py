"""accounts/services.py: teams, memberships, roles and deactivation, on the persona world.

Refusals are checked twice: the error (type, code, field) and an unchanged database
(`snapshot`), since a service that raises after writing is as wrong as one that does not raise.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from accounts.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from accounts.models import Membership, Role, RoleType, Team, User
from accounts.permissions import Actor
from accounts.services import (
    membership_add,
    membership_remove,
    team_archive,
    team_create,
    team_update,
    user_deactivate,
    user_reactivate,
    user_role_remove,
    user_role_set,
)
from calls.selectors import calls_visible_to
from tests.factories import OrgWorld, UserFactory, World, give_role, make_member

ActorFor = Callable[[User], Actor]


def snapshot() -> dict[str, Any]:
    """Everything the account services write, for both organisations."""
    return {
        "teams": sorted(Team.objects.values_list("id", "name", "parent_id", "path", "archived")),
        "memberships": sorted(Membership.objects.values_list("user_id", "team_id", "primary")),
        "roles": sorted(Role.objects.filter(users__isnull=False).values_list("users", "id")),
        "users": sorted(User.objects.values_list("id", "deactivated_at")),
    }


def role(w: OrgWorld, role_type: str) -> Role:
    return Role.objects.get(org=w.org, type=role_type)


def primaries(user: User) -> list[str]:
    return list(Membership.objects.filter(user=user, primary=True).values_list("team__name", flat=True))


def team_by_name(w: OrgWorld, name: str) -> Team:
    return Team.objects.get(org=w.org, name=name)


@pytest.fixture
def admin_a(world: World, actor_for: ActorFor) -> Actor:
    return actor_for(world.a.users["admin"])


# --------------------------------------------------------------------------- team_create


def test_team_create_prefixes_the_org_name_and_makes_a_top_level_path(world: World, admin_a: Actor) -> None:
    team = team_create(actor=admin_a, name="  Renewals   Desk ")
    assert team.name == "[Acme] Renewals Desk"
    assert team.org_id == world.a.org.pk
    assert team.parent_id is None
    assert team.path == f"/{team.pk.hex}/"


def test_team_create_does_not_double_prefix(admin_a: Actor) -> None:
    assert team_create(actor=admin_a, name="[Acme] Renewals").name == "[Acme] Renewals"


def test_team_create_under_a_parent_extends_the_parent_path(world: World, admin_a: Actor) -> None:
    emea = world.a.teams["emea"]
    team = team_create(actor=admin_a, name="London", parent_team_id=emea.pk)
    assert team.parent_id == emea.pk
    assert team.path == f"{world.a.teams['sales'].path}{emea.pk.hex}/{team.pk.hex}/"


def test_team_create_refuses_empty_names(admin_a: Actor, subtests) -> None:
    before = snapshot()
    for name in ("", "   ", "\t\n"):
        with subtests.test(name=name):
            with pytest.raises(InvalidArgument) as excinfo:
                team_create(actor=admin_a, name=name)
            assert excinfo.value.field == "name"
    assert snapshot() == before


def test_team_create_refuses_a_name_that_is_only_the_org_prefix(admin_a: Actor) -> None:
    before = snapshot()
    with pytest.raises(InvalidArgument):
        team_create(actor=admin_a, name="[Acme] ")
    assert snapshot() == before


def test_team_create_refuses_a_name_already_taken_in_the_org(world: World, admin_a: Actor, subtests) -> None:
    before = snapshot()
    for name in ("Sales", "[Acme] Sales", " Sales "):
        with subtests.test(name=name):
            with pytest.raises(Conflict) as excinfo:
                team_create(actor=admin_a, name=name)
            assert excinfo.value.code == "conflict"
            assert excinfo.value.details == {"field": "name"}
    assert snapshot() == before


def test_team_names_are_unique_per_org_only(world: World) -> None:
    # The mirror org holds the very same names.
    assert {t.name for t in world.a.teams.values()} == {t.name for t in world.b.teams.values()}


# --------------------------------------------------------------------------- team_update


def test_team_update_renames_with_prefix_and_keeps_parent(world: World, admin_a: Actor) -> None:
    emea = world.a.teams["emea"]
    team = team_update(actor=admin_a, team_id=emea.pk, name="Europe")
    team.refresh_from_db()
    assert (team.name, team.parent_id, team.path) == ("[Acme] Europe", emea.parent_id, emea.path)


def test_team_update_keeping_its_own_name_is_not_a_conflict(world: World, admin_a: Actor) -> None:
    assert team_update(actor=admin_a, team_id=world.a.teams["emea"].pk, name="EMEA").name == "[Acme] EMEA"


def test_team_update_refuses_a_name_taken_by_another_team(world: World, admin_a: Actor) -> None:
    before = snapshot()
    with pytest.raises(Conflict):
        team_update(actor=admin_a, team_id=world.a.teams["emea"].pk, name="Support")
    assert snapshot() == before


def test_team_update_refuses_moving_a_team_under_itself_or_a_descendant(world: World, admin_a: Actor, subtests) -> None:
    london = team_create(actor=admin_a, name="London", parent_team_id=world.a.teams["emea"].pk)
    before = snapshot()
    # Sales itself, its child EMEA and its grandchild London.
    for target in (world.a.teams["sales"], world.a.teams["emea"], london):
        with subtests.test(new_parent=target.name):
            with pytest.raises(InvalidArgument) as excinfo:
                # The rename in the same call must not survive the refusal either.
                team_update(actor=admin_a, team_id=world.a.teams["sales"].pk, name="Renamed", parent_team_id=target.pk)
            assert excinfo.value.field == "parent_team_id"
            assert excinfo.value.code == "invalid_argument"
            assert snapshot() == before


def test_moving_a_subtree_rewrites_every_descendant_path(world: World, admin_a: Actor) -> None:
    sales, emea, support = world.a.teams["sales"], world.a.teams["emea"], world.a.teams["support"]
    london = team_create(actor=admin_a, name="London", parent_team_id=emea.pk)
    docklands = team_create(actor=admin_a, name="Docklands", parent_team_id=london.pk)

    team_update(actor=admin_a, team_id=emea.pk, parent_team_id=support.pk)

    for t in (sales, emea, support, london, docklands):
        t.refresh_from_db()
    assert emea.parent_id == support.pk
    assert emea.path == f"{support.path}{emea.pk.hex}/"
    assert london.path == f"{emea.path}{london.pk.hex}/"
    assert docklands.path == f"{london.path}{docklands.pk.hex}/"
    assert sales.path == f"/{sales.pk.hex}/"
    # The mirror org's teams are untouched.
    assert world.b.teams["emea"].path == Team.objects.get(pk=world.b.teams["emea"].pk).path


def test_moving_a_team_to_the_top_level_carries_its_sub_teams(world: World, admin_a: Actor) -> None:
    emea = world.a.teams["emea"]
    london = team_create(actor=admin_a, name="London", parent_team_id=emea.pk)
    team_update(actor=admin_a, team_id=emea.pk, parent_team_id=None)
    emea.refresh_from_db()
    london.refresh_from_db()
    assert (emea.parent_id, emea.path) == (None, f"/{emea.pk.hex}/")
    assert london.path == f"/{emea.pk.hex}/{london.pk.hex}/"


def test_moved_team_calls_follow_it_to_the_new_parents_manager(
    world: World, admin_a: Actor, actor_for: ActorFor
) -> None:
    # outsider_rep becomes the Support manager; the Sales manager had EMEA below him.
    give_role(world.a.users["outsider_rep"], RoleType.MANAGER)
    support_manager, sales_manager = world.a.users["outsider_rep"], world.a.users["manager"]
    emea_call = world.a.calls["rep_emea_public"].pk

    def sees(user: User) -> bool:
        return calls_visible_to(actor=actor_for(user)).filter(pk=emea_call).exists()

    assert (sees(sales_manager), sees(support_manager)) == (True, False)
    team_update(actor=admin_a, team_id=world.a.teams["emea"].pk, parent_team_id=world.a.teams["support"].pk)
    assert (sees(sales_manager), sees(support_manager)) == (False, True)


def test_team_depth_is_limited_on_create_and_on_move(world: World, admin_a: Actor) -> None:
    chain: list[Team] = []
    for depth in range(1, Team.MAX_DEPTH + 1):
        parent = chain[-1].pk if chain else None
        chain.append(team_create(actor=admin_a, name=f"Level {depth}", parent_team_id=parent))
    assert chain[-1].path.count("/") - 1 == Team.MAX_DEPTH

    before = snapshot()
    with pytest.raises(InvalidArgument) as excinfo:
        team_create(actor=admin_a, name="Too deep", parent_team_id=chain[-1].pk)
    assert excinfo.value.field == "parent_team_id"
    assert snapshot() == before

    # Sales is two levels tall (Sales > EMEA): under level MAX-1 EMEA would sit at MAX+1.
    sales = world.a.teams["sales"]
    with pytest.raises(InvalidArgument) as excinfo:
        team_update(actor=admin_a, team_id=sales.pk, parent_team_id=chain[-2].pk)
    assert excinfo.value.field == "parent_team_id"
    assert snapshot() == before

    team_update(actor=admin_a, team_id=sales.pk, parent_team_id=chain[-3].pk)
    assert Team.objects.get(pk=world.a.teams["emea"].pk).path.count("/") - 1 == Team.MAX_DEPTH


def test_team_archive_is_reversible(world: World, admin_a: Actor) -> None:
    support = world.a.teams["support"]
    assert team_archive(actor=admin_a, team_id=support.pk).archived is True
    assert team_archive(actor=admin_a, team_id=support.pk, archived=False).archived is False
    assert Membership.objects.filter(team=support).count() == 2


# --------------------------------------------------------------------------- memberships


def test_membership_add_keeps_exactly_one_primary(world: World, admin_a: Actor) -> None:
    user = UserFactory.create(org=world.a.org)
    t = world.a.teams
    membership_add(actor=admin_a, team_id=t["support"].pk, user_id=user.pk)
    assert primaries(user) == ["[Acme] Support"]  # the first team becomes primary

    membership_add(actor=admin_a, team_id=t["sales"].pk, user_id=user.pk)
    assert primaries(user) == ["[Acme] Support"]

    membership_add(actor=admin_a, team_id=t["emea"].pk, user_id=user.pk, primary=True)
    assert primaries(user) == ["[Acme] EMEA"]

    # An existing membership made primary.
    membership_add(actor=admin_a, team_id=t["sales"].pk, user_id=user.pk, primary=True)
    assert primaries(user) == ["[Acme] Sales"]

    # Re-adding the primary team without primary=True leaves it primary.
    membership_add(actor=admin_a, team_id=t["sales"].pk, user_id=user.pk)
    assert primaries(user) == ["[Acme] Sales"]
    assert Membership.objects.filter(user=user).count() == 3


def test_membership_remove_of_the_primary_team_promotes_another(world: World, admin_a: Actor) -> None:
    user = UserFactory.create(org=world.a.org)
    make_member(user, world.a.teams["support"])
    make_member(user, world.a.teams["sales"])
    assert primaries(user) == ["[Acme] Support"]

    membership_remove(actor=admin_a, team_id=world.a.teams["support"].pk, user_id=user.pk)
    assert primaries(user) == ["[Acme] Sales"]

    membership_remove(actor=admin_a, team_id=world.a.teams["sales"].pk, user_id=user.pk)
    assert not Membership.objects.filter(user=user).exists()


def test_membership_remove_of_a_secondary_team_keeps_the_primary(world: World, admin_a: Actor) -> None:
    rep = world.a.users["rep_sales"]
    make_member(rep, world.a.teams["support"])
    membership_remove(actor=admin_a, team_id=world.a.teams["support"].pk, user_id=rep.pk)
    assert primaries(rep) == ["[Acme] Sales"]


def test_membership_remove_of_a_non_member_is_not_found(world: World, admin_a: Actor) -> None:
    before = snapshot()
    with pytest.raises(NotFound):
        membership_remove(actor=admin_a, team_id=world.a.teams["support"].pk, user_id=world.a.users["rep_sales"].pk)
    assert snapshot() == before


# --------------------------------------------------------------------------- roles and the last admin


def test_user_role_set_and_remove(world: World, admin_a: Actor, actor_for: ActorFor) -> None:
    rep = world.a.users["rep_sales"]
    user_role_set(actor=admin_a, user_id=rep.pk, role_id=role(world.a, RoleType.MANAGER).pk)
    assert actor_for(rep).roles == {"sales_rep", "manager"}
    user_role_remove(actor=admin_a, user_id=rep.pk, role_id=role(world.a, RoleType.SALES_REP).pk)
    assert actor_for(rep).roles == {"manager"}


def test_user_role_remove_refuses_to_remove_the_last_active_admin(world: World, admin_a: Actor) -> None:
    before = snapshot()
    with pytest.raises(Conflict):
        user_role_remove(actor=admin_a, user_id=world.a.users["admin"].pk, role_id=role(world.a, RoleType.ADMIN).pk)
    assert snapshot() == before


def test_user_role_remove_of_an_admin_is_allowed_while_another_admin_is_active(
    world: World, admin_a: Actor, actor_for: ActorFor
) -> None:
    give_role(world.a.users["manager"], RoleType.ADMIN)
    user_role_remove(actor=admin_a, user_id=world.a.users["admin"].pk, role_id=role(world.a, RoleType.ADMIN).pk)
    assert "admin" not in actor_for(world.a.users["admin"]).roles


def test_deactivated_admins_do_not_count_as_remaining_admins(world: World, admin_a: Actor) -> None:
    give_role(world.a.users["manager"], RoleType.ADMIN)
    user_deactivate(actor=admin_a, user_id=world.a.users["manager"].pk)
    before = snapshot()
    with pytest.raises(Conflict):
        user_role_remove(actor=admin_a, user_id=world.a.users["admin"].pk, role_id=role(world.a, RoleType.ADMIN).pk)
    with pytest.raises(Conflict):
        user_deactivate(actor=admin_a, user_id=world.a.users["admin"].pk)
    assert snapshot() == before


def test_user_deactivate_refuses_the_last_active_admin(world: World, admin_a: Actor) -> None:
    before = snapshot()
    with pytest.raises(Conflict):
        user_deactivate(actor=admin_a, user_id=world.a.users["admin"].pk)
    assert snapshot() == before
    # The mirror org's admin is no help: admins are counted per organisation.
    assert world.b.users["admin"].is_active


def test_user_deactivate_and_reactivate(world: World, admin_a: Actor) -> None:
    rep = world.a.users["rep_sales"]
    assert user_deactivate(actor=admin_a, user_id=rep.pk).deactivated_at is not None
    assert not User.objects.get(pk=rep.pk).is_active
    # Memberships and roles are kept.
    assert primaries(rep) == ["[Acme] Sales"]
    assert user_reactivate(actor=admin_a, user_id=rep.pk).is_active
    assert User.objects.get(pk=rep.pk).is_active


# --------------------------------------------------------------------------- who may call the admin services

# name -> call(actor, world); every call is valid for an admin of org A.
ADMIN_SERVICES: dict[str, Callable[[Actor, World], object]] = {
    "team_create": lambda actor, w: team_create(actor=actor, name="New team"),
    "team_update": lambda actor, w: team_update(actor=actor, team_id=w.a.teams["emea"].pk, name="Europe"),
    "team_move": lambda actor, w: team_update(
        actor=actor, team_id=w.a.teams["emea"].pk, parent_team_id=w.a.teams["support"].pk
    ),
    "team_archive": lambda actor, w: team_archive(actor=actor, team_id=w.a.teams["support"].pk),
    "membership_add": lambda actor, w: membership_add(
        actor=actor, team_id=w.a.teams["support"].pk, user_id=w.a.users["rep_sales"].pk, primary=True
    ),
    "membership_remove": lambda actor, w: membership_remove(
        actor=actor, team_id=w.a.teams["sales"].pk, user_id=w.a.users["rep_sales"].pk
    ),
    "user_role_set": lambda actor, w: user_role_set(
        actor=actor, user_id=w.a.users["rep_sales"].pk, role_id=role(w.a, RoleType.ADMIN).pk
    ),
    "user_role_remove": lambda actor, w: user_role_remove(
        actor=actor, user_id=w.a.users["rep_sales"].pk, role_id=role(w.a, RoleType.SALES_REP).pk
    ),
    "user_deactivate": lambda actor, w: user_deactivate(actor=actor, user_id=w.a.users["rep_sales"].pk),
    "user_reactivate": lambda actor, w: user_reactivate(actor=actor, user_id=w.a.users["deactivated"].pk),
}


def test_admin_services_refuse_every_non_admin_with_admin_required(world: World, actor_for: ActorFor, subtests) -> None:
    for persona in ("manager", "rep_sales", "listener", "rep_emea"):
        actor = actor_for(world.a.users[persona])
        for name, call in ADMIN_SERVICES.items():
            with subtests.test(persona=persona, service=name):
                before = snapshot()
                with pytest.raises(PermissionDenied) as excinfo:
                    call(actor, world)
                assert excinfo.value.code == "admin_required"
                assert excinfo.value.as_dict()["error"] == "admin_required"
                assert snapshot() == before


@pytest.mark.parametrize("kind", ["admin", "org_key"])
def test_admin_services_accept_admins_and_org_keys(
    world: World, actor_for: ActorFor, org_key_actor, subtests, kind: str
) -> None:
    # The positive side of the refusal test above: the same calls succeed for admin reach.
    actor = actor_for(world.a.users["admin"]) if kind == "admin" else org_key_actor(world.a.org)
    for name, call in ADMIN_SERVICES.items():
        with subtests.test(service=name):
            before = snapshot()
            call(actor, world)
            assert snapshot() != before


# --------------------------------------------------------------------------- other organisation's ids

# name -> call(admin actor of org A, world); each names something of org B.
CROSS_ORG: dict[str, Callable[[Actor, World], object]] = {
    "team_create under B's team": lambda actor, w: team_create(
        actor=actor, name="New team", parent_team_id=w.b.teams["sales"].pk
    ),
    "team_update of B's team": lambda actor, w: team_update(actor=actor, team_id=w.b.teams["sales"].pk, name="Mine"),
    "team_update moving A's team under B's": lambda actor, w: team_update(
        actor=actor, team_id=w.a.teams["emea"].pk, name="Europe", parent_team_id=w.b.teams["support"].pk
    ),
    "team_update moving B's team under A's": lambda actor, w: team_update(
        actor=actor, team_id=w.b.teams["emea"].pk, parent_team_id=w.a.teams["support"].pk
    ),
    "team_archive of B's team": lambda actor, w: team_archive(actor=actor, team_id=w.b.teams["sales"].pk),
    "membership_add to B's team": lambda actor, w: membership_add(
        actor=actor, team_id=w.b.teams["sales"].pk, user_id=w.a.users["rep_sales"].pk
    ),
    "membership_add of B's user": lambda actor, w: membership_add(
        actor=actor, team_id=w.a.teams["sales"].pk, user_id=w.b.users["rep_sales"].pk, primary=True
    ),
    "membership_remove in B": lambda actor, w: membership_remove(
        actor=actor, team_id=w.b.teams["sales"].pk, user_id=w.b.users["rep_sales"].pk
    ),
    "user_role_set of B's role": lambda actor, w: user_role_set(
        actor=actor, user_id=w.a.users["rep_sales"].pk, role_id=role(w.b, RoleType.ADMIN).pk
    ),
    "user_role_set on B's user": lambda actor, w: user_role_set(
        actor=actor, user_id=w.b.users["rep_sales"].pk, role_id=role(w.a, RoleType.ADMIN).pk
    ),
    "user_role_remove on B's user": lambda actor, w: user_role_remove(
        actor=actor, user_id=w.b.users["manager"].pk, role_id=role(w.b, RoleType.MANAGER).pk
    ),
    "user_deactivate of B's user": lambda actor, w: user_deactivate(actor=actor, user_id=w.b.users["rep_sales"].pk),
    "user_reactivate of B's user": lambda actor, w: user_reactivate(actor=actor, user_id=w.b.users["deactivated"].pk),
}


def test_ids_of_another_org_are_not_found_and_change_nothing(
    world: World, admin_a: Actor, org_key_actor, subtests
) -> None:
    for actor in (admin_a, org_key_actor(world.a.org)):
        for name, call in CROSS_ORG.items():
            with subtests.test(via=actor.via, case=name):
                before = snapshot()
                with pytest.raises(NotFound) as excinfo:
                    call(actor, world)
                assert excinfo.value.code == "not_found"
                # The message echoes the id as sent and nothing about B.
                assert "Acme" not in excinfo.value.message
                assert "acme-mirror" not in excinfo.value.message
                assert snapshot() == before


def test_missing_ids_are_not_found_like_other_orgs_ids(world: World, admin_a: Actor) -> None:
    missing = uuid.uuid4()
    with pytest.raises(NotFound) as missing_err:
        team_archive(actor=admin_a, team_id=missing)
    with pytest.raises(NotFound) as foreign_err:
        team_archive(actor=admin_a, team_id=world.b.teams["sales"].pk)
    assert missing_err.value.as_dict() == {"error": "not_found", "message": f"team {missing} not found"}
    assert foreign_err.value.as_dict() == {
        "error": "not_found",
        "message": f"team {world.b.teams['sales'].pk} not found",
    }
