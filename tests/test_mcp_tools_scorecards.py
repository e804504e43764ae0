"""The scorecard tools, called in-process through the registry's own call path (`registry.call_tool`: scope
checks, argument validation, error translation), on the two mirrored organisations of the `world` fixture.

Each organisation gets, on top of the world (tests/conftest.py):

    labels      "Call Type" (Discovery, Demo), "Sentiment" (Positive, Negative)
    call labels Call Type=Demo on rep_sales_public, manager_public, private_owner_private, rep_emea_public and
                rep_sales_archived; Call Type=Discovery on outsider_rep_public
    scorecard   "Demo Quality": all teams, external calls, criteria Call Type=Demo; items
                  pitch  "Tailored pitch"  weight 3, scale 1..5  (middle 3)
                  next   "Next step"       weight 1, scale 0..10 (middle 5)

Refusals are asserted twice: the error, and an unchanged `snapshot()` of everything these tools write.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from accounts.permissions import READ, Actor
from calls.models import (
    Call,
    CallLabel,
    LabelCategory,
    LabelOption,
    Scorecard,
    ScorecardItem,
    ScorecardItemScore,
    ScorecardResult,
)
from mcpgateway import registry
from scorecards.services import Condition, ItemScoreIn, scorecard_create, scorecard_item_create, scorecard_result_create
from tests.factories import OrgWorld, World, system_actor
from tests.support.tools import err, ok

pytestmark = pytest.mark.django_db


# --- helpers -----------------------------------------------------------------------------------------------------


def snapshot() -> dict[str, Any]:
    """Everything the scorecard tools write, in every organisation."""
    return {
        "scorecards": sorted(
            (str(s[0]), *s[1:])
            for s in Scorecard.objects.values_list(
                "id", "title", "all_teams", "interaction_type", "criteria", "prompt", "instructions", "enabled"
            )
        ),
        "teams": sorted(Scorecard.teams.through.objects.values_list("scorecard_id", "team_id")),
        "items": sorted(
            ScorecardItem.objects.values_list(
                "id", "scorecard_id", "title", "weight", "min_score", "middle_score", "max_score", "position"
            )
        ),
        "results": sorted(ScorecardResult.objects.values_list("id", "scorecard_id", "call_id", "summary")),
        "scores": sorted(ScorecardItemScore.objects.values_list("result_id", "item_id", "score")),
    }


@dataclass
class OrgScorecards:
    w: OrgWorld
    labels: dict[str, LabelCategory]
    options: dict[str, LabelOption]
    scorecard: Scorecard
    items: dict[str, ScorecardItem]

    @property
    def id(self) -> str:
        return str(self.scorecard.pk)

    def item(self, key: str) -> str:
        return str(self.items[key].pk)

    def call_id(self, name: str) -> str:
        return str(self.w.calls[name].pk)

    def user_id(self, name: str) -> str:
        return str(self.w.users[name].pk)

    def team_id(self, name: str) -> str:
        return str(self.w.teams[name].pk)

    def score(self, call_name: str, pitch: int | None, next_step: int | None, **kwargs: Any) -> ScorecardResult:
        """A result through the service, as the org's system actor."""
        given = (("pitch", pitch), ("next", next_step))
        return scorecard_result_create(
            actor=system_actor(self.w.org),
            call_id=self.w.calls[call_name].pk,
            scorecard_id=self.scorecard.pk,
            scores=[ItemScoreIn(item_id=self.items[k].pk, score=v) for k, v in given if v is not None],
            **kwargs,
        )


DEMO_CALLS = ("rep_sales_public", "manager_public", "private_owner_private", "rep_emea_public", "rep_sales_archived")


def _label(w: OrgWorld, name: str, values: tuple[str, ...]) -> tuple[LabelCategory, dict[str, LabelOption]]:
    category = LabelCategory.objects.create(org=w.org, name=name)
    options = {v: LabelOption.objects.create(category=category, value=v, position=i) for i, v in enumerate(values)}
    return category, options


def build_scorecards(w: OrgWorld) -> OrgScorecards:
    call_type, types = _label(w, "Call Type", ("Discovery", "Demo"))
    sentiment, moods = _label(w, "Sentiment", ("Positive", "Negative"))
    CallLabel.objects.bulk_create(
        [CallLabel(call=w.calls[name], category=call_type, option=types["Demo"]) for name in DEMO_CALLS]
        + [CallLabel(call=w.calls["outsider_rep_public"], category=call_type, option=types["Discovery"])]
    )
    system = system_actor(w.org)
    scorecard = scorecard_create(
        actor=system,
        title="Demo Quality",
        interaction_type="external",
        conditions=[Condition(field="Call Type", value="Demo")],
        prompt="Score the demo.",
    )
    pitch = scorecard_item_create(
        actor=system, scorecard_id=scorecard.pk, title="Tailored pitch", weight=3, min_score=1, max_score=5
    )
    nxt = scorecard_item_create(
        actor=system, scorecard_id=scorecard.pk, title="Next step", weight=1, min_score=0, max_score=10
    )
    return OrgScorecards(
        w=w,
        labels={"type": call_type, "sentiment": sentiment},
        options={**types, **moods},
        scorecard=scorecard,
        items={"pitch": pitch, "next": nxt},
    )


@dataclass
class Env:
    world: World
    a: OrgScorecards
    b: OrgScorecards
    actor_for: Callable[[User], Actor]

    def as_(self, persona: str) -> Actor:
        return self.actor_for(self.world.a.users[persona])

    @property
    def admin(self) -> Actor:
        return self.as_("admin")

    @property
    def org_key(self) -> Actor:
        return self.world.a.org_key_actor


@pytest.fixture
def env(world: World, actor_for: Callable[[User], Actor]) -> Env:
    return Env(world=world, a=build_scorecards(world.a), b=build_scorecards(world.b), actor_for=actor_for)


