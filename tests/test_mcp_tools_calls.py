"""update_call, archive_call and change_conversation_labels, called in-process through the registry's own call
path (`registry.call_tool`: scope checks, argument validation, error translation) on the persona `world`
(tests/conftest.py): two mirrored organisations, so a leak shows up as an id of the wrong one.

Labels used here (both organisations get the same names, with their own ids):

    Call Type    all teams           Discovery, Demo, Negotiation
    Escalation   limited to Support  Yes, No

Refusals are asserted twice: the error, and an unchanged `snapshot()` of everything these tools write.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command

from accounts.models import Organization, Team, User
from accounts.permissions import ALL_SCOPES, READ, Actor
from accounts.selectors import actor_for_user
from calls.models import Call, CallLabel, LabelCategory, LabelOption
from mcpgateway import registry
from tests.factories import OrgWorld, World
from tests.support.tools import err, ok

ActorFor = Callable[[User], Actor]

# --- helpers -----------------------------------------------------------------------------------------------------


def snapshot() -> dict[str, Any]:
    """Everything update_call, archive_call and change_conversation_labels write, in both organisations."""
    return {
        "calls": sorted(Call.objects.values_list("id", "title", "private", "archived")),
        "call_labels": sorted(CallLabel.objects.values_list("call_id", "category_id", "option_id")),
    }


def read_only(user: User) -> Actor:
    return actor_for_user(user=user, via="oauth", scopes=frozenset({READ}))


def cid(w: OrgWorld, name: str) -> str:
    return str(w.calls[name].pk)


def make_labels(org: Organization, support: Team) -> dict[str, LabelCategory]:
    call_type = LabelCategory.objects.create(org=org, name="Call Type")
    for position, value in enumerate(("Discovery", "Demo", "Negotiation")):
        LabelOption.objects.create(category=call_type, value=value, position=position)
    escalation = LabelCategory.objects.create(org=org, name="Escalation", all_teams=False)
    escalation.teams.add(support)
    for position, value in enumerate(("Yes", "No")):
        LabelOption.objects.create(category=escalation, value=value, position=position)
    return {"call_type": call_type, "escalation": escalation}


@pytest.fixture
def labels(world: World) -> dict[str, dict[str, LabelCategory]]:
    """Per organisation key ("a", "b"): the labels of the module docstring."""
    return {w.key: make_labels(w.org, w.teams["support"]) for w in (world.a, world.b)}


def option(label: LabelCategory, value: str) -> LabelOption:
    return LabelOption.objects.get(category=label, value=value)


def labels_on(c: Call) -> dict[str, str]:
    return {
        cl.category.name: cl.option.value
        for cl in CallLabel.objects.filter(call=c).select_related("category", "option")
    }


# --- schemas (marks and descriptions: the coverage guard in tests/test_authz_matrix.py) ----------------------------


def test_lists_take_page_size_up_to_50_and_a_cursor() -> None:
    for name in ("list_labels", "list_snippets"):
        props = registry.tools()[name].input_schema["properties"]
        assert props["page_size"]["default"] == 20
        assert props["page_size"]["maximum"] == 50
        assert "cursor" in props
        assert "next_cursor" in registry.tools()[name].output_schema["properties"]


# --- update_call ---------------------------------------------------------------------------------------------------


def test_owner_renames_own_call_and_gets_it_in_the_search_shape(world: World, actor_for: ActorFor) -> None:
    a = world.a
    result = ok(
        actor_for(a.users["rep_sales"]), "update_call", call_id=cid(a, "rep_sales_public"), title="  Globex   QBR "
    )
    assert result["title"] == "Globex QBR"
    assert Call.objects.get(pk=a.calls["rep_sales_public"].pk).title == "Globex QBR"
    # The same shape as a search_calls hit.
    hit = ok(actor_for(a.users["rep_sales"]), "search_calls", query="Globex QBR")["calls"][0]
    assert result == hit
    assert result["id"] == cid(a, "rep_sales_public")
    assert result["owner"]["id"] == str(a.users["rep_sales"].pk)
    assert result["deal"]["id"] == str(a.deals["globex"].pk)
    assert result["url"].endswith(f"/calls/{result['id']}")
    assert (result["private"], result["archived"]) == (False, False)


def test_owner_makes_call_private_and_teammates_lose_it(world: World, actor_for: ActorFor) -> None:
    a = world.a
    call_id = cid(a, "rep_sales_public")
    listener = actor_for(a.users["listener"])
    assert ok(listener, "get_call_details", call_id=call_id, include_transcript=False)["id"] == call_id
    result = ok(actor_for(a.users["rep_sales"]), "update_call", call_id=call_id, private=True)
    assert result["private"] is True
    assert result["title"] == "rep_sales public call"  # omitted: kept
    assert err(listener, "get_call_details", call_id=call_id)["error"] == "not_found"
    assert ok(actor_for(a.users["rep_sales"]), "update_call", call_id=call_id, private=False)["private"] is False
    assert ok(listener, "get_call_details", call_id=call_id, include_transcript=False)["id"] == call_id


def test_admin_and_org_key_update_any_call_of_their_org(world: World, actor_for: ActorFor) -> None:
    a = world.a
    assert (
        ok(actor_for(a.users["admin"]), "update_call", call_id=cid(a, "private_owner_private"), title="By admin")[
            "title"
        ]
        == "By admin"
    )
    assert ok(a.org_key_actor, "update_call", call_id=cid(a, "rep_emea_public"), private=True)["private"] is True
    assert Call.objects.get(pk=a.calls["rep_emea_public"].pk).private is True


def test_owner_can_update_own_archived_call(world: World, actor_for: ActorFor) -> None:
    a = world.a
    result = ok(actor_for(a.users["rep_sales"]), "update_call", call_id=cid(a, "rep_sales_archived"), title="Old one")
    assert (result["title"], result["archived"]) == ("Old one", True)


def test_teammate_who_sees_a_call_cannot_update_it(world: World, actor_for: ActorFor) -> None:
    a = world.a
    before = snapshot()
    for persona in ("listener", "manager"):
        error = err(actor_for(a.users[persona]), "update_call", call_id=cid(a, "rep_sales_public"), title="Mine")
        assert error["error"] == "admin_required", persona
    assert snapshot() == before


def test_update_call_of_another_org_or_an_invisible_one_is_not_found_and_changes_nothing(
    world: World, actor_for: ActorFor
) -> None:
    a, b = world.a, world.b
    before = snapshot()
    foreign = cid(b, "rep_sales_public")
    error = err(actor_for(a.users["admin"]), "update_call", call_id=foreign, title="Hijacked")
    assert error == {"error": "not_found", "message": f"call {foreign} not found"}
    assert err(a.org_key_actor, "update_call", call_id=foreign, private=True)["error"] == "not_found"
    assert err(a.org_key_actor, "update_call", call_id=str(uuid.uuid4()), private=True)["error"] == "not_found"
    # Same org, but not visible: a teammate's private call, another team's call.
    assert (
        err(actor_for(a.users["rep_sales"]), "update_call", call_id=cid(a, "private_owner_private"), title="x")["error"]
        == "not_found"
    )
    assert (
        err(actor_for(a.users["outsider_rep"]), "update_call", call_id=cid(a, "rep_sales_public"), title="x")["error"]
        == "not_found"
    )
    assert (
        err(actor_for(a.users["deactivated"]), "update_call", call_id=cid(a, "deactivated_public"), title="x")["error"]
        == "not_found"
    )
    assert snapshot() == before


def test_update_call_validates_its_arguments(world: World, actor_for: ActorFor) -> None:
    a = world.a
    rep = actor_for(a.users["rep_sales"])
    call_id = cid(a, "rep_sales_public")
    before = snapshot()
    for args in ({}, {"title": ""}, {"title": "   "}, {"title": "x" * 501}):
        error = err(rep, "update_call", call_id=call_id, **args)
        assert (error["error"], error["field"]) == ("invalid_argument", "title"), args
    error = err(rep, "update_call", call_id="not-a-uuid", title="x")
    assert (error["error"], error["field"]) == ("invalid_argument", "call_id")
    error = err(rep, "update_call", call_id=call_id, title="x", archived=True)
    assert (error["error"], error["field"]) == ("invalid_argument", "archived")
    assert ok(rep, "update_call", call_id=call_id, title="x" * 500)["title"] == "x" * 500
    assert snapshot() != before


def test_update_call_needs_the_write_scope(world: World) -> None:
    a = world.a
    before = snapshot()
    error = err(read_only(a.users["rep_sales"]), "update_call", call_id=cid(a, "rep_sales_public"), title="x")
    assert error == {
        "error": "insufficient_scope",
        "message": "This action needs the mcp:write scope.",
        "required_scope": "mcp:write",
    }
    assert snapshot() == before


# --- archive_call ----------------------------------------------------------------------------------------------------


def test_owner_archives_a_call_out_of_search_and_restores_it(world: World, actor_for: ActorFor) -> None:
    a = world.a
    rep = actor_for(a.users["rep_sales"])
    call_id = cid(a, "rep_sales_public")
    archived = ok(rep, "archive_call", call_id=call_id)
    assert (archived["id"], archived["archived"]) == (call_id, True)
    assert call_id not in {c["id"] for c in ok(rep, "search_calls")["calls"]}
    assert call_id in {c["id"] for c in ok(rep, "search_calls", include_archived=True)["calls"]}
    # Still readable by id: archiving hides from search only.
    assert ok(rep, "get_call_details", call_id=call_id, include_transcript=False)["archived"] is True
    assert ok(rep, "archive_call", call_id=call_id)["archived"] is True  # again: no change
    restored = ok(rep, "archive_call", call_id=call_id, archived=False)
    assert restored["archived"] is False
    assert call_id in {c["id"] for c in ok(rep, "search_calls")["calls"]}


def test_admin_and_org_key_archive_any_call_of_their_org(world: World, actor_for: ActorFor) -> None:
    a = world.a
    assert ok(actor_for(a.users["admin"]), "archive_call", call_id=cid(a, "manager_public"))["archived"] is True
    assert (
        ok(a.org_key_actor, "archive_call", call_id=cid(a, "rep_sales_archived"), archived=False)["archived"] is False
    )
    assert Call.objects.get(pk=a.calls["rep_sales_archived"].pk).archived is False


def test_archive_call_refusals_change_nothing(world: World, actor_for: ActorFor) -> None:
    a, b = world.a, world.b
    before = snapshot()
    assert err(actor_for(a.users["listener"]), "archive_call", call_id=cid(a, "rep_sales_public"))["error"] == (
        "admin_required"
    )
    assert err(actor_for(a.users["manager"]), "archive_call", call_id=cid(a, "rep_emea_public"))["error"] == (
        "admin_required"
    )
    assert err(actor_for(a.users["admin"]), "archive_call", call_id=cid(b, "admin_public"))["error"] == "not_found"
    assert err(a.org_key_actor, "archive_call", call_id=cid(b, "rep_sales_archived"), archived=False)["error"] == (
        "not_found"
    )
    assert err(actor_for(a.users["rep_emea"]), "archive_call", call_id=cid(a, "rep_sales_public"))["error"] == (
        "not_found"
    )
    assert err(read_only(a.users["rep_sales"]), "archive_call", call_id=cid(a, "rep_sales_public"))["error"] == (
        "insufficient_scope"
    )
    error = err(actor_for(a.users["rep_sales"]), "archive_call", call_id=cid(a, "rep_sales_public"), archived="maybe")
    assert (error["error"], error["field"]) == ("invalid_argument", "archived")
    assert snapshot() == before


# --- change_conversation_labels ------------------------------------------------------------------------------------


def test_rep_sets_labels_by_name_or_id_in_any_case(
    world: World, actor_for: ActorFor, labels: dict[str, dict[str, LabelCategory]]
) -> None:
    a = world.a
    call_type = labels["a"]["call_type"]
    result = ok(
        actor_for(a.users["rep_sales"]),
        "change_conversation_labels",
        conversation_id=cid(a, "rep_sales_public"),
        labels={"call type": " demo "},
    )
    assert result == {
        "call_id": cid(a, "rep_sales_public"),
        "title": "rep_sales public call",
        "url": result["url"],
        "labels": [
            {
                "label_id": str(call_type.pk),
                "label": "Call Type",
                "option_id": str(option(call_type, "Demo").pk),
                "option": "Demo",
            }
        ],
    }
    assert result["url"].endswith(f"/calls/{result['call_id']}")
    # By id, replacing the option: still one label per category.
    ok(
        actor_for(a.users["rep_sales"]),
        "change_conversation_labels",
        conversation_id=cid(a, "rep_sales_public"),
        labels={str(call_type.pk): "Negotiation"},
    )
    assert labels_on(a.calls["rep_sales_public"]) == {"Call Type": "Negotiation"}
    hits = ok(actor_for(a.users["rep_sales"]), "search_calls", labels={"Call Type": "Negotiation"})["calls"]
    assert [h["id"] for h in hits] == [cid(a, "rep_sales_public")]
    assert hits[0]["labels"] == {"Call Type": "Negotiation"}


def test_anyone_who_sees_the_call_may_label_it(
    world: World, actor_for: ActorFor, labels: dict[str, dict[str, LabelCategory]]
) -> None:
    a = world.a
    # The listener is neither owner nor admin, only a teammate who sees the call.
    ok(
        actor_for(a.users["listener"]),
        "change_conversation_labels",
        conversation_id=cid(a, "rep_sales_public"),
        labels={"Call Type": "Discovery"},
    )
    ok(
        a.org_key_actor,
        "change_conversation_labels",
        conversation_id=cid(a, "outsider_rep_public"),
        labels={
            "Call Type": "Demo",
            "Escalation": "Yes",
        },
    )
    assert labels_on(a.calls["rep_sales_public"]) == {"Call Type": "Discovery"}
    assert labels_on(a.calls["outsider_rep_public"]) == {"Call Type": "Demo", "Escalation": "Yes"}


def test_null_clears_a_label_and_clearing_an_absent_one_is_fine(
    world: World, actor_for: ActorFor, labels: dict[str, dict[str, LabelCategory]]
) -> None:
    a = world.a
    rep = actor_for(a.users["outsider_rep"])
    call_id = cid(a, "outsider_rep_public")
    ok(rep, "change_conversation_labels", conversation_id=call_id, labels={"Call Type": "Demo", "Escalation": "No"})
    result = ok(rep, "change_conversation_labels", conversation_id=call_id, labels={"Escalation": None})
    assert [(lbl["label"], lbl["option"]) for lbl in result["labels"]] == [("Call Type", "Demo")]
    result = ok(rep, "change_conversation_labels", conversation_id=call_id, labels={"Escalation": None})
    assert [(lbl["label"], lbl["option"]) for lbl in result["labels"]] == [("Call Type", "Demo")]


def test_a_label_limited_to_other_teams_cannot_be_set_but_can_be_cleared(
    world: World, actor_for: ActorFor, labels: dict[str, dict[str, LabelCategory]]
) -> None:
    a = world.a
    escalation = labels["a"]["escalation"]
    sales_call = a.calls["rep_sales_public"]
    before = snapshot()
    for call_name in ("rep_sales_public", "admin_public"):  # a Sales call, and a call of no team
        error = err(
            a.org_key_actor,
            "change_conversation_labels",
            conversation_id=cid(a, call_name),
            labels={"Call Type": "Demo", "Escalation": "Yes"},
        )
        assert (error["error"], error["field"]) == ("invalid_argument", "labels"), call_name
        assert "Escalation" in error["message"]
    assert snapshot() == before  # all or nothing: Call Type was not set either
    # A label left from before the label was limited can still be removed.
    CallLabel.objects.create(call=sales_call, category=escalation, option=option(escalation, "Yes"))
    result = ok(
        actor_for(a.users["rep_sales"]),
        "change_conversation_labels",
        conversation_id=str(sales_call.pk),
        labels={"Escalation": None},
    )
    assert result["labels"] == []


def test_unknown_labels_and_options_are_refused_and_nothing_changes(
    world: World, actor_for: ActorFor, labels: dict[str, dict[str, LabelCategory]]
) -> None:
    a, b = world.a, world.b
    rep = actor_for(a.users["rep_sales"])
    call_id = cid(a, "rep_sales_public")
    before = snapshot()
    error = err(
        rep, "change_conversation_labels", conversation_id=call_id, labels={"Call Type": "Demo", "Mood": "Happy"}
    )
    assert error == {"error": "not_found", "message": "label Mood not found"}
    # The other org's category, by id: not found like a missing one.
    foreign = str(labels["b"]["call_type"].pk)
    error = err(rep, "change_conversation_labels", conversation_id=call_id, labels={foreign: "Demo"})
    assert error == {"error": "not_found", "message": f"label {foreign} not found"}
    error = err(rep, "change_conversation_labels", conversation_id=call_id, labels={"Call Type": "Upsell"})
    assert (error["error"], error["field"]) == ("invalid_argument", "labels")
    assert "'Discovery', 'Demo', 'Negotiation'" in error["message"]
    # An option of the other org's "Call Type" is no option of ours (they share values, not ids).
    other_option = str(option(labels["b"]["call_type"], "Demo").pk)
    error = err(rep, "change_conversation_labels", conversation_id=call_id, labels={"Call Type": other_option})
    assert (error["error"], error["field"]) == ("invalid_argument", "labels")
    call_type_id = str(labels["a"]["call_type"].pk)
    error = err(
        rep, "change_conversation_labels", conversation_id=call_id, labels={"Call Type": "Demo", call_type_id: None}
    )
    assert (error["error"], error["field"]) == ("invalid_argument", "labels")
    assert snapshot() == before
    assert not CallLabel.objects.filter(call__org=b.org).exists()


def test_labels_of_a_call_of_another_org_or_an_invisible_one_are_not_found(
    world: World, actor_for: ActorFor, labels: dict[str, dict[str, LabelCategory]]
) -> None:
    a, b = world.a, world.b
    before = snapshot()
    foreign = cid(b, "rep_sales_public")
    error = err(a.org_key_actor, "change_conversation_labels", conversation_id=foreign, labels={"Call Type": "Demo"})
    assert error == {"error": "not_found", "message": f"call {foreign} not found"}
    assert (
        err(
            actor_for(a.users["admin"]),
            "change_conversation_labels",
            conversation_id=foreign,
            labels={str(labels["b"]["call_type"].pk): "Demo"},
        )["error"]
        == "not_found"
    )
    for persona, call_name in (("rep_sales", "private_owner_private"), ("rep_emea", "rep_sales_public")):
        assert (
            err(
                actor_for(a.users[persona]),
                "change_conversation_labels",
                conversation_id=cid(a, call_name),
                labels={"Call Type": "Demo"},
            )["error"]
            == "not_found"
        ), persona
    assert snapshot() == before


def test_change_conversation_labels_validates_its_arguments(
    world: World, actor_for: ActorFor, labels: dict[str, dict[str, LabelCategory]]
) -> None:
    a = world.a
    rep = actor_for(a.users["rep_sales"])
    call_id = cid(a, "rep_sales_public")
    before = snapshot()
    too_many = {f"Label {n}": "x" for n in range(21)}
    for bad in ({}, too_many, {"Call Type": ""}, {"Call Type": "x" * 101}, {"x" * 101: "Demo"}, {"Call Type": 3}):
        error = err(rep, "change_conversation_labels", conversation_id=call_id, labels=bad)
        assert (error["error"], error["field"]) == ("invalid_argument", "labels"), bad
    error = err(rep, "change_conversation_labels", conversation_id=call_id)
    assert (error["error"], error["field"]) == ("invalid_argument", "labels")
    error = err(
        read_only(a.users["rep_sales"]),
        "change_conversation_labels",
        conversation_id=call_id,
        labels={"Call Type": "Demo"},
    )
    assert error["error"] == "insufficient_scope"
    assert snapshot() == before


def test_a_deactivated_user_cannot_label_even_own_calls(
    world: World, labels: dict[str, dict[str, LabelCategory]]
) -> None:
    a = world.a
    # Built directly: the roles are what they were; visibility checks the deactivation itself.
    actor = actor_for_user(user=a.users["deactivated"], via="oauth", scopes=ALL_SCOPES)
    error = err(
        actor, "change_conversation_labels", conversation_id=cid(a, "deactivated_public"), labels={"Call Type": "Demo"}
    )
    assert error["error"] == "not_found"
    assert not CallLabel.objects.exists()


# --- the demo organisation (what `make run` seeds) -----------------------------------------------------------------


def test_the_ten_tools_work_on_the_seeded_demo_org(db: None, settings: Any, tmp_path: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.VAR_DIR = tmp_path
    call_command(
        "seed_demo", "--org-name", "Demo Corp", "--calls", "12", "--password", "demo-pass-123", stdout=io.StringIO()
    )
    org = Organization.objects.get(slug="demo-corp")
    admin_user = User.objects.filter(org=org, roles__type="admin").order_by("email").first()
    assert admin_user is not None
    admin = actor_for_user(user=admin_user, via="oauth", scopes=ALL_SCOPES)
    labels = ok(admin, "list_labels", page_size=50)["labels"]
    assert labels
    assert all(lbl["options"] for lbl in labels)
    target = Call.objects.filter(org=org, team__isnull=False).order_by("-started_at").first()
    assert target is not None
    # Every label applies to the call's team (or all teams): set each to its first option.
    wanted = {
        lbl["label"]: lbl["options"][0]["value"]
        for lbl in labels
        if lbl["all_teams"] or str(target.team_id) in {t["id"] for t in lbl["teams"]}
    }
    changed = ok(admin, "change_conversation_labels", conversation_id=str(target.pk), labels=wanted)
    assert {lbl["label"]: lbl["option"] for lbl in changed["labels"]} == wanted
    assert ok(admin, "update_call", call_id=str(target.pk), title="Renamed demo call")["title"] == "Renamed demo call"
    assert ok(admin, "archive_call", call_id=str(target.pk))["archived"] is True
    assert ok(admin, "archive_call", call_id=str(target.pk), archived=False)["archived"] is False
    created = ok(admin, "create_label", label="Demo follow-up", options=[{"value": "Yes"}, {"value": "No"}])
    updated = ok(admin, "update_label", label_id=created["id"], options=[{"value": "yes"}, {"value": "Later"}])
    assert updated["call_labels_removed"] == 0
    assert ok(admin, "delete_label", label_id=created["id"])["deleted"] is True
    snippets = ok(admin, "list_snippets", page_size=5)
    assert snippets["snippets"]
    mine = ok(
        admin, "create_snippet", conversation_id=str(target.pk), start_time=0, end_time=min(60, target.duration_s)
    )
    assert (
        ok(admin, "list_snippets", conversation_id=str(target.pk), owner_id=str(admin_user.pk))["snippets"][0] == mine
    )
    assert ok(admin, "delete_snippet", snippet_id=mine["id"])["deleted"] is True
    # A rep of the demo org sees only part of it, and the other demo org none of it.
    rep_user = (
        User.objects.filter(org=org, roles__type="sales_rep", deactivated_at__isnull=True).order_by("email").first()
    )
    assert rep_user is not None
    rep = actor_for_user(user=rep_user, via="oauth", scopes=ALL_SCOPES)
    visible = {str(pk) for pk in Call.objects.filter(org=org).values_list("pk", flat=True)}
    for snippet in ok(rep, "list_snippets", page_size=50)["snippets"]:
        assert snippet["call_id"] in visible
    globex = Actor.org_wide(Organization.objects.get(slug="globex").pk, via="org_key")
    assert err(globex, "list_snippets", conversation_id=str(target.pk))["error"] == "not_found"
