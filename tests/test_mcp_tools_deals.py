"""list_deals, get_deal and get_usage_report, called in-process through the registry's own call path
(`registry.call_tool`: scope checks, argument validation, error translation) on the `world` fixture.

Deals are org-wide (every member lists every deal of the organisation); the calls of a deal, their count and
the last call date only ever cover the calls the caller can see. The usage report's numbers are worked out by
hand from call dates and durations set in `usage_world`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from accounts.permissions import READ, WRITE, Actor
from accounts.selectors import actor_for_user
from attention_mcp.pagination import encode_cursor
from calls.models import Call, Deal
from mcpgateway import registry
from tests.factories import DealFactory, World
from tests.support.tools import err, ok

pytestmark = pytest.mark.django_db

ActorFor = Callable[[User], Actor]


# --- helpers -----------------------------------------------------------------------------------------------------


def snapshot() -> dict[str, Any]:
    """What these read tools could conceivably touch: deals and calls, in every organisation."""
    return {
        "deals": sorted(Deal.objects.values_list("id", "org_id", "name", "stage", "amount", "owner_id", "crm_id")),
        "calls": sorted(Call.objects.values_list("id", "deal_id", "archived", "private", "started_at", "duration_s")),
    }


def persona(world: World, actor_for: ActorFor, name: str) -> Actor:
    return world.a.org_key_actor if name == "org_key" else actor_for(world.a.users[name])


def globex(page: dict[str, Any], world: World) -> dict[str, Any]:
    return next(d for d in page["deals"] if d["id"] == str(world.a.deals["globex"].pk))


# --- marks ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["list_deals", "get_deal", "get_usage_report"])
def test_deal_tools_are_read_tools_with_described_arguments(name: str) -> None:
    spec = registry.tools()[name]
    assert spec.scope == READ
    assert (spec.admin, spec.user_required, spec.destructive) == (False, False, False)
    assert spec.definition()["annotations"]["readOnlyHint"] is True
    assert spec.input_schema["additionalProperties"] is False
    assert len(spec.description) > 80
    for arg, schema in spec.input_schema["properties"].items():
        assert schema.get("description"), (name, arg)
    props = spec.input_schema["properties"]
    assert (props["page_size"]["default"], props["page_size"]["maximum"]) == (20, 50)
    assert "cursor" in props
    assert "next_cursor" in spec.output_schema["properties"]


@pytest.mark.parametrize("name", ["list_deals", "get_deal", "get_usage_report"])
def test_deal_tools_need_the_read_scope(world: World, name: str) -> None:
    admin = world.a.users["admin"]
    write_only = actor_for_user(user=admin, via="oauth", scopes=frozenset({WRITE}))
    args = {"deal_id": str(world.a.deals["globex"].pk)} if name == "get_deal" else {}
    error = err(write_only, name, **args)
    assert (error["error"], error["required_scope"]) == ("insufficient_scope", READ)


# --- list_deals -----------------------------------------------------------------------------------------------------


def test_list_deals_returns_the_deal_shape(world: World, actor_for: ActorFor) -> None:
    deal = world.a.deals["globex"]
    Deal.objects.filter(pk=deal.pk).update(amount=Decimal("48000.50"), crm_id="006ABC", stage="Negotiation")
    page = ok(actor_for(world.a.users["admin"]), "list_deals")
    url = page["deals"][0].pop("url")
    assert url.endswith(f"/deals/{deal.pk}")
    assert url.startswith("http")
    rep = world.a.users["rep_sales"]
    latest = max(world.a.calls["rep_sales_public"].started_at, world.a.calls["private_owner_private"].started_at)
    assert page == {
        "deals": [
            {
                "id": str(deal.pk),
                "name": "Globex renewal",
                "stage": "Negotiation",
                "amount": "48000.50",
                "owner": {"id": str(rep.pk), "name": rep.full_name, "email": rep.email},
                "crm_id": "006ABC",
                "call_count": 2,
                "last_call_at": latest.isoformat(),
            }
        ],
        "next_cursor": None,
    }


def test_list_deals_gives_null_amount_and_owner_when_unknown(world: World, org_key_actor) -> None:
    bare = DealFactory.create(org=world.a.org, name="Bare deal", owner=None, stage="")
    out = next(d for d in ok(org_key_actor(world.a.org), "list_deals")["deals"] if d["id"] == str(bare.pk))
    assert (out["amount"], out["owner"], out["stage"], out["crm_id"]) == (None, None, "", "")
    assert (out["call_count"], out["last_call_at"]) == (0, None)


# The globex deal is linked to rep_sales_public (Sales, public) and private_owner_private (Sales, private,
# internal_participant took part). Counts follow "Who sees which call".
VISIBLE_DEAL_CALLS = {
    "admin": {"rep_sales_public", "private_owner_private"},
    "org_key": {"rep_sales_public", "private_owner_private"},
    "manager": {"rep_sales_public"},
    "rep_sales": {"rep_sales_public"},
    "listener": {"rep_sales_public"},
    "private_owner": {"rep_sales_public", "private_owner_private"},
    "internal_participant": {"private_owner_private"},
    "rep_emea": set(),
    "outsider_rep": set(),
}


@pytest.mark.parametrize("who", sorted(VISIBLE_DEAL_CALLS))
def test_every_member_lists_the_deal_but_counts_only_calls_they_can_see(
    world: World, actor_for: ActorFor, who: str
) -> None:
    out = globex(ok(persona(world, actor_for, who), "list_deals"), world)
    names = VISIBLE_DEAL_CALLS[who]
    assert out["call_count"] == len(names)
    latest = max((world.a.calls[n].started_at for n in names), default=None)
    assert out["last_call_at"] == (latest.isoformat() if latest else None)


@pytest.mark.parametrize("who", sorted(VISIBLE_DEAL_CALLS))
def test_get_deal_lists_exactly_the_calls_each_persona_can_see(world: World, actor_for: ActorFor, who: str) -> None:
    out = ok(persona(world, actor_for, who), "get_deal", deal_id=str(world.a.deals["globex"].pk))
    assert {c["id"] for c in out["calls"]} == {str(i) for i in world.a.call_ids(*VISIBLE_DEAL_CALLS[who])}
    assert out["call_count"] == len(VISIBLE_DEAL_CALLS[who])


def test_list_deals_never_shows_another_orgs_deals(world: World, actor_for: ActorFor) -> None:
    for actor in (actor_for(world.a.users["admin"]), world.a.org_key_actor, actor_for(world.a.users["rep_sales"])):
        ids = {d["id"] for d in ok(actor, "list_deals", page_size=50)["deals"]}
        assert ids == {str(world.a.deals["globex"].pk)}


def test_archived_calls_are_not_counted_on_a_deal(world: World, actor_for: ActorFor) -> None:
    Call.objects.filter(pk=world.a.calls["rep_sales_public"].pk).update(archived=True)
    rep = actor_for(world.a.users["rep_sales"])
    assert globex(ok(rep, "list_deals"), world)["call_count"] == 0
    out = ok(rep, "get_deal", deal_id=str(world.a.deals["globex"].pk))
    assert (out["call_count"], out["calls"], out["last_call_at"]) == (0, [], None)


def test_list_deals_filters_by_name_or_crm_id_text_case_insensitively(world: World, actor_for: ActorFor) -> None:
    initech = DealFactory.create(org=world.a.org, name="Initech expansion", crm_id="006XYZ42", stage="Proposal")
    DealFactory.create(org=world.b.org, name="Initech expansion", crm_id="006XYZ42")
    rep = actor_for(world.a.users["rep_sales"])

    def ids(**args: Any) -> set[str]:
        return {d["id"] for d in ok(rep, "list_deals", **args)["deals"]}

    assert ids(query="GLOBEX") == {str(world.a.deals["globex"].pk)}
    assert ids(query="  initech   EXPANSION ") == {str(initech.pk)}
    assert ids(query="xyz4") == {str(initech.pk)}
    assert ids(query="nothing like it") == set()
    assert ids(query="%") == set()  # a LIKE wildcard is searched for literally
    assert ids(stage="proposal") == {str(initech.pk)}
    assert ids(stage="Proposal", query="globex") == set()


def test_list_deals_filters_by_owner(world: World, actor_for: ActorFor) -> None:
    rep = actor_for(world.a.users["rep_sales"])
    owned = ok(rep, "list_deals", owner_id=str(world.a.users["rep_sales"].pk))["deals"]
    assert [d["id"] for d in owned] == [str(world.a.deals["globex"].pk)]
    assert ok(rep, "list_deals", owner_id=str(world.a.users["manager"].pk))["deals"] == []


def test_list_deals_owner_of_another_org_is_not_found(world: World, actor_for: ActorFor) -> None:
    before = snapshot()
    foreign = str(world.b.users["rep_sales"].pk)
    error = err(actor_for(world.a.users["admin"]), "list_deals", owner_id=foreign)
    assert error == {"error": "not_found", "message": f"user {foreign} not found"}
    assert snapshot() == before


def test_list_deals_pages_by_name_then_id_without_gaps_or_repeats(world: World, org_key_actor) -> None:
    made = [DealFactory.create(org=world.a.org, name=name) for name in ("Beta", "Alpha", "Beta", "Gamma", "Beta")]
    expected = sorted([*made, world.a.deals["globex"]], key=lambda d: (d.name, str(d.pk)))
    actor = org_key_actor(world.a.org)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = ok(actor, "list_deals", page_size=2, **({"cursor": cursor} if cursor else {}))
        assert len(page["deals"]) <= 2
        seen += [d["id"] for d in page["deals"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [str(d.pk) for d in expected]
    assert pages == 3


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        "eyJrIjoxfQ",  # {"k":1}
        encode_cursor({"k": "reps", "e": "a@b.c"}),
        encode_cursor({"k": "deals", "n": 5, "i": "x"}),
        encode_cursor({"k": "deals", "n": "Alpha", "i": "not-a-uuid"}),
    ],
)
def test_list_deals_refuses_a_cursor_it_did_not_issue(world: World, actor_for: ActorFor, cursor: str) -> None:
    error = err(actor_for(world.a.users["rep_sales"]), "list_deals", cursor=cursor)
    assert (error["error"], error["field"]) == ("invalid_argument", "cursor")


@pytest.mark.parametrize(("args", "field"), [({"page_size": 0}, "page_size"), ({"page_size": 51}, "page_size")])
def test_list_deals_bounds(world: World, actor_for: ActorFor, args: dict[str, Any], field: str) -> None:
    error = err(actor_for(world.a.users["rep_sales"]), "list_deals", **args)
    assert (error["error"], error["field"]) == ("invalid_argument", field)


def test_list_deals_refuses_overlong_text_and_unknown_arguments(world: World, actor_for: ActorFor) -> None:
    rep = actor_for(world.a.users["rep_sales"])
    assert err(rep, "list_deals", query="x" * 201)["field"] == "query"
    assert err(rep, "list_deals", stage="x" * 65)["field"] == "stage"
    assert err(rep, "list_deals", owner="someone")["field"] == "owner"
    assert err(rep, "list_deals", owner_id="not-a-uuid")["field"] == "owner_id"


# --- get_deal -------------------------------------------------------------------------------------------------------


def test_get_deal_returns_the_deal_crm_fields_and_calls_in_search_shape(world: World, actor_for: ActorFor) -> None:
    deal = world.a.deals["globex"]
    Deal.objects.filter(pk=deal.pk).update(crm_fields={"opportunity": {"Region": "EMEA"}}, amount=Decimal("1200"))
    out = ok(actor_for(world.a.users["admin"]), "get_deal", deal_id=str(deal.pk))
    assert (out["id"], out["name"], out["amount"], out["call_count"]) == (str(deal.pk), "Globex renewal", "1200.00", 2)
    assert out["crm_fields"] == {"opportunity": {"Region": "EMEA"}}
    assert out["created_at"] == deal.created_at.isoformat()
    assert out["url"].endswith(f"/deals/{deal.pk}")
    # Newest first, in search_calls' shape.
    calls = out["calls"]
    assert [c["id"] for c in calls] == [
        str(c.pk)
        for c in sorted(
            (world.a.calls["rep_sales_public"], world.a.calls["private_owner_private"]),
            key=lambda c: c.started_at,
            reverse=True,
        )
    ]
    search = ok(actor_for(world.a.users["admin"]), "search_calls", deal_id=str(deal.pk))
    assert calls == search["calls"]
    assert out["next_cursor"] is None
    assert out["last_call_at"] == calls[0]["started_at"]


def test_get_deal_pages_its_calls(world: World, actor_for: ActorFor) -> None:
    admin = actor_for(world.a.users["admin"])
    deal_id = str(world.a.deals["globex"].pk)
    first = ok(admin, "get_deal", deal_id=deal_id, page_size=1)
    assert len(first["calls"]) == 1
    assert first["call_count"] == 2
    second = ok(admin, "get_deal", deal_id=deal_id, page_size=1, cursor=first["next_cursor"])
    assert second["next_cursor"] is None
    ids = {first["calls"][0]["id"], second["calls"][0]["id"]}
    assert ids == {str(i) for i in world.a.call_ids("rep_sales_public", "private_owner_private")}
    error = err(admin, "get_deal", deal_id=deal_id, cursor="!!!")
    assert (error["error"], error["field"]) == ("invalid_argument", "cursor")
    assert err(admin, "get_deal", deal_id=deal_id, page_size=51)["field"] == "page_size"


def test_get_deal_of_another_org_is_not_found_like_a_missing_one(world: World, actor_for: ActorFor) -> None:
    before = snapshot()
    foreign = str(world.b.deals["globex"].pk)
    missing = str(uuid.uuid4())
    for actor in (actor_for(world.a.users["admin"]), world.a.org_key_actor, actor_for(world.a.users["rep_sales"])):
        assert err(actor, "get_deal", deal_id=foreign) == {"error": "not_found", "message": f"deal {foreign} not found"}
        assert err(actor, "get_deal", deal_id=missing) == {"error": "not_found", "message": f"deal {missing} not found"}
    assert err(world.a.org_key_actor, "get_deal", deal_id="not-a-uuid")["field"] == "deal_id"
    assert err(world.a.org_key_actor, "get_deal")["field"] == "deal_id"
    assert snapshot() == before


# --- get_usage_report -----------------------------------------------------------------------------------------------

MARCH = {"from_date": "2025-03-01", "to_date": "2025-03-31"}


def _at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@pytest.fixture
def usage_world(world: World) -> World:
    """Every call of both orgs out of March 2025, then org A's and one of org B's set inside it by hand.

    In March (org A): rep_sales 20 min + 10 min (archived), manager 30 min (internal meeting), rep_emea 15 min,
    private_owner 50 min (private), outsider_rep 40 min (Support). Just outside: admin 2025-04-01 00:00 and
    listener 2025-02-28 23:59:59. Org B's rep_sales has 100 min in March, which must never count for A.
    """
    Call.objects.update(started_at=_at("2024-06-03"))
    plan = {
        "rep_sales_public": (_at("2025-03-03"), 1200, {}),
        "rep_sales_archived": (_at("2025-03-04"), 600, {}),
        "manager_public": (_at("2025-03-05"), 1800, {"is_internal": True}),
        "rep_emea_public": (_at("2025-03-10"), 900, {}),
        "private_owner_private": (_at("2025-03-11"), 3000, {}),
        "outsider_rep_public": (_at("2025-03-12"), 2400, {}),
        "admin_public": (datetime(2025, 4, 1, tzinfo=UTC), 60, {}),
        "listener_public": (datetime(2025, 2, 28, 23, 59, 59, tzinfo=UTC), 60, {}),
    }
    for name, (started_at, duration, extra) in plan.items():
        Call.objects.filter(pk=world.a.calls[name].pk).update(started_at=started_at, duration_s=duration, **extra)
    Call.objects.filter(pk=world.b.calls["rep_sales_public"].pk).update(started_at=_at("2025-03-03"), duration_s=6000)
    return world


def row(world: World, persona_name: str, calls: int, seconds: int, external: int | None = None) -> dict[str, Any]:
    user = world.a.users[persona_name]
    return {
        "rep": {"id": str(user.pk), "name": user.full_name, "email": user.email},
        "calls": calls,
        "external_calls": calls if external is None else external,
        "duration_s": seconds,
        "minutes": round(seconds / 60, 1),
    }


def test_usage_report_for_an_admin_counts_every_call_of_the_org_in_the_range(
    usage_world: World, actor_for: ActorFor
) -> None:
    w = usage_world
    report = ok(actor_for(w.a.users["admin"]), "get_usage_report", **MARCH)
    assert report == {
        "from_date": "2025-03-01",
        "to_date": "2025-03-31",
        "team": None,
        "totals": {"calls": 6, "external_calls": 5, "duration_s": 9900, "minutes": 165.0, "reps": 5},
        # Most calls first, then most minutes.
        "reps": [
            row(w, "rep_sales", 2, 1800),
            row(w, "private_owner", 1, 3000),
            row(w, "outsider_rep", 1, 2400),
            row(w, "manager", 1, 1800, external=0),
            row(w, "rep_emea", 1, 900),
        ],
        "next_cursor": None,
    }
    assert ok(w.a.org_key_actor, "get_usage_report", **MARCH) == report


def test_usage_report_for_a_manager_covers_only_calls_he_can_see(usage_world: World, actor_for: ActorFor) -> None:
    w = usage_world
    manager = actor_for(w.a.users["manager"])
    report = ok(manager, "get_usage_report", **MARCH)
    # Sales and its sub-team EMEA; not the private call, not Support.
    assert report["reps"] == [
        row(w, "rep_sales", 2, 1800),
        row(w, "manager", 1, 1800, external=0),
        row(w, "rep_emea", 1, 900),
    ]
    assert report["totals"] == {"calls": 4, "external_calls": 3, "duration_s": 4500, "minutes": 75.0, "reps": 3}
    # The counted calls are exactly what search_calls gives him for the same range.
    searched = ok(manager, "search_calls", include_archived=True, page_size=50, **MARCH)["calls"]
    assert len(searched) == report["totals"]["calls"]


def test_usage_report_dates_are_inclusive_whole_utc_days(usage_world: World, actor_for: ActorFor) -> None:
    admin = actor_for(usage_world.a.users["admin"])
    assert ok(admin, "get_usage_report", from_date="2025-02-28", to_date="2025-04-01")["totals"]["calls"] == 8
    assert ok(admin, "get_usage_report", from_date="2025-04-01", to_date="2025-04-01")["totals"]["calls"] == 1
    assert ok(admin, "get_usage_report", from_date="2025-03-03", to_date="2025-03-03")["totals"]["calls"] == 1
    empty = ok(admin, "get_usage_report", from_date="2025-05-01", to_date="2025-05-31")
    assert empty["reps"] == []
    assert empty["totals"] == {"calls": 0, "external_calls": 0, "duration_s": 0, "minutes": 0.0, "reps": 0}


def test_usage_report_team_includes_sub_teams(usage_world: World, actor_for: ActorFor) -> None:
    w = usage_world
    admin = actor_for(w.a.users["admin"])
    sales = ok(admin, "get_usage_report", team_id=str(w.a.teams["sales"].pk), **MARCH)
    assert sales["team"] == {"id": str(w.a.teams["sales"].pk), "name": "[Acme] Sales"}
    assert sales["reps"] == [
        row(w, "rep_sales", 2, 1800),
        row(w, "private_owner", 1, 3000),
        row(w, "manager", 1, 1800, external=0),
        row(w, "rep_emea", 1, 900),
    ]
    emea = ok(admin, "get_usage_report", team_id=str(w.a.teams["emea"].pk), **MARCH)
    assert emea["reps"] == [row(w, "rep_emea", 1, 900)]
    assert emea["totals"]["calls"] == 1


def test_usage_report_team_of_another_org_is_not_found(usage_world: World, actor_for: ActorFor) -> None:
    before = snapshot()
    foreign = str(usage_world.b.teams["sales"].pk)
    error = err(actor_for(usage_world.a.users["manager"]), "get_usage_report", team_id=foreign, **MARCH)
    assert error == {"error": "not_found", "message": f"team {foreign} not found"}
    assert snapshot() == before


@pytest.mark.parametrize("who", ["rep_sales", "listener", "rep_emea", "internal_participant"])
def test_usage_report_is_refused_to_reps_and_listeners(usage_world: World, actor_for: ActorFor, who: str) -> None:
    before = snapshot()
    error = err(actor_for(usage_world.a.users[who]), "get_usage_report", **MARCH)
    assert error["error"] == "admin_required"
    assert "manager" in error["message"]
    assert snapshot() == before


def test_usage_report_pages_reps_with_totals_on_every_page(usage_world: World, actor_for: ActorFor) -> None:
    w = usage_world
    admin = actor_for(w.a.users["admin"])
    emails: list[str] = []
    cursor = None
    while True:
        page = ok(admin, "get_usage_report", page_size=2, **MARCH, **({"cursor": cursor} if cursor else {}))
        assert page["totals"]["calls"] == 6
        emails += [r["rep"]["email"] for r in page["reps"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    order = ("rep_sales", "private_owner", "outsider_rep", "manager", "rep_emea")
    assert emails == [w.a.users[p].email for p in order]


@pytest.mark.parametrize(
    "cursor",
    [
        "!!!",
        encode_cursor({"k": "usage", "o": -1}),
        encode_cursor({"k": "usage", "o": "2"}),
        encode_cursor({"k": "deals", "o": 2}),
    ],
)
def test_usage_report_refuses_a_cursor_it_did_not_issue(usage_world: World, actor_for: ActorFor, cursor: str) -> None:
    error = err(actor_for(usage_world.a.users["admin"]), "get_usage_report", cursor=cursor, **MARCH)
    assert (error["error"], error["field"]) == ("invalid_argument", "cursor")


def test_usage_report_defaults_to_the_last_30_days(world: World, actor_for: ActorFor) -> None:
    now = timezone.now()
    today = now.astimezone(UTC).date()
    Call.objects.update(started_at=now - timedelta(days=400))
    Call.objects.filter(pk=world.a.calls["rep_sales_public"].pk).update(started_at=now - timedelta(hours=1))
    # 29 whole days back is still in; 31 days back is not.
    Call.objects.filter(pk=world.a.calls["manager_public"].pk).update(
        started_at=datetime.combine(today - timedelta(days=29), datetime.min.time(), tzinfo=UTC)
    )
    Call.objects.filter(pk=world.a.calls["rep_emea_public"].pk).update(started_at=now - timedelta(days=31))
    report = ok(actor_for(world.a.users["admin"]), "get_usage_report")
    assert (report["from_date"], report["to_date"]) == ((today - timedelta(days=29)).isoformat(), today.isoformat())
    assert report["totals"]["calls"] == 2
    # Only a start: it runs to today, or for 366 days when that is sooner.
    opened = ok(actor_for(world.a.users["admin"]), "get_usage_report", from_date="2020-01-01")
    assert (opened["from_date"], opened["to_date"]) == ("2020-01-01", "2020-12-31")
    recent = ok(actor_for(world.a.users["admin"]), "get_usage_report", from_date=today.isoformat())
    assert (recent["from_date"], recent["to_date"], recent["totals"]["calls"]) == (
        today.isoformat(),
        today.isoformat(),
        1,
    )
    # Only an end: the 30 days up to it.
    closed = ok(actor_for(world.a.users["admin"]), "get_usage_report", to_date="2024-02-29")
    assert (closed["from_date"], closed["to_date"]) == ("2024-01-31", "2024-02-29")


def test_usage_report_range_is_at_most_366_days_and_ordered(world: World, actor_for: ActorFor) -> None:
    admin = actor_for(world.a.users["admin"])
    assert ok(admin, "get_usage_report", from_date="2024-01-01", to_date="2024-12-31")["to_date"] == "2024-12-31"
    too_long = err(admin, "get_usage_report", from_date="2024-01-01", to_date="2025-01-01")
    assert (too_long["error"], too_long["field"]) == ("invalid_argument", "from_date")
    backwards = err(admin, "get_usage_report", from_date="2025-03-02", to_date="2025-03-01")
    assert (backwards["error"], backwards["field"]) == ("invalid_argument", "from_date")
    assert err(admin, "get_usage_report", from_date="2025-02-30")["field"] == "from_date"
    assert err(admin, "get_usage_report", page_size=0)["field"] == "page_size"


def test_usage_report_survives_the_ends_of_the_calendar(world: World, actor_for: ActorFor) -> None:
    admin = actor_for(world.a.users["admin"])
    start = ok(admin, "get_usage_report", to_date="0001-01-05")
    assert (start["from_date"], start["totals"]["calls"]) == ("0001-01-01", 0)
    end = ok(admin, "get_usage_report", from_date="9999-12-01", to_date="9999-12-31")
    assert end["totals"]["calls"] == 0
    assert ok(admin, "get_usage_report", from_date="9999-12-31")["to_date"] == "9999-12-31"
    assert date.fromisoformat(ok(admin, "get_usage_report", from_date="0001-01-01")["to_date"]) == date(
        2, 1, 1
    )  # 366 days; year 1 has 365