# --- schemas (marks and descriptions: the coverage guard in tests/test_authz_matrix.py) ----------------------------


def test_get_scorecards_takes_page_size_up_to_50_and_a_cursor() -> None:
    spec = registry.tools()["get_scorecards"]
    props = spec.input_schema["properties"]
    assert (props["page_size"]["default"], props["page_size"]["maximum"]) == (20, 50)
    assert "cursor" in props
    assert "next_cursor" in spec.output_schema["properties"]


@pytest.mark.parametrize("name", ["create_scorecard", "update_scorecard", "create_scorecard_result"])
def test_write_tools_refuse_a_read_only_credential(env: Env, name: str) -> None:
    read_only = Actor(
        org_id=env.world.a.org.pk,
        user_id=env.world.a.users["admin"].pk,
        roles=frozenset({"admin"}),
        scopes=frozenset({READ}),
        via="oauth",
    )
    before = snapshot()
    error = err(read_only, name, title="x", scorecard_id=env.a.id, conversation_id=env.a.call_id("rep_sales_public"))
    # Scope comes before argument checks, so even a mixed bag of arguments gets the scope error.
    assert (error["error"], error["required_scope"]) == ("insufficient_scope", "mcp:write")
    assert snapshot() == before


# --- get_scorecards, get_scorecard_details -------------------------------------------------------------------------


def test_get_scorecards_lists_the_orgs_scorecards_with_resolved_criteria(env: Env) -> None:
    listed = ok(env.as_("rep_sales"), "get_scorecards")
    assert listed["next_cursor"] is None
    assert [s["id"] for s in listed["scorecards"]] == [env.a.id]
    card = listed["scorecards"][0]
    assert card == {
        "id": env.a.id,
        "title": "Demo Quality",
        "enabled": True,
        "interaction_type": "external",
        "all_teams": True,
        "teams": [],
        "criteria": {
            "operator": "AND",
            "conditions": [
                {
                    "label_id": str(env.a.labels["type"].pk),
                    "label": "Call Type",
                    "option_id": str(env.a.options["Demo"].pk),
                    "option": "Demo",
                }
            ],
        },
        "item_count": 2,
        "total_weight": 4,
        "created_at": env.a.scorecard.created_at.isoformat(),
    }


def test_get_scorecards_pages_by_title_and_refuses_foreign_cursors(env: Env) -> None:
    for title in ("Alpha", "Beta", "Gamma", "Omega"):
        scorecard_create(actor=system_actor(env.world.a.org), title=title)
    seen: list[str] = []
    page = ok(env.admin, "get_scorecards", page_size=2)
    seen += [s["title"] for s in page["scorecards"]]
    while page["next_cursor"]:
        page = ok(env.admin, "get_scorecards", page_size=2, cursor=page["next_cursor"])
        seen += [s["title"] for s in page["scorecards"]]
    assert seen == ["Alpha", "Beta", "Demo Quality", "Gamma", "Omega"]
    for bad in ("!!!", "eyJrIjoiY2FsbHM6ZGF0ZV9kZXNjIn0", "eyJrIjoic2NvcmVjYXJkcyIsInQiOjF9"):
        error = err(env.admin, "get_scorecards", cursor=bad)
        assert (error["error"], error["field"]) == ("invalid_argument", "cursor")
    assert err(env.admin, "get_scorecards", page_size=51)["field"] == "page_size"


def test_get_scorecard_details_returns_items_in_order(env: Env) -> None:
    detail = ok(env.as_("listener"), "get_scorecard_details", scorecard_id=env.a.id)
    assert (detail["scorecard_prompt"], detail["instructions"], detail["expert_mode"]) == ("Score the demo.", "", False)
    assert detail["items"] == [
        {
            "id": env.a.item("pitch"),
            "title": "Tailored pitch",
            "position": 0,
            "weight": 3,
            "min_score": 1,
            "middle_score": 3,
            "max_score": 5,
            "min_criteria": "",
            "middle_criteria": "",
            "max_criteria": "",
        },
        {
            "id": env.a.item("next"),
            "title": "Next step",
            "position": 1,
            "weight": 1,
            "min_score": 0,
            "middle_score": 5,
            "max_score": 10,
            "min_criteria": "",
            "middle_criteria": "",
            "max_criteria": "",
        },
    ]


def test_get_scorecard_details_of_another_org_is_not_found_like_a_missing_one(env: Env) -> None:
    missing = str(uuid.uuid4())
    for ident in (env.b.id, missing):
        assert err(env.org_key, "get_scorecard_details", scorecard_id=ident) == {
            "error": "not_found",
            "message": f"scorecard {ident} not found",
        }
    assert err(env.admin, "get_scorecard_details", scorecard_id="not-a-uuid")["field"] == "scorecard_id"


def test_deleted_label_shows_as_a_condition_that_never_matches(env: Env) -> None:
    env.a.labels["type"].delete()
    condition = ok(env.admin, "get_scorecard_details", scorecard_id=env.a.id)["criteria"]["conditions"][0]
    assert (condition["label"], condition["option"]) == (None, None)
    error = err(
        env.admin,
        "create_scorecard_result",
        conversation_id=env.a.call_id("rep_sales_public"),
        scorecard_id=env.a.id,
        items=[{"item_id": env.a.item("pitch"), "score": 3}],
    )
    assert (error["error"], error["field"]) == ("invalid_argument", "conversation_id")


# --- create_scorecard, update_scorecard ----------------------------------------------------------------------------


