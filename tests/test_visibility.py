"""Who sees which call (TOOLS.md, last section): one test per rule, on the persona world.

Visible sets are compared exactly, as "a:<call name>" / "b:<call name>" labels built
from ids (titles are identical in both organisations and would hide a leak).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from accounts.errors import NotFound
from accounts.models import RoleType, User
from accounts.permissions import Actor
from accounts.services import user_deactivate
from calls.selectors import access_call, access_snippet, calls_visible_to
from tests.factories import (
    PERSONAS,
    CallFactory,
    ParticipantFactory,
    TeamFactory,
    UserFactory,
    World,
    give_role,
    make_member,
    system_actor,
)

ActorFor = Callable[[User], Actor]

# Every call of an org except the archived one.
LIVE_CALLS = frozenset({f"{p}_public" for p in PERSONAS} | {"private_owner_private"})
ALL_CALLS = LIVE_CALLS | {"rep_sales_archived"}

# What each persona of org A sees with the default include_archived=False.
EXPECTED: dict[str, frozenset[str]] = {
    "admin": LIVE_CALLS,
    # Own, Sales members' public calls (deactivated's included: data is kept) and EMEA's, a Sales sub-team.
    "manager": frozenset(
        {
            "manager_public",
            "rep_sales_public",
            "listener_public",
            "private_owner_public",
            "deactivated_public",
            "rep_emea_public",
        }
    ),
    # Own and Sales teammates' public calls; not EMEA (another team), not the private call.
    "rep_sales": frozenset(
        {"rep_sales_public", "manager_public", "listener_public", "private_owner_public", "deactivated_public"}
    ),
    "listener": frozenset(
        {"listener_public", "manager_public", "rep_sales_public", "private_owner_public", "deactivated_public"}
    ),
    # EMEA has no other member; membership of a sub-team says nothing about the parent team.
    "rep_emea": frozenset({"rep_emea_public"}),
    "outsider_rep": frozenset({"outsider_rep_public", "internal_participant_public"}),
    "private_owner": frozenset(
        {
            "private_owner_public",
            "private_owner_private",
            "manager_public",
            "rep_sales_public",
            "listener_public",
            "deactivated_public",
        }
    ),
    # Own team (Support) plus the private Sales call taken part in.
    "internal_participant": frozenset({"internal_participant_public", "outsider_rep_public", "private_owner_private"}),
    "deactivated": frozenset(),
}


def in_org(key: str, names: frozenset[str] | set[str]) -> set[str]:
    return {f"{key}:{n}" for n in names}


def visible(world: World, actor: Actor, *, include_archived: bool = False) -> set[str]:
    return world.labels(calls_visible_to(actor=actor, include_archived=include_archived))


def test_expectations_cover_every_persona() -> None:
    assert set(EXPECTED) == set(PERSONAS)


# --------------------------------------------------------------------------- admins and org keys


def test_admin_sees_every_call_of_own_org_and_none_of_the_other(world: World, actor_for: ActorFor) -> None:
    assert visible(world, actor_for(world.a.users["admin"])) == in_org("a", LIVE_CALLS)
    assert visible(world, actor_for(world.b.users["admin"])) == in_org("b", LIVE_CALLS)


def test_org_key_sees_every_call_of_own_org_and_none_of_the_other(world: World, org_key_actor) -> None:
    assert visible(world, org_key_actor(world.a.org)) == in_org("a", LIVE_CALLS)
    assert visible(world, org_key_actor(world.b.org)) == in_org("b", LIVE_CALLS)
    assert visible(world, org_key_actor(world.b.org), include_archived=True) == in_org("b", ALL_CALLS)


# --------------------------------------------------------------------------- managers


def test_manager_sees_own_calls_and_calls_of_team_members_and_sub_team_members(
    world: World, actor_for: ActorFor
) -> None:
    assert visible(world, actor_for(world.a.users["manager"])) == in_org("a", EXPECTED["manager"])


def test_manager_sees_sub_team_rep_call_but_not_other_team_call(world: World, actor_for: ActorFor) -> None:
    seen = visible(world, actor_for(world.a.users["manager"]))
    assert "a:rep_emea_public" in seen
    assert "a:outsider_rep_public" not in seen
    assert "a:internal_participant_public" not in seen


def test_manager_sees_other_team_call_he_took_part_in(world: World, actor_for: ActorFor) -> None:
    ParticipantFactory.create(call=world.a.calls["outsider_rep_public"], user=world.a.users["manager"])
    assert visible(world, actor_for(world.a.users["manager"])) == in_org(
        "a", EXPECTED["manager"] | {"outsider_rep_public"}
    )


def test_manager_does_not_see_private_call_of_team_member(world: World, actor_for: ActorFor) -> None:
    assert "a:private_owner_private" not in visible(world, actor_for(world.a.users["manager"]))
    with pytest.raises(NotFound):
        access_call(actor=actor_for(world.a.users["manager"]), call_id=world.a.calls["private_owner_private"].pk)


def test_manager_sees_calls_of_members_of_sub_teams_at_any_depth(world: World, actor_for: ActorFor) -> None:
    # Sales > EMEA > London: the Sales manager reaches two levels down; a Sales rep does not.
    london = TeamFactory.create(org=world.a.org, name="London", parent=world.a.teams["emea"])
    london_rep = UserFactory.create(org=world.a.org)
    make_member(london_rep, london)
    london_call = CallFactory.create(owner=london_rep, team=london)
    assert visible(world, actor_for(world.a.users["manager"])) == in_org("a", EXPECTED["manager"]) | {
        f"?:{london_call.pk}"
    }
    assert visible(world, actor_for(world.a.users["rep_sales"])) == in_org("a", EXPECTED["rep_sales"])


def test_manager_scope_goes_down_the_tree_not_up(world: World, actor_for: ActorFor) -> None:
    # rep_emea made a manager of EMEA: he reaches London below, not Sales above.
    london = TeamFactory.create(org=world.a.org, name="London", parent=world.a.teams["emea"])
    london_rep = UserFactory.create(org=world.a.org)
    make_member(london_rep, london)
    london_call = CallFactory.create(owner=london_rep, team=london)
    give_role(world.a.users["rep_emea"], RoleType.MANAGER)
    assert visible(world, actor_for(world.a.users["rep_emea"])) == {"a:rep_emea_public", f"?:{london_call.pk}"}


# --------------------------------------------------------------------------- reps and listeners


def test_rep_sees_own_calls_and_public_calls_of_teammates(world: World, actor_for: ActorFor) -> None:
    assert visible(world, actor_for(world.a.users["rep_sales"])) == in_org("a", EXPECTED["rep_sales"])


def test_rep_does_not_see_calls_of_sub_team_rep(world: World, actor_for: ActorFor) -> None:
    assert "a:rep_emea_public" not in visible(world, actor_for(world.a.users["rep_sales"]))


def test_rep_sees_sub_team_rep_call_once_that_rep_also_joins_his_team(world: World, actor_for: ActorFor) -> None:
    make_member(world.a.users["rep_emea"], world.a.teams["sales"])
    assert visible(world, actor_for(world.a.users["rep_sales"])) == in_org(
        "a", EXPECTED["rep_sales"] | {"rep_emea_public"}
    )


def test_sub_team_rep_does_not_see_parent_team_calls(world: World, actor_for: ActorFor) -> None:
    assert visible(world, actor_for(world.a.users["rep_emea"])) == in_org("a", EXPECTED["rep_emea"])


def test_listener_sees_what_a_rep_of_the_same_team_sees(world: World, actor_for: ActorFor) -> None:
    # Both are in Sales with the sales_rep role; only the seat differs.
    listener = visible(world, actor_for(world.a.users["listener"]))
    assert listener == in_org("a", EXPECTED["listener"])
    assert listener == visible(world, actor_for(world.a.users["rep_sales"]))


def test_rep_sees_other_team_call_he_took_part_in(world: World, actor_for: ActorFor) -> None:
    ParticipantFactory.create(call=world.a.calls["outsider_rep_public"], user=world.a.users["rep_emea"])
    assert visible(world, actor_for(world.a.users["rep_emea"])) == in_org(
        "a", {"rep_emea_public", "outsider_rep_public"}
    )


def test_other_team_rep_sees_only_own_team(world: World, actor_for: ActorFor) -> None:
    assert visible(world, actor_for(world.a.users["outsider_rep"])) == in_org("a", EXPECTED["outsider_rep"])


# --------------------------------------------------------------------------- private calls


def test_private_call_is_visible_only_to_owner_internal_participants_and_admins(
    world: World, actor_for: ActorFor, org_key_actor
) -> None:
    private_id = world.a.calls["private_owner_private"].pk
    seers = {
        persona
        for persona, user in world.a.users.items()
        if calls_visible_to(actor=actor_for(user)).filter(pk=private_id).exists()
    }
    assert seers == {"admin", "private_owner", "internal_participant"}
    assert calls_visible_to(actor=org_key_actor(world.a.org)).filter(pk=private_id).exists()


def test_owner_sees_own_private_call(world: World, actor_for: ActorFor) -> None:
    assert visible(world, actor_for(world.a.users["private_owner"])) == in_org("a", EXPECTED["private_owner"])


def test_internal_participant_sees_private_call_of_another_team(world: World, actor_for: ActorFor) -> None:
    assert visible(world, actor_for(world.a.users["internal_participant"])) == in_org(
        "a", EXPECTED["internal_participant"]
    )


def test_teammates_do_not_see_private_call(world: World, actor_for: ActorFor) -> None:
    for persona in ("rep_sales", "listener"):
        assert "a:private_owner_private" not in visible(world, actor_for(world.a.users[persona]))


# --------------------------------------------------------------------------- archived calls


def test_archived_call_is_hidden_unless_include_archived(world: World, actor_for: ActorFor) -> None:
    for persona in ("rep_sales", "manager", "listener"):
        actor = actor_for(world.a.users[persona])
        assert visible(world, actor) == in_org("a", EXPECTED[persona])
        assert visible(world, actor, include_archived=True) == in_org("a", EXPECTED[persona] | {"rep_sales_archived"})
    assert visible(world, actor_for(world.a.users["admin"]), include_archived=True) == in_org("a", ALL_CALLS)


def test_include_archived_does_not_widen_visibility_beyond_the_rules(world: World, actor_for: ActorFor) -> None:
    for persona in ("rep_emea", "outsider_rep", "internal_participant", "deactivated"):
        assert visible(world, actor_for(world.a.users[persona]), include_archived=True) == in_org(
            "a", EXPECTED[persona]
        )


def test_archived_call_is_reachable_by_id_for_those_who_may_see_it(world: World, actor_for: ActorFor) -> None:
    archived = world.a.calls["rep_sales_archived"]
    assert access_call(actor=actor_for(world.a.users["rep_sales"]), call_id=archived.pk) == archived
    with pytest.raises(NotFound):
        access_call(actor=actor_for(world.a.users["outsider_rep"]), call_id=archived.pk)


# --------------------------------------------------------------------------- deactivated users


def test_deactivated_user_sees_nothing_even_through_an_actor_built_before(world: World, actor_for: ActorFor) -> None:
    rep = world.a.users["rep_sales"]
    actor = actor_for(rep)
    assert visible(world, actor) == in_org("a", EXPECTED["rep_sales"])

    user_deactivate(actor=system_actor(world.a.org), user_id=rep.pk)

    # The stale actor still claims the user; the queryset re-checks the user row itself.
    assert visible(world, actor) == set()
    assert visible(world, actor, include_archived=True) == set()
    with pytest.raises(NotFound):
        access_call(actor=actor, call_id=world.a.calls["rep_sales_public"].pk)


def test_actor_for_already_deactivated_user_is_built_but_sees_nothing(world: World, actor_for: ActorFor) -> None:
    user = world.a.users["deactivated"]
    actor = actor_for(user)
    assert actor.user_id == user.pk
    assert actor.roles == {"sales_rep"}
    assert visible(world, actor, include_archived=True) == set()
    with pytest.raises(NotFound):
        access_call(actor=actor, call_id=world.a.calls["deactivated_public"].pk)


def test_deactivated_admin_sees_nothing(world: World, actor_for: ActorFor) -> None:
    give_role(world.a.users["manager"], RoleType.ADMIN)  # so the admin is not the last one
    admin = world.a.users["admin"]
    actor = actor_for(admin)
    user_deactivate(actor=system_actor(world.a.org), user_id=admin.pk)
    assert visible(world, actor, include_archived=True) == set()


def test_calls_of_deactivated_user_stay_visible_to_their_team(world: World, actor_for: ActorFor) -> None:
    # Deactivation ends the user's access, not their data.
    for persona in ("admin", "manager", "rep_sales"):
        assert "a:deactivated_public" in visible(world, actor_for(world.a.users[persona]))


# --------------------------------------------------------------------------- other organisation


def test_other_org_member_sees_nothing_of_org_a_even_when_named_as_participant(
    world: World, actor_for: ActorFor
) -> None:
    named = world.b.users["rep_sales"]
    # A's rep_sales call already names B's rep_sales by name and email (tests/conftest.py);
    # here A's call even links the B user, as a corrupt import might.
    ParticipantFactory.create(call=world.a.calls["rep_sales_public"], user=named)
    ParticipantFactory.create(call=world.a.calls["outsider_rep_public"], user=named)
    assert visible(world, actor_for(named), include_archived=True) == in_org(
        "b", EXPECTED["rep_sales"] | {"rep_sales_archived"}
    )


def test_other_org_admin_sees_none_of_org_a(world: World, actor_for: ActorFor) -> None:
    seen = visible(world, actor_for(world.b.users["admin"]), include_archived=True)
    assert seen == in_org("b", ALL_CALLS)


def test_other_org_key_sees_nothing_of_org_a(world: World, org_key_actor) -> None:
    assert not any(
        label.startswith("a:") for label in visible(world, org_key_actor(world.b.org), include_archived=True)
    )
    for call in world.a.calls.values():
        with pytest.raises(NotFound):
            access_call(actor=org_key_actor(world.b.org), call_id=call.pk)


def test_actor_claiming_a_user_of_another_org_sees_nothing(world: World) -> None:
    # A forged or mis-built actor: org A, but the user is B's admin.
    forged = Actor(
        org_id=world.a.org.pk,
        user_id=world.b.users["admin"].pk,
        roles=frozenset({"admin"}),
        scopes=frozenset(),
        via="oauth",
    )
    assert visible(world, forged, include_archived=True) == set()


def test_each_persona_sees_the_mirror_image_in_the_mirror_org(world: World, actor_for: ActorFor) -> None:
    for persona in PERSONAS:
        assert visible(world, actor_for(world.a.users[persona])) == in_org("a", EXPECTED[persona]), persona
        assert visible(world, actor_for(world.b.users[persona])) == in_org("b", EXPECTED[persona]), persona


# --------------------------------------------------------------------------- access_call and friends


def test_access_call_returns_a_visible_call(world: World, actor_for: ActorFor) -> None:
    call = world.a.calls["manager_public"]
    assert access_call(actor=actor_for(world.a.users["rep_sales"]), call_id=call.pk) == call
    assert access_call(actor=actor_for(world.a.users["rep_sales"]), call_id=str(call.pk)) == call


def test_access_call_raises_the_same_not_found_for_invisible_other_org_and_missing_ids(
    world: World, actor_for: ActorFor
) -> None:
    actor = actor_for(world.a.users["rep_sales"])
    cases = {
        "not visible": world.a.calls["private_owner_private"].pk,
        "other org": world.b.calls["rep_sales_public"].pk,
        "missing": uuid.uuid4(),
    }
    for case, call_id in cases.items():
        with pytest.raises(NotFound) as excinfo:
            access_call(actor=actor, call_id=call_id)
        err = excinfo.value
        assert type(err) is NotFound, case
        assert err.as_dict() == {"error": "not_found", "message": f"call {call_id} not found"}, case


def test_access_call_raises_not_found_for_a_malformed_id(world: World, actor_for: ActorFor) -> None:
    actor = actor_for(world.a.users["rep_sales"])
    with pytest.raises(NotFound) as excinfo:
        access_call(actor=actor, call_id="not-a-uuid")
    assert excinfo.value.as_dict() == {"error": "not_found", "message": "call not-a-uuid not found"}


def test_snippet_of_a_call_one_cannot_see_is_not_found(world: World, actor_for: ActorFor) -> None:
    private_snippet = world.a.snippets["private_owner_private"]
    assert access_snippet(actor=actor_for(world.a.users["private_owner"]), snippet_id=private_snippet.pk).pk == (
        private_snippet.pk
    )
    for user in (world.a.users["rep_sales"], world.a.users["manager"], world.b.users["admin"]):
        with pytest.raises(NotFound):
            access_snippet(actor=actor_for(user), snippet_id=private_snippet.pk)


# --------------------------------------------------------------------------- one statement


def test_calls_visible_to_is_one_sql_query_for_every_kind_of_actor(
    world: World, actor_for: ActorFor, org_key_actor, django_assert_num_queries
) -> None:
    actors = [actor_for(world.a.users[p]) for p in ("admin", "manager", "rep_sales", "listener", "deactivated")]
    actors.append(org_key_actor(world.a.org))
    for actor in actors:
        for include_archived in (False, True):
            with django_assert_num_queries(1):
                list(calls_visible_to(actor=actor, include_archived=include_archived))
