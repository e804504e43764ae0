"""list_labels, create_label, update_label and delete_label, called in-process through the registry's own call
path on the persona `world` (tests/conftest.py): two mirrored organisations whose labels share names, so a leak
shows up as an id of the wrong organisation.

Labels made by the `labels` fixture in both organisations (same names, own ids):

    Call Type    all teams,              AI       Discovery, Demo, Negotiation
    Escalation   limited to Support,     AI       Yes, No
    Competitor   limited to Sales, EMEA, manual   Globex, Initech

Refusals are asserted twice: the error, and an unchanged `snapshot()` of every label table.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Team, User
from accounts.permissions import READ, Actor
from accounts.selectors import actor_for_user
from attention_mcp.pagination import encode_cursor
from calls.models import Call, CallLabel, LabelCategory, LabelOption
from tests.factories import OrgWorld, World
from tests.support.tools import err, ok

ActorFor = Callable[[User], Actor]
Labels = dict[str, dict[str, LabelCategory]]

# --- helpers -----------------------------------------------------------------------------------------------------


def snapshot() -> dict[str, Any]:
    """Every label table, in both organisations."""
    return {
        "labels": sorted(
            LabelCategory.objects.values_list("id", "org_id", "name", "description", "ai_flow", "all_teams")
        ),
        "label_teams": sorted(LabelCategory.teams.through.objects.values_list("labelcategory_id", "team_id")),
        "options": sorted(LabelOption.objects.values_list("id", "category_id", "value", "description", "position")),
        "call_labels": sorted(CallLabel.objects.values_list("call_id", "category_id", "option_id")),
    }


def make_labels(w: OrgWorld) -> dict[str, LabelCategory]:
    def make(name: str, values: tuple[str, ...], teams: tuple[Team, ...] = (), ai_flow: bool = True) -> LabelCategory:
        label = LabelCategory.objects.create(
            org=w.org, name=name, description=f"{name} of the call", all_teams=not teams, ai_flow=ai_flow
        )
        label.teams.set(teams)
        for position, value in enumerate(values):
            LabelOption.objects.create(category=label, value=value, description=f"{value}!", position=position)
        return label

    return {
        "call_type": make("Call Type", ("Discovery", "Demo", "Negotiation")),
        "escalation": make("Escalation", ("Yes", "No"), (w.teams["support"],)),
        "competitor": make("Competitor", ("Globex", "Initech"), (w.teams["sales"], w.teams["emea"]), ai_flow=False),
    }


@pytest.fixture
def labels(world: World) -> Labels:
    return {w.key: make_labels(w) for w in (world.a, world.b)}


def names(page: dict[str, Any]) -> list[str]:
    return [lbl["label"] for lbl in page["labels"]]


def ids(page: dict[str, Any]) -> set[str]:
    return {lbl["id"] for lbl in page["labels"]}


def values_of(label_id: str) -> list[str]:
    return list(
        LabelOption.objects.filter(category_id=uuid.UUID(label_id)).order_by("position").values_list("value", flat=True)
    )


def option(label: LabelCategory, value: str) -> LabelOption:
    return LabelOption.objects.get(category=label, value=value)


def tid(w: OrgWorld, team: str) -> str:
    return str(w.teams[team].pk)


# --- list_labels ---------------------------------------------------------------------------------------------------


def test_anyone_lists_the_orgs_labels_by_name_with_options_and_teams(
    world: World, actor_for: ActorFor, labels: Labels
) -> None:
    a = world.a
    page = ok(actor_for(a.users["listener"]), "list_labels")
    assert names(page) == ["Call Type", "Competitor", "Escalation"]
    assert ids(page) == {str(lbl.pk) for lbl in labels["a"].values()}
    assert page["next_cursor"] is None
    competitor = labels["a"]["competitor"]
    assert page["labels"][1] == {
        "id": str(competitor.pk),
        "label": "Competitor",
        "description": "Competitor of the call",
        "ai_flow": False,
        "all_teams": False,
        "teams": [
            {"id": tid(a, "emea"), "name": "[Acme] EMEA"},
            {"id": tid(a, "sales"), "name": "[Acme] Sales"},
        ],
        "options": [
            {"id": str(option(competitor, "Globex").pk), "value": "Globex", "description": "Globex!"},
            {"id": str(option(competitor, "Initech").pk), "value": "Initech", "description": "Initech!"},
        ],
        "created_at": competitor.created_at.isoformat(),
    }
    assert [o["value"] for o in page["labels"][0]["options"]] == ["Discovery", "Demo", "Negotiation"]
    assert ids(ok(world.b.org_key_actor, "list_labels")) == {str(lbl.pk) for lbl in labels["b"].values()}


def test_list_labels_filters_by_team_name_and_ai_flow(world: World, actor_for: ActorFor, labels: Labels) -> None:
    a = world.a
    rep = actor_for(a.users["rep_sales"])
    assert names(ok(rep, "list_labels", team_id=tid(a, "support"))) == ["Call Type", "Escalation"]
    assert names(ok(rep, "list_labels", team_id=tid(a, "emea"))) == ["Call Type", "Competitor"]
    assert names(ok(rep, "list_labels", label="  TYPE ")) == ["Call Type"]
    assert names(ok(rep, "list_labels", label="c")) == ["Call Type", "Competitor", "Escalation"]
    assert names(ok(rep, "list_labels", label="nothing like it")) == []
    assert names(ok(rep, "list_labels", ai_flow=False)) == ["Competitor"]
    assert names(ok(rep, "list_labels", ai_flow=True, team_id=tid(a, "sales"), label="call")) == ["Call Type"]


def test_list_labels_of_another_orgs_team_is_not_found(world: World, actor_for: ActorFor, labels: Labels) -> None:
    foreign = tid(world.b, "support")
    error = err(actor_for(world.a.users["admin"]), "list_labels", team_id=foreign)
    assert error == {"error": "not_found", "message": f"team {foreign} not found"}
    assert err(world.a.org_key_actor, "list_labels", team_id=str(uuid.uuid4()))["error"] == "not_found"


def test_list_labels_pages_by_name(world: World, actor_for: ActorFor, labels: Labels) -> None:
    a = world.a
    for n in range(4):
        LabelCategory.objects.create(org=a.org, name=f"Zeta {n}")
    rep = actor_for(a.users["rep_sales"])
    first = ok(rep, "list_labels", page_size=2)
    seen = names(first)
    cursor = first["next_cursor"]
    pages = 1
    while cursor:
        page = ok(rep, "list_labels", page_size=2, cursor=cursor)
        seen += names(page)
        cursor = page["next_cursor"]
        pages += 1
    assert seen == ["Call Type", "Competitor", "Escalation", "Zeta 0", "Zeta 1", "Zeta 2", "Zeta 3"]
    assert pages == 4
    # The cursor keeps the other filters' meaning: it only says where the last page ended.
    second = ok(rep, "list_labels", page_size=1, label="zeta", cursor=first["next_cursor"])
    assert names(second) == ["Zeta 0"]


def test_list_labels_refuses_bad_cursors_and_page_sizes(world: World, actor_for: ActorFor, labels: Labels) -> None:
    rep = actor_for(world.a.users["rep_sales"])
    snippets_cursor = encode_cursor({"k": "snippets", "c": "2025-01-01T00:00:00+00:00", "i": str(uuid.uuid4())})
    for bad in ("!!!", "eyJrIjoxfQ", snippets_cursor, encode_cursor({"k": "labels", "n": 3, "i": "x"})):
        error = err(rep, "list_labels", cursor=bad)
        assert (error["error"], error["field"]) == ("invalid_argument", "cursor"), bad
    for size in (0, 51):
        error = err(rep, "list_labels", page_size=size)
        assert (error["error"], error["field"]) == ("invalid_argument", "page_size"), size
    error = err(rep, "list_labels", label="x" * 101)
    assert (error["error"], error["field"]) == ("invalid_argument", "label")


# --- create_label --------------------------------------------------------------------------------------------------


def test_admin_creates_a_label_for_all_teams_by_default(world: World, actor_for: ActorFor) -> None:
    a = world.a
    created = ok(
        actor_for(a.users["admin"]),
        "create_label",
        label="  Deal   Stage ",
        description=" Where the deal is ",
        options=[{"value": " Early ", "description": "First calls"}, {"value": "Late"}],
    )
    label = LabelCategory.objects.get(pk=created["id"])
    assert label.org_id == a.org.pk
    assert created == {
        "id": str(label.pk),
        "label": "Deal Stage",
        "description": "Where the deal is",
        "ai_flow": True,
        "all_teams": True,
        "teams": [],
        "options": [
            {"id": str(option(label, "Early").pk), "value": "Early", "description": "First calls"},
            {"id": str(option(label, "Late").pk), "value": "Late", "description": ""},
        ],
        "created_at": label.created_at.isoformat(),
    }
    assert values_of(created["id"]) == ["Early", "Late"]


def test_org_key_creates_a_label_limited_to_teams(world: World) -> None:
    a = world.a
    created = ok(
        a.org_key_actor,
        "create_label",
        label="Region",
        options=[{"value": "North"}],
        ai_flow=False,
        team_ids=[tid(a, "support"), tid(a, "emea"), tid(a, "support")],
    )
    assert (created["all_teams"], created["ai_flow"]) == (False, False)
    assert [t["id"] for t in created["teams"]] == [tid(a, "emea"), tid(a, "support")]
    # The label applies where it should: it can be set on a Support call, not on a Sales one.
    ok(
        a.org_key_actor,
        "change_conversation_labels",
        conversation_id=str(a.calls["outsider_rep_public"].pk),
        labels={"Region": "north"},
    )
    error = err(
        a.org_key_actor,
        "change_conversation_labels",
        conversation_id=str(a.calls["rep_sales_public"].pk),
        labels={"Region": "North"},
    )
    assert (error["error"], error["field"]) == ("invalid_argument", "labels")


def test_label_names_are_unique_per_org_ignoring_case(world: World, actor_for: ActorFor, labels: Labels) -> None:
    a = world.a
    before = snapshot()
    for name in ("Call Type", "call  TYPE"):
        error = err(actor_for(a.users["admin"]), "create_label", label=name, options=[{"value": "X"}])
        assert (error["error"], error["field"]) == ("conflict", "label"), name
    assert snapshot() == before
    # The other organisation's names are no conflict.
    LabelCategory.objects.filter(org=world.b.org, name="Competitor").delete()
    created = ok(world.b.org_key_actor, "create_label", label="Competitor", options=[{"value": "Hooli"}])
    assert LabelCategory.objects.get(pk=created["id"]).org_id == world.b.org.pk


def test_only_admins_create_labels(world: World, actor_for: ActorFor, labels: Labels) -> None:
    a = world.a
    before = snapshot()
    for persona in ("manager", "rep_sales", "listener"):
        error = err(actor_for(a.users[persona]), "create_label", label="Mine", options=[{"value": "X"}])
        assert error == {"error": "admin_required", "message": "This action needs the admin role."}, persona
    read_only = actor_for_user(user=a.users["admin"], via="oauth", scopes=frozenset({READ}))
    assert err(read_only, "create_label", label="Mine", options=[{"value": "X"}])["error"] == "insufficient_scope"
    assert snapshot() == before


def test_create_label_with_another_orgs_team_is_not_found_and_changes_nothing(
    world: World, actor_for: ActorFor, labels: Labels
) -> None:
    a, b = world.a, world.b
    before = snapshot()
    for team_ids in ([tid(b, "sales")], [tid(a, "sales"), tid(b, "support")], [str(uuid.uuid4())]):
        error = err(
            actor_for(a.users["admin"]), "create_label", label="New", options=[{"value": "X"}], team_ids=team_ids
        )
        assert error["error"] == "not_found", team_ids
    assert snapshot() == before


def test_create_label_validates_its_arguments(world: World, actor_for: ActorFor, labels: Labels) -> None:
    a = world.a
    admin = actor_for(a.users["admin"])
    before = snapshot()
    one = [{"value": "X"}]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"label": "", "options": one}, "label"),
        ({"label": "   ", "options": one}, "label"),
        ({"label": "x" * 101, "options": one}, "label"),
        ({"label": "New", "options": []}, "options"),
        ({"label": "New", "options": [{"value": f"v{n}"} for n in range(51)]}, "options"),
        ({"label": "New", "options": [{"value": "  "}]}, "options"),
        ({"label": "New", "options": [{"value": "Yes"}, {"value": " yes"}]}, "options"),
        ({"label": "New", "options": [{"value": "x" * 101}]}, "options"),
        ({"label": "New", "options": [{"value": "X", "colour": "red"}]}, "options"),
        ({"label": "New", "options": one, "all_teams": False}, "team_ids"),
        ({"label": "New", "options": one, "all_teams": False, "team_ids": []}, "team_ids"),
        ({"label": "New", "options": one, "all_teams": True, "team_ids": [tid(a, "sales")]}, "team_ids"),
        ({"label": "New", "options": one, "team_ids": ["not-a-uuid"]}, "team_ids"),
        ({"label": "New", "options": one, "description": "x" * 2001}, "description"),
        ({"label": "New"}, "options"),
    ]
    for args, field in cases:
        error = err(admin, "create_label", **args)
        assert (error["error"], error["field"]) == ("invalid_argument", field), args
    assert snapshot() == before
    ok(admin, "create_label", label="x" * 100, options=[{"value": f"v{n}"} for n in range(50)])


# --- update_label --------------------------------------------------------------------------------------------------


def test_update_label_keeps_omitted_fields(world: World, actor_for: ActorFor, labels: Labels) -> None:
    a = world.a
    competitor = labels["a"]["competitor"]
    before = ok(a.org_key_actor, "list_labels", label="competitor")["labels"][0]
    updated = ok(actor_for(a.users["admin"]), "update_label", label_id=str(competitor.pk), label="Rival")
    assert updated == {**before, "label": "Rival", "call_labels_removed": 0}
    updated = ok(actor_for(a.users["admin"]), "update_label", label_id=str(competitor.pk), description="", ai_flow=True)
    assert (updated["label"], updated["description"], updated["ai_flow"]) == ("Rival", "", True)
    assert updated["options"] == before["options"]


def test_update_label_options_keep_unchanged_values_and_their_calls(
    world: World, actor_for: ActorFor, labels: Labels
) -> None:
    a = world.a
    call_type = labels["a"]["call_type"]
    demo, negotiation = option(call_type, "Demo"), option(call_type, "Negotiation")
    CallLabel.objects.create(call=a.calls["rep_sales_public"], category=call_type, option=demo)
    CallLabel.objects.create(call=a.calls["manager_public"], category=call_type, option=negotiation)
    CallLabel.objects.create(call=a.calls["listener_public"], category=call_type, option=negotiation)
    updated = ok(
        actor_for(a.users["admin"]),
        "update_label",
        label_id=str(call_type.pk),
        options=[{"value": "Pilot", "description": "new"}, {"value": " DEMO ", "description": "Shown"}],
    )
    assert updated["call_labels_removed"] == 2
    assert [(o["value"], o["description"]) for o in updated["options"]] == [("Pilot", "new"), ("DEMO", "Shown")]
    # Demo kept its row (a new spelling of the same value), and so its call.
    assert updated["options"][1]["id"] == str(demo.pk)
    assert values_of(str(call_type.pk)) == ["Pilot", "DEMO"]
    assert list(CallLabel.objects.values_list("call_id", "option_id")) == [(a.calls["rep_sales_public"].pk, demo.pk)]
    assert not LabelOption.objects.filter(pk=negotiation.pk).exists()
    # The other organisation's "Call Type" did not move.
    assert values_of(str(labels["b"]["call_type"].pk)) == ["Discovery", "Demo", "Negotiation"]


def test_update_label_teams(world: World, labels: Labels) -> None:
    a = world.a
    key = a.org_key_actor
    call_type, escalation = str(labels["a"]["call_type"].pk), str(labels["a"]["escalation"].pk)
    limited = ok(key, "update_label", label_id=call_type, team_ids=[tid(a, "emea")])
    assert (limited["all_teams"], [t["id"] for t in limited["teams"]]) == (False, [tid(a, "emea")])
    opened = ok(key, "update_label", label_id=escalation, all_teams=True)
    assert (opened["all_teams"], opened["teams"]) == (True, [])
    moved = ok(key, "update_label", label_id=call_type, all_teams=False, team_ids=[tid(a, "sales")])
    assert [t["id"] for t in moved["teams"]] == [tid(a, "sales")]
    # all_teams=false alone keeps the teams it has.
    assert ok(key, "update_label", label_id=call_type, all_teams=False)["teams"] == moved["teams"]


def test_update_label_refusals_change_nothing(world: World, actor_for: ActorFor, labels: Labels) -> None:
    a, b = world.a, world.b
    admin = actor_for(a.users["admin"])
    call_type = str(labels["a"]["call_type"].pk)
    before = snapshot()
    assert err(actor_for(a.users["manager"]), "update_label", label_id=call_type, label="X")["error"] == (
        "admin_required"
    )
    foreign = str(labels["b"]["call_type"].pk)
    assert err(admin, "update_label", label_id=foreign, label="Mine") == {
        "error": "not_found",
        "message": f"label {foreign} not found",
    }
    assert err(b.org_key_actor, "update_label", label_id=call_type, options=[{"value": "X"}])["error"] == "not_found"
    # A valid change together with a bad one: neither happens.
    error = err(admin, "update_label", label_id=call_type, label="Renamed", team_ids=[tid(b, "sales")])
    assert error["error"] == "not_found"
    error = err(admin, "update_label", label_id=call_type, label="Renamed", options=[{"value": "A"}, {"value": "a"}])
    assert (error["error"], error["field"]) == ("invalid_argument", "options")
    error = err(admin, "update_label", label_id=call_type, label="escalation")
    assert (error["error"], error["field"]) == ("conflict", "label")
    error = err(admin, "update_label", label_id=call_type, all_teams=False)
    assert (error["error"], error["field"]) == ("invalid_argument", "team_ids")
    error = err(admin, "update_label", label_id=call_type, all_teams=True, team_ids=[tid(a, "sales")])
    assert (error["error"], error["field"]) == ("invalid_argument", "team_ids")
    error = err(admin, "update_label", label_id=call_type, team_ids=[])
    assert (error["error"], error["field"]) == ("invalid_argument", "team_ids")
    error = err(admin, "update_label", label_id=call_type, options=[])
    assert (error["error"], error["field"]) == ("invalid_argument", "options")
    assert snapshot() == before
    # Renaming to its own name in another case is no conflict with itself.
    assert ok(admin, "update_label", label_id=call_type, label="CALL TYPE")["label"] == "CALL TYPE"


# --- delete_label --------------------------------------------------------------------------------------------------


def test_admin_deletes_a_label_with_its_options_and_call_labels(
    world: World, actor_for: ActorFor, labels: Labels
) -> None:
    a = world.a
    call_type = labels["a"]["call_type"]
    CallLabel.objects.create(call=a.calls["rep_sales_public"], category=call_type, option=option(call_type, "Demo"))
    CallLabel.objects.create(call=a.calls["admin_public"], category=call_type, option=option(call_type, "Discovery"))
    other = labels["b"]["call_type"]
    CallLabel.objects.create(call=world.b.calls["rep_sales_public"], category=other, option=option(other, "Demo"))
    deleted = ok(actor_for(a.users["admin"]), "delete_label", label_id=str(call_type.pk))
    assert deleted == {"id": str(call_type.pk), "label": "Call Type", "deleted": True, "call_labels_removed": 2}
    assert not LabelCategory.objects.filter(pk=call_type.pk).exists()
    assert not LabelOption.objects.filter(category_id=call_type.pk).exists()
    assert list(CallLabel.objects.values_list("category_id", flat=True)) == [other.pk]
    assert err(a.org_key_actor, "delete_label", label_id=str(call_type.pk))["error"] == "not_found"
    assert ok(a.org_key_actor, "delete_label", label_id=str(labels["a"]["escalation"].pk))["call_labels_removed"] == 0


def test_delete_label_refusals_change_nothing(world: World, actor_for: ActorFor, labels: Labels) -> None:
    a, b = world.a, world.b
    before = snapshot()
    call_type = str(labels["a"]["call_type"].pk)
    for persona in ("manager", "rep_sales"):
        assert err(actor_for(a.users[persona]), "delete_label", label_id=call_type)["error"] == "admin_required"
    assert err(actor_for(a.users["admin"]), "delete_label", label_id=str(labels["b"]["call_type"].pk))["error"] == (
        "not_found"
    )
    assert err(b.org_key_actor, "delete_label", label_id=call_type)["error"] == "not_found"
    error = err(a.org_key_actor, "delete_label", label_id="call type")
    assert (error["error"], error["field"]) == ("invalid_argument", "label_id")
    assert snapshot() == before


def test_labels_of_an_org_without_any_are_an_empty_list(world: World, actor_for: ActorFor) -> None:
    assert ok(actor_for(world.a.users["rep_emea"]), "list_labels") == {"labels": [], "next_cursor": None}


# --- the operators' admin sets call labels and deletes categories through the same services ------------------------


@pytest.fixture
def operator_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("operator@ops.example", "operator-pass"))
    return client


def test_admin_sets_and_clears_call_labels_through_the_service(
    world: World, operator_client: Client, labels: Labels
) -> None:
    a = world.a
    call_type = labels["a"]["call_type"]
    add = reverse("admin:calls_calllabel_add")
    assert operator_client.get(add).status_code == 200
    data = {"call": str(a.calls["rep_sales_public"].pk), "category": str(call_type.pk)}
    response = operator_client.post(add, {**data, "option": str(option(call_type, "Demo").pk)})
    assert response.status_code == 302
    row = CallLabel.objects.get(call=a.calls["rep_sales_public"])
    assert row.option.value == "Demo"
    change = reverse("admin:calls_calllabel_change", args=[row.pk])
    assert operator_client.get(change).status_code == 200
    response = operator_client.post(change, {"option": str(option(call_type, "Negotiation").pk)})
    assert response.status_code == 302
    assert CallLabel.objects.get(pk=row.pk).option.value == "Negotiation"
    response = operator_client.post(reverse("admin:calls_calllabel_delete", args=[row.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not CallLabel.objects.exists()


def test_admin_refuses_call_labels_the_tools_would_refuse(
    world: World, operator_client: Client, labels: Labels
) -> None:
    a = world.a
    before = snapshot()
    add = reverse("admin:calls_calllabel_add")
    sales_call = str(a.calls["rep_sales_public"].pk)
    call_type, escalation = labels["a"]["call_type"], labels["a"]["escalation"]
    for data, field in (
        # An option of another label.
        ({"call": sales_call, "category": str(call_type.pk), "option": str(option(escalation, "Yes").pk)}, "option"),
        # The other organisation's label (and option) on our call.
        (
            {
                "call": sales_call,
                "category": str(labels["b"]["call_type"].pk),
                "option": str(option(labels["b"]["call_type"], "Demo").pk),
            },
            "category",
        ),
        # A label limited to Support, on a Sales call.
        ({"call": sales_call, "category": str(escalation.pk), "option": str(option(escalation, "Yes").pk)}, "option"),
    ):
        response = operator_client.post(add, data)
        assert response.status_code == 200, data
        assert field in response.context["adminform"].form.errors, response.context["adminform"].form.errors
    assert snapshot() == before


def test_admin_deletes_a_label_category_through_the_service(
    world: World, operator_client: Client, labels: Labels
) -> None:
    a = world.a
    call_type = labels["a"]["call_type"]
    CallLabel.objects.create(call=a.calls["rep_sales_public"], category=call_type, option=option(call_type, "Demo"))
    response = operator_client.post(reverse("admin:calls_labelcategory_delete", args=[call_type.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not LabelCategory.objects.filter(pk=call_type.pk).exists()
    assert not CallLabel.objects.exists()
    # The call's own page lists its labels without letting them be edited there.
    page = operator_client.get(reverse("admin:calls_call_change", args=[a.calls["rep_sales_public"].pk]))
    assert page.status_code == 200
    assert "change them under Call labels" in page.content.decode()


def test_saving_a_call_in_the_admin_keeps_its_read_only_labels(
    world: World, operator_client: Client, labels: Labels
) -> None:
    a = world.a
    call_type = labels["a"]["call_type"]
    CallLabel.objects.create(call=a.calls["rep_sales_public"], category=call_type, option=option(call_type, "Demo"))
    change = reverse("admin:calls_call_change", args=[a.calls["rep_sales_public"].pk])
    page = operator_client.get(change)
    # What a browser posts back: the call's fields and every inline's management form and fields.
    data: dict[str, Any] = {}
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(n): management[n].value() for n in management.fields})
        for form in inline.formset.forms:
            for name in form.fields:
                value = form[name].value()
                if value not in (None, False):
                    data[form.add_prefix(name)] = "on" if value is True else str(value)
    data.update({"title": "Renamed in the admin", "archived": ""})
    response = operator_client.post(change, data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    assert list(CallLabel.objects.values_list("call_id", "option_id")) == [
        (a.calls["rep_sales_public"].pk, option(call_type, "Demo").pk)
    ]
    assert Call.objects.get(pk=a.calls["rep_sales_public"].pk).title == "Renamed in the admin"


def test_a_team_label_applies_to_calls_of_its_sub_teams_but_not_of_the_team_above(world: World) -> None:
    """Like scorecards: a label of Sales applies to EMEA (a Sales sub-team); one of EMEA does not apply to Sales."""
    a = world.a
    ok(a.org_key_actor, "create_label", label="Sales only", options=[{"value": "Yes"}], team_ids=[tid(a, "sales")])
    ok(a.org_key_actor, "create_label", label="EMEA only", options=[{"value": "Yes"}], team_ids=[tid(a, "emea")])
    emea_call, sales_call = str(a.calls["rep_emea_public"].pk), str(a.calls["rep_sales_public"].pk)
    ok(a.org_key_actor, "change_conversation_labels", conversation_id=emea_call, labels={"Sales only": "Yes"})
    ok(a.org_key_actor, "change_conversation_labels", conversation_id=emea_call, labels={"EMEA only": "Yes"})
    before = snapshot()
    error = err(a.org_key_actor, "change_conversation_labels", conversation_id=sales_call, labels={"EMEA only": "Yes"})
    assert (error["error"], error["field"]) == ("invalid_argument", "labels")
    assert snapshot() == before

    def applying_to(team: str) -> set[str]:
        return set(names(ok(a.org_key_actor, "list_labels", team_id=tid(a, team))))

    assert applying_to("emea") == {"Sales only", "EMEA only"}
    assert applying_to("sales") == {"Sales only"}
    assert applying_to("support") == set()