def test_create_scorecard_stores_label_criteria_as_ids(env: Env) -> None:
    created = ok(
        env.admin,
        "create_scorecard",
        title="  Discovery   Excellence ",
        team_ids=[env.a.team_id("sales"), env.a.team_id("sales")],
        interaction_type="external",
        criteria={
            "operator": "OR",
            "conditions": [
                {"field": "call type", "value": "discovery"},
                {"field": str(env.a.labels["sentiment"].pk), "value": str(env.a.options["Negative"].pk)},
            ],
        },
        scorecard_prompt="Judge discovery.",
        instructions="Quote the call.",
        expert_mode=True,
    )
    assert created["title"] == "Discovery Excellence"
    assert (created["all_teams"], created["enabled"], created["item_count"], created["items"]) == (False, True, 0, [])
    assert created["teams"] == [{"id": env.a.team_id("sales"), "name": env.world.a.teams["sales"].name}]
    assert [(c["label"], c["option"]) for c in created["criteria"]["conditions"]] == [
        ("Call Type", "Discovery"),
        ("Sentiment", "Negative"),
    ]
    stored = Scorecard.objects.get(pk=created["id"])
    assert stored.org_id == env.world.a.org.pk
    assert stored.criteria == {
        "operator": "OR",
        "conditions": [
            {"label_id": str(env.a.labels["type"].pk), "option_id": str(env.a.options["Discovery"].pk)},
            {"label_id": str(env.a.labels["sentiment"].pk), "option_id": str(env.a.options["Negative"].pk)},
        ],
    }
    assert (stored.prompt, stored.instructions, stored.expert_mode) == ("Judge discovery.", "Quote the call.", True)


def test_create_scorecard_defaults_to_every_call_and_org_keys_may_create(env: Env) -> None:
    created = ok(env.org_key, "create_scorecard", title="Any call")
    assert (created["all_teams"], created["interaction_type"], created["criteria"]) == (
        True,
        "any",
        {"operator": "AND", "conditions": []},
    )
    assert Scorecard.objects.get(pk=created["id"]).criteria == {}


@pytest.mark.parametrize("persona", ["manager", "rep_sales", "listener"])
def test_admin_tools_refuse_non_admins(env: Env, persona: str) -> None:
    actor = env.as_(persona)
    before = snapshot()
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("create_scorecard", {"title": "Mine"}),
        ("update_scorecard", {"scorecard_id": env.a.id, "enabled": False}),
        ("create_scorecard_item", {"scorecard_id": env.a.id, "title": "Extra"}),
        ("update_scorecard_item", {"scorecard_id": env.a.id, "item_id": env.a.item("pitch"), "weight": 9}),
        ("delete_scorecard_item", {"scorecard_id": env.a.id, "item_id": env.a.item("pitch")}),
        ("reorder_scorecard_items", {"scorecard_id": env.a.id, "item_ids": [env.a.item("next"), env.a.item("pitch")]}),
    ]
    for name, args in attempts:
        assert err(actor, name, **args)["error"] == "admin_required", name
    assert snapshot() == before


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"all_teams": True, "team_ids": ["sales"]}, "all_teams"),
        ({"all_teams": False}, "team_ids"),
        ({"criteria": {"conditions": [{"field": "Call Type", "value": "Webinar"}]}}, "criteria"),
        (
            {
                "criteria": {
                    "operator": "AND",
                    "conditions": [
                        {"field": "Call Type", "value": "Demo"},
                        {"field": "Call Type", "value": "Discovery"},
                    ],
                }
            },
            "criteria",
        ),
        ({"criteria": {"operator": "XOR", "conditions": []}}, "criteria"),
        ({"criteria": {"conditions": [{"field": "Call Type", "value": "Demo", "extra": 1}]}}, "criteria"),
        ({"interaction_type": "video"}, "interaction_type"),
        ({"title": " "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"scorecard_prompt": "p" * 10_001}, "scorecard_prompt"),
        ({"owner": "me"}, "owner"),
    ],
)
def test_create_scorecard_refuses_inconsistent_arguments(env: Env, args: dict[str, Any], field: str) -> None:
    args = {"title": "New card", **args}
    if "team_ids" in args:
        args["team_ids"] = [env.a.team_id(t) for t in args["team_ids"]]
    before = snapshot()
    error = err(env.admin, "create_scorecard", **args)
    assert (error["error"], error["field"]) == ("invalid_argument", field), error
    assert snapshot() == before


def test_create_scorecard_names_the_valid_options_of_a_label(env: Env) -> None:
    error = err(
        env.admin, "create_scorecard", title="X", criteria={"conditions": [{"field": "Call Type", "value": "Webinar"}]}
    )
    assert "Discovery, Demo" in error["message"]
    assert "conditions[0]" in error["message"]


def test_create_scorecard_with_another_orgs_label_option_or_team_is_not_found(env: Env) -> None:
    before = snapshot()
    foreign_label = str(env.b.labels["type"].pk)
    foreign_option = str(env.b.options["Demo"].pk)
    attempts: list[dict[str, Any]] = [
        {"criteria": {"conditions": [{"field": foreign_label, "value": "Demo"}]}},
        {"criteria": {"conditions": [{"field": "Call Type", "value": foreign_option}]}},
        {"criteria": {"conditions": [{"field": "Region", "value": "EMEA"}]}},
        {"team_ids": [env.b.team_id("sales")]},
        {"team_ids": [env.a.team_id("sales"), str(uuid.uuid4())]},
    ]
    for args in attempts:
        assert err(env.admin, "create_scorecard", title="Leaky", **args)["error"] == "not_found", args
    assert snapshot() == before


def test_create_scorecard_refuses_a_title_in_use(env: Env) -> None:
    before = snapshot()
    error = err(env.admin, "create_scorecard", title="demo quality")
    assert (error["error"], error["field"]) == ("conflict", "title")
    assert snapshot() == before
    # The other organisation's titles are its own business.
    assert ok(env.world.b.org_key_actor, "create_scorecard", title="Brand new")["title"] == "Brand new"


def test_update_scorecard_keeps_omitted_fields(env: Env) -> None:
    updated = ok(env.admin, "update_scorecard", scorecard_id=env.a.id, enabled=False, instructions="Be fair.")
    assert (updated["enabled"], updated["instructions"], updated["scorecard_prompt"]) == (
        False,
        "Be fair.",
        "Score the demo.",
    )
    assert (updated["title"], updated["interaction_type"], updated["item_count"]) == ("Demo Quality", "external", 2)
    assert updated["criteria"]["conditions"][0]["option"] == "Demo"


def test_update_scorecard_replaces_teams_and_criteria(env: Env) -> None:
    updated = ok(
        env.admin,
        "update_scorecard",
        scorecard_id=env.a.id,
        title="Demo Quality v2",
        team_ids=[env.a.team_id("emea")],
        interaction_type="any",
        criteria={"conditions": []},
    )
    assert (updated["title"], updated["all_teams"], updated["interaction_type"]) == ("Demo Quality v2", False, "any")
    assert [t["id"] for t in updated["teams"]] == [env.a.team_id("emea")]
    assert updated["criteria"]["conditions"] == []
    assert Scorecard.objects.get(pk=env.a.id).criteria == {}
    # all_teams=false with no team_ids keeps the current teams; all_teams=true clears them.
    kept = ok(env.admin, "update_scorecard", scorecard_id=env.a.id, all_teams=False)
    assert [t["id"] for t in kept["teams"]] == [env.a.team_id("emea")]
    everyone = ok(env.admin, "update_scorecard", scorecard_id=env.a.id, all_teams=True)
    assert (everyone["all_teams"], everyone["teams"]) == (True, [])
    before = snapshot()
    refused: list[dict[str, Any]] = [{"all_teams": False}, {"team_ids": []}]
    for args in refused:
        error = err(env.admin, "update_scorecard", scorecard_id=env.a.id, **args)
        assert (error["error"], error["field"]) == ("invalid_argument", "team_ids")
    assert snapshot() == before


def test_update_scorecard_of_another_org_is_not_found_and_changes_nothing(env: Env) -> None:
    before = snapshot()
    assert err(env.org_key, "update_scorecard", scorecard_id=env.b.id, enabled=False)["error"] == "not_found"
    error = err(env.admin, "update_scorecard", scorecard_id=env.a.id, team_ids=[env.b.team_id("emea")], title="X")
    assert error["error"] == "not_found"
    error = err(
        env.admin,
        "update_scorecard",
        scorecard_id=env.a.id,
        title="Y",
        criteria={"conditions": [{"field": "Nope", "value": "x"}]},
    )
    assert error["error"] == "not_found"
    assert snapshot() == before


def test_update_scorecard_refuses_another_scorecards_title(env: Env) -> None:
    scorecard_create(actor=system_actor(env.world.a.org), title="Discovery")
    before = snapshot()
    assert err(env.admin, "update_scorecard", scorecard_id=env.a.id, title="DISCOVERY")["error"] == "conflict"
    assert snapshot() == before
    assert ok(env.admin, "update_scorecard", scorecard_id=env.a.id, title="demo quality")["title"] == "demo quality"


# --- items ---------------------------------------------------------------------------------------------------------


def test_create_scorecard_item_appends_with_a_midpoint_default(env: Env) -> None:
    item = ok(
        env.admin,
        "create_scorecard_item",
        scorecard_id=env.a.id,
        title="Handled objections",
        weight=2,
        min=0,
        max=3,
        max_criteria="Every objection answered with proof.",
    )
    assert {k: item[k] for k in ("scorecard_id", "title", "weight", "position")} == {
        "scorecard_id": env.a.id,
        "title": "Handled objections",
        "weight": 2,
        "position": 2,
    }
    assert (item["min_score"], item["middle_score"], item["max_score"]) == (0, 1, 3)
    assert item["max_criteria"] == "Every objection answered with proof."
    default = ok(env.org_key, "create_scorecard_item", scorecard_id=env.a.id, title="Rapport")
    assert (default["weight"], default["min_score"], default["middle_score"], default["max_score"]) == (1, 1, 3, 5)
    assert default["position"] == 3


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"min": 5, "max": 5}, "max"),
        ({"min": 6, "max": 5}, "max"),
        ({"min": 1, "middle": 0, "max": 5}, "middle"),
        ({"min": 1, "middle": 6, "max": 5}, "middle"),
        ({"weight": 0}, "weight"),
        ({"weight": 101}, "weight"),
        ({"max": 101}, "max"),
        ({"min": -1}, "min"),
        ({"min_criteria": "c" * 2001}, "min_criteria"),
        ({"title": ""}, "title"),
    ],
)
def test_create_scorecard_item_refuses_bad_scales(env: Env, args: dict[str, Any], field: str) -> None:
    before = snapshot()
    error = err(env.admin, "create_scorecard_item", scorecard_id=env.a.id, **{"title": "Item", **args})
    assert (error["error"], error["field"]) == ("invalid_argument", field), error
    assert snapshot() == before


def test_create_scorecard_item_stops_at_fifty_items(env: Env) -> None:
    ScorecardItem.objects.bulk_create(
        ScorecardItem(scorecard=env.a.scorecard, title=f"Item {n}", position=n + 2) for n in range(48)
    )
    before = snapshot()
    error = err(env.admin, "create_scorecard_item", scorecard_id=env.a.id, title="One too many")
    assert (error["error"], error["field"]) == ("invalid_argument", "scorecard_id")
    assert snapshot() == before


def test_create_scorecard_item_on_another_orgs_scorecard_is_not_found(env: Env) -> None:
    before = snapshot()
    assert err(env.org_key, "create_scorecard_item", scorecard_id=env.b.id, title="Leak")["error"] == "not_found"
    assert snapshot() == before


def test_update_scorecard_item_changes_only_given_fields(env: Env) -> None:
    item = ok(
        env.admin,
        "update_scorecard_item",
        scorecard_id=env.a.id,
        item_id=env.a.item("next"),
        title="Dated next step",
        max=20,
        middle_criteria="A follow-up without a date.",
    )
    assert (item["title"], item["weight"], item["min_score"], item["middle_score"], item["max_score"]) == (
        "Dated next step",
        1,
        0,
        5,
        20,
    )
    assert item["middle_criteria"] == "A follow-up without a date."
    error = err(env.admin, "update_scorecard_item", scorecard_id=env.a.id, item_id=env.a.item("next"), middle=21)
    assert (error["error"], error["field"]) == ("invalid_argument", "middle")
    error = err(env.admin, "update_scorecard_item", scorecard_id=env.a.id, item_id=env.a.item("next"), min=20)
    assert (error["error"], error["field"]) == ("invalid_argument", "max")


def test_update_scorecard_item_keeps_existing_scores_inside_the_scale(env: Env) -> None:
    env.a.score("rep_sales_public", pitch=5, next_step=0)
    before = snapshot()
    error = err(env.admin, "update_scorecard_item", scorecard_id=env.a.id, item_id=env.a.item("pitch"), max=4, middle=3)
    assert (error["error"], error["field"]) == ("conflict", "max")
    error = err(env.admin, "update_scorecard_item", scorecard_id=env.a.id, item_id=env.a.item("next"), min=1)
    assert (error["error"], error["field"]) == ("conflict", "min")
    assert snapshot() == before
    widened = ok(env.admin, "update_scorecard_item", scorecard_id=env.a.id, item_id=env.a.item("pitch"), max=7)
    assert widened["max_score"] == 7


def test_item_tools_refuse_an_item_of_another_scorecard_or_org(env: Env) -> None:
    other_card = scorecard_create(actor=system_actor(env.world.a.org), title="Other")
    other_item = scorecard_item_create(actor=system_actor(env.world.a.org), scorecard_id=other_card.pk, title="Theirs")
    before = snapshot()
    for item_id in (str(other_item.pk), env.b.item("pitch"), str(uuid.uuid4())):
        assert err(env.admin, "update_scorecard_item", scorecard_id=env.a.id, item_id=item_id, weight=2) == {
            "error": "not_found",
            "message": f"scorecard item {item_id} not found",
        }
        assert err(env.admin, "delete_scorecard_item", scorecard_id=env.a.id, item_id=item_id)["error"] == "not_found"
    assert err(env.org_key, "delete_scorecard_item", scorecard_id=env.b.id, item_id=env.b.item("pitch"))["error"] == (
        "not_found"
    )
    assert snapshot() == before


def test_delete_scorecard_item_removes_its_scores_and_closes_the_gap(env: Env) -> None:
    third = scorecard_item_create(actor=system_actor(env.world.a.org), scorecard_id=env.a.scorecard.pk, title="Third")
    first = env.a.score("rep_sales_public", pitch=4, next_step=2)
    env.a.score("manager_public", pitch=2, next_step=None)
    deleted = ok(env.admin, "delete_scorecard_item", scorecard_id=env.a.id, item_id=env.a.item("pitch"))
    assert deleted == {"id": env.a.item("pitch"), "scorecard_id": env.a.id, "deleted": True, "scores_removed": 2}
    assert not ScorecardItem.objects.filter(pk=env.a.items["pitch"].pk).exists()
    assert list(first.scores.values_list("item_id", "score")) == [(env.a.items["next"].pk, 2)]
    detail = ok(env.admin, "get_scorecard_details", scorecard_id=env.a.id)
    assert [(i["id"], i["position"]) for i in detail["items"]] == [(env.a.item("next"), 0), (str(third.pk), 1)]
    again = err(env.admin, "delete_scorecard_item", scorecard_id=env.a.id, item_id=env.a.item("pitch"))
    assert again["error"] == "not_found"


def test_reorder_scorecard_items_applies_a_permutation(env: Env) -> None:
    third = scorecard_item_create(actor=system_actor(env.world.a.org), scorecard_id=env.a.scorecard.pk, title="Third")
    order = [str(third.pk), env.a.item("pitch"), env.a.item("next")]
    detail = ok(env.admin, "reorder_scorecard_items", scorecard_id=env.a.id, item_ids=order)
    assert [(i["id"], i["position"]) for i in detail["items"]] == [(order[0], 0), (order[1], 1), (order[2], 2)]
    assert ok(env.as_("rep_sales"), "get_scorecard_details", scorecard_id=env.a.id)["items"] == detail["items"]


def test_reorder_scorecard_items_refuses_anything_but_a_permutation(env: Env) -> None:
    pitch, nxt = env.a.item("pitch"), env.a.item("next")
    other_card = scorecard_create(actor=system_actor(env.world.a.org), title="Other")
    theirs = str(scorecard_item_create(actor=system_actor(env.world.a.org), scorecard_id=other_card.pk, title="T").pk)
    before = snapshot()
    for item_ids in ([nxt], [pitch], [nxt, pitch, pitch]):
        error = err(env.admin, "reorder_scorecard_items", scorecard_id=env.a.id, item_ids=item_ids)
        assert (error["error"], error["field"]) == ("invalid_argument", "item_ids"), item_ids
    # An id that is not one of this scorecard's items, from this org or another, is not_found alike.
    for stranger in (env.b.item("pitch"), theirs, str(uuid.uuid4())):
        for item_ids in ([nxt, pitch, stranger], [nxt, stranger]):
            assert err(env.admin, "reorder_scorecard_items", scorecard_id=env.a.id, item_ids=item_ids) == {
                "error": "not_found",
                "message": f"scorecard item {stranger} not found",
            }
    assert err(env.admin, "reorder_scorecard_items", scorecard_id=env.a.id, item_ids=[])["field"] == "item_ids"
    assert err(env.org_key, "reorder_scorecard_items", scorecard_id=env.b.id, item_ids=[nxt, pitch])["error"] == (
        "not_found"
    )
    assert snapshot() == before


# --- create_scorecard_result ---------------------------------------------------------------------------------------


def test_a_rep_scores_a_visible_call(env: Env) -> None:
    rep = env.world.a.users["rep_sales"]
    result = ok(
        env.as_("rep_sales"),
        "create_scorecard_result",
        conversation_id=env.a.call_id("manager_public"),
        scorecard_id=env.a.id,
        summary="Good demo, weak close.",
        items=[
            {"item_id": env.a.item("next"), "score": 10, "description": "Dated follow-up."},
            {"item_id": env.a.item("pitch"), "score": 3},
        ],
    )
    # 100 * (3 * (3-1)/(5-1) + 1 * (10-0)/(10-0)) / (3 + 1) = 62.5
    assert result["score"] == 62.5
    assert result["scorecard"] == {"id": env.a.id, "name": "Demo Quality"}
    assert (result["conversation_id"], result["conversation_title"]) == (
        env.a.call_id("manager_public"),
        "manager public call",
    )
    assert result["conversation_url"].endswith(f"/calls/{env.a.call_id('manager_public')}")
    assert result["summary"] == "Good demo, weak close."
    assert result["created_by"] == {"id": str(rep.pk), "name": rep.full_name, "email": rep.email}
    assert [(s["item_id"], s["score"], s["description"]) for s in result["scores"]] == [
        (env.a.item("pitch"), 3, ""),
        (env.a.item("next"), 10, "Dated follow-up."),
    ]
    assert result["scores"][0] == {
        "item_id": env.a.item("pitch"),
        "title": "Tailored pitch",
        "weight": 3,
        "score": 3,
        "min_score": 1,
        "max_score": 5,
        "description": "",
    }
    stored = ScorecardResult.objects.get(pk=result["id"])
    assert (stored.call_id, stored.created_by_id) == (env.world.a.calls["manager_public"].pk, rep.pk)


def test_an_org_key_result_has_no_author(env: Env) -> None:
    result = ok(
        env.org_key,
        "create_scorecard_result",
        conversation_id=env.a.call_id("private_owner_private"),
        scorecard_id=env.a.id,
        items=[{"item_id": env.a.item("pitch"), "score": 5}],
    )
    assert (result["created_by"], result["score"], result["summary"]) == (None, 100.0, "")


def test_scoring_a_call_the_caller_cannot_see_is_not_found(env: Env) -> None:
    before = snapshot()
    rep = env.as_("rep_sales")
    args = {"scorecard_id": env.a.id, "items": [{"item_id": env.a.item("pitch"), "score": 3}]}
    for call_id in (
        env.a.call_id("private_owner_private"),  # a teammate's private call
        env.a.call_id("rep_emea_public"),  # not in the rep's team
        env.b.call_id("rep_sales_public"),  # another org
        str(uuid.uuid4()),
    ):
        assert err(rep, "create_scorecard_result", conversation_id=call_id, **args) == {
            "error": "not_found",
            "message": f"call {call_id} not found",
        }
    foreign_card = {"scorecard_id": env.b.id, "items": [{"item_id": env.b.item("pitch"), "score": 3}]}
    error = err(
        env.org_key, "create_scorecard_result", conversation_id=env.a.call_id("rep_sales_public"), **foreign_card
    )
    assert error["error"] == "not_found"
    assert snapshot() == before


@pytest.mark.parametrize(
    ("items", "field", "code"),
    [
        ([{"item_id": "pitch", "score": 6}], "items", "invalid_argument"),
        ([{"item_id": "pitch", "score": 0}], "items", "invalid_argument"),
        ([{"item_id": "next", "score": 11}], "items", "invalid_argument"),
        ([{"item_id": "pitch", "score": 101}], "items", "invalid_argument"),
        ([{"item_id": "pitch", "score": 3}, {"item_id": "pitch", "score": 4}], "items", "invalid_argument"),
        ([], "items", "invalid_argument"),
        ([{"item_id": "pitch", "score": 3, "weight": 9}], "items", "invalid_argument"),
        ([{"item_id": "pitch", "score": 3, "description": "d" * 1001}], "items", "invalid_argument"),
        ([{"item_id": "pitch", "score": 3}, {"item_id": "foreign", "score": 3}], None, "not_found"),
        ([{"item_id": "next", "score": 3}, {"item_id": "other_card", "score": 3}], None, "not_found"),
    ],
)
def test_create_scorecard_result_is_all_or_nothing(
    env: Env, items: list[dict[str, Any]], field: str | None, code: str
) -> None:
    other_card = scorecard_create(actor=system_actor(env.world.a.org), title="Other")
    ids = {
        "pitch": env.a.item("pitch"),
        "next": env.a.item("next"),
        "foreign": env.b.item("pitch"),
        "other_card": str(
            scorecard_item_create(actor=system_actor(env.world.a.org), scorecard_id=other_card.pk, title="O").pk
        ),
    }
    args = [{**i, "item_id": ids[i["item_id"]]} for i in items]
    before = snapshot()
    error = err(
        env.as_("rep_sales"),
        "create_scorecard_result",
        conversation_id=env.a.call_id("rep_sales_public"),
        scorecard_id=env.a.id,
        items=args,
    )
    assert error["error"] == code, error
    assert error.get("field") == field
    assert snapshot() == before


def test_a_disabled_scorecard_takes_no_results(env: Env) -> None:
    ok(env.admin, "update_scorecard", scorecard_id=env.a.id, enabled=False)
    before = snapshot()
    error = err(
        env.admin,
        "create_scorecard_result",
        conversation_id=env.a.call_id("rep_sales_public"),
        scorecard_id=env.a.id,
        items=[{"item_id": env.a.item("pitch"), "score": 3}],
    )
    assert (error["error"], error["field"]) == ("invalid_argument", "scorecard_id")
    assert "disabled" in error["message"]
    assert snapshot() == before


def test_a_scorecard_only_scores_calls_it_applies_to(env: Env) -> None:
    admin = env.admin
    item = [{"item_id": env.a.item("pitch"), "score": 3}]

    def refusal(call_name: str) -> str:
        error = err(
            admin,
            "create_scorecard_result",
            conversation_id=env.a.call_id(call_name),
            scorecard_id=env.a.id,
            items=item,
        )
        assert (error["error"], error["field"]) == ("invalid_argument", "conversation_id")
        return str(error["message"])

    before = snapshot()
    # Label criteria: a Discovery call, and a call with no label at all.
    assert "label criteria" in refusal("outsider_rep_public")
    assert "label criteria" in refusal("listener_public")
    # Interaction type: an internal meeting, even one labelled Demo.
    Call.objects.filter(pk=env.world.a.calls["rep_sales_public"].pk).update(is_internal=True)
    assert "external calls only" in refusal("rep_sales_public")
    # Teams: a Sales scorecard covers the EMEA sub-team, not Support nor a call without a team.
    ok(admin, "update_scorecard", scorecard_id=env.a.id, team_ids=[env.a.team_id("sales")], criteria={"conditions": []})
    before = snapshot()
    assert "teams" in refusal("outsider_rep_public")
    assert "teams" in refusal("admin_public")
    assert snapshot() == before
    ok(
        admin,
        "create_scorecard_result",
        conversation_id=env.a.call_id("rep_emea_public"),
        scorecard_id=env.a.id,
        items=item,
    )
    # OR criteria: either label matches.
    ok(
        admin,
        "update_scorecard",
        scorecard_id=env.a.id,
        all_teams=True,
        interaction_type="internal",
        criteria={
            "operator": "OR",
            "conditions": [{"field": "Call Type", "value": "Discovery"}, {"field": "Call Type", "value": "Demo"}],
        },
    )
    assert "internal meetings only" in refusal("manager_public")
    ok(
        admin,
        "create_scorecard_result",
        conversation_id=env.a.call_id("rep_sales_public"),
        scorecard_id=env.a.id,
        items=item,
    )


# --- get_scorecard_summary -----------------------------------------------------------------------------------------


@pytest.fixture
def scored(env: Env) -> Env:
    """Results worked out by hand (pitch: weight 3, 1..5; next: weight 1, 0..10):

        call                    owner          pitch  next   call score
        rep_sales_public        rep_sales      5      0      100*(3*1.00 + 1*0.0)/4 = 75.0   (an older 1/0 is replaced)
        manager_public          manager        3      10     100*(3*0.50 + 1*1.0)/4 = 62.5
        private_owner_private   private_owner  1      5      100*(3*0.00 + 1*0.5)/4 = 12.5
        rep_emea_public         rep_emea       4      -      100*(3*0.75)/3         = 75.0   (2025-02-01; others 01-10)
        rep_sales_archived      rep_sales      5      10     100.0                           (archived)

    The other organisation's mirrored scorecard gets results too; they must never show up.
    """
    old = env.a.score("rep_sales_public", pitch=1, next_step=0, summary="first take")
    ScorecardResult.objects.filter(pk=old.pk).update(created_at=old.created_at - timedelta(days=1))
    env.a.score("rep_sales_public", pitch=5, next_step=0)
    env.a.score("manager_public", pitch=3, next_step=10)
    env.a.score("private_owner_private", pitch=1, next_step=5)
    env.a.score("rep_emea_public", pitch=4, next_step=None)
    env.a.score("rep_sales_archived", pitch=5, next_step=10)
    # The factories' call times run on across tests: pin the dates this fixture's filters look at.
    Call.objects.filter(org=env.world.a.org).update(started_at=datetime(2025, 1, 10, 12, tzinfo=UTC))
    Call.objects.filter(pk=env.world.a.calls["rep_emea_public"].pk).update(
        started_at=datetime(2025, 2, 1, 12, tzinfo=UTC)
    )
    for name in ("rep_sales_public", "manager_public", "rep_emea_public"):
        env.b.score(name, pitch=1, next_step=1)
    return env


def _reps(summary: dict[str, Any]) -> dict[str, tuple[int, float | None, list[float | None]]]:
    return {r["user"]["id"]: (r["calls_scored"], r["overall_score"], r["item_averages"]) for r in summary["reps"]}


def test_summary_for_an_admin_counts_every_visible_call_once(scored: Env) -> None:
    a = scored.a
    summary = ok(scored.admin, "get_scorecard_summary", scorecard_id=a.id)
    assert summary["scorecard"] == {"id": a.id, "name": "Demo Quality"}
    assert (summary["from_date"], summary["to_date"]) == (None, None)
    assert "sum(weight" in summary["formula"]
    assert summary["calls_scored"] == 4
    # (75 + 62.5 + 12.5 + 75) / 4
    assert summary["overall_score"] == 56.25
    assert summary["items"] == [
        {
            "item_id": a.item("pitch"),
            "title": "Tailored pitch",
            "weight": 3,
            "min_score": 1,
            "max_score": 5,
            "calls_scored": 4,
            "average_score": 3.25,  # (5 + 3 + 1 + 4) / 4
            "average_percent": 56.25,  # (100 + 50 + 0 + 75) / 4
        },
        {
            "item_id": a.item("next"),
            "title": "Next step",
            "weight": 1,
            "min_score": 0,
            "max_score": 10,
            "calls_scored": 3,
            "average_score": 5.0,  # (0 + 10 + 5) / 3
            "average_percent": 50.0,
        },
    ]
    assert summary["reps_total"] == 4
    assert _reps(summary) == {
        a.user_id("rep_sales"): (1, 75.0, [5.0, 0.0]),
        a.user_id("manager"): (1, 62.5, [3.0, 10.0]),
        a.user_id("private_owner"): (1, 12.5, [1.0, 5.0]),
        a.user_id("rep_emea"): (1, 75.0, [4.0, None]),
    }
    rep = next(r["user"] for r in summary["reps"] if r["user"]["id"] == a.user_id("rep_emea"))
    assert rep["email"] == scored.world.a.users["rep_emea"].email


def test_a_reps_summary_leaves_out_a_teammates_private_call(scored: Env) -> None:
    summary = ok(scored.as_("rep_sales"), "get_scorecard_summary", scorecard_id=scored.a.id)
    # rep_sales sees their own call and the manager's (a Sales teammate), not private_owner's private call
    # nor rep_emea's (EMEA only): (75 + 62.5) / 2.
    assert summary["calls_scored"] == 2
    assert summary["overall_score"] == 68.75
    assert [(i["average_score"], i["calls_scored"]) for i in summary["items"]] == [(4.0, 2), (5.0, 2)]
    assert set(_reps(summary)) == {scored.a.user_id("rep_sales"), scored.a.user_id("manager")}
    # The private call's owner sees it.
    own = ok(scored.as_("private_owner"), "get_scorecard_summary", scorecard_id=scored.a.id)
    assert scored.a.user_id("private_owner") in _reps(own)


def test_a_managers_summary_covers_sub_teams_but_not_private_calls(scored: Env) -> None:
    summary = ok(scored.as_("manager"), "get_scorecard_summary", scorecard_id=scored.a.id)
    assert summary["calls_scored"] == 3
    assert summary["overall_score"] == 70.83  # (75 + 62.5 + 75) / 3
    assert scored.a.user_id("private_owner") not in _reps(summary)


def test_summary_filters_by_date_rep_team_and_archive(scored: Env) -> None:
    a, admin = scored.a, scored.admin

    def summary(**args: Any) -> dict[str, Any]:
        return ok(admin, "get_scorecard_summary", scorecard_id=a.id, **args)

    february = summary(from_date="2025-02-01", to_date="2025-02-01")
    assert (february["from_date"], february["calls_scored"], february["overall_score"]) == ("2025-02-01", 1, 75.0)
    assert summary(to_date="2025-01-31")["calls_scored"] == 3
    assert summary(user_ids=[a.user_id("rep_sales")])["overall_score"] == 75.0
    assert summary(user_ids=[a.user_id("manager"), a.user_id("private_owner")])["overall_score"] == 37.5
    assert summary(team_ids=[a.team_id("emea")])["calls_scored"] == 1
    assert summary(team_ids=[a.team_id("sales")])["calls_scored"] == 4  # EMEA is a sub-team of Sales
    assert summary(team_ids=[a.team_id("support")])["calls_scored"] == 0
    archived = summary(include_archived=True)
    # (75 + 62.5 + 12.5 + 75 + 100) / 5; rep_sales now has two calls: (75 + 100) / 2.
    assert (archived["calls_scored"], archived["overall_score"]) == (5, 65.0)
    assert _reps(archived)[a.user_id("rep_sales")] == (2, 87.5, [5.0, 5.0])
    assert archived["reps"][0]["user"]["id"] == a.user_id("rep_sales")  # most-scored first


def test_summary_with_nothing_scored_is_empty_not_an_error(env: Env) -> None:
    summary = ok(env.as_("listener"), "get_scorecard_summary", scorecard_id=env.a.id)
    assert (summary["calls_scored"], summary["overall_score"], summary["reps"], summary["reps_total"]) == (
        0,
        None,
        [],
        0,
    )
    assert [(i["calls_scored"], i["average_score"], i["average_percent"]) for i in summary["items"]] == [
        (0, None, None),
        (0, None, None),
    ]


def test_summary_refuses_foreign_ids_and_reversed_dates(scored: Env) -> None:
    a, b, admin = scored.a, scored.b, scored.admin
    assert err(admin, "get_scorecard_summary", scorecard_id=b.id)["error"] == "not_found"
    assert err(admin, "get_scorecard_summary", scorecard_id=a.id, user_ids=[b.user_id("rep_sales")])["error"] == (
        "not_found"
    )
    assert err(admin, "get_scorecard_summary", scorecard_id=a.id, team_ids=[b.team_id("sales")])["error"] == "not_found"
    error = err(admin, "get_scorecard_summary", scorecard_id=a.id, from_date="2025-03-01", to_date="2025-02-01")
    assert (error["error"], error["field"]) == ("invalid_argument", "from_date")
    assert err(admin, "get_scorecard_summary", scorecard_id=a.id, user_ids=["x"] * 51)["field"] == "user_ids"


def test_summary_query_count_does_not_grow_with_results(scored: Env) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            ok(scored.admin, "get_scorecard_summary", scorecard_id=scored.a.id)
        return len(ctx.captured_queries)

    first = queries()
    for name in ("admin_public", "listener_public", "rep_emea_public", "manager_public"):
        CallLabel.objects.update_or_create(
            call=scored.world.a.calls[name],
            category=scored.a.labels["type"],
            defaults={"option": scored.a.options["Demo"]},
        )
        scored.a.score(name, pitch=2, next_step=2)
    assert queries() == first


def test_call_details_show_only_the_latest_result_of_each_scorecard(world: World) -> None:
    """A rescoring replaces the earlier result in get_call_details, as it does in the summary."""
    a = world.a
    card = Scorecard.objects.create(org=a.org, title="Rescored")
    item = ScorecardItem.objects.create(scorecard=card, title="Next step", position=0)
    call_id = str(a.calls["rep_sales_public"].pk)
    for score in (2, 5):
        registry.call_tool(
            registry.tools()["create_scorecard_result"],
            a.org_key_actor,
            {
                "conversation_id": call_id,
                "scorecard_id": str(card.pk),
                "items": [{"item_id": str(item.pk), "score": score}],
            },
        )
    assert ScorecardResult.objects.filter(scorecard=card).count() == 2
    details = registry.call_tool(registry.tools()["get_call_details"], a.org_key_actor, {"call_id": call_id})
    shown = [r for r in details["structuredContent"]["scorecard_results"] if r["scorecard_id"] == str(card.pk)]
    assert [[s["score"] for s in r["scores"]] for r in shown] == [[5]]
