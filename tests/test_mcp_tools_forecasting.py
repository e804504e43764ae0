"""get_forecast_config, create_forecast_category and update_forecast_category through the registry's own call
path (`registry.call_tool`), on the `world` fixture's two mirrored organisations.

The world's organisations start without forecast categories, as any organisation made by
`organization_create` does: the built-in system columns appear the first time the configuration is read or
extended. Refusals are asserted twice: the error, and an unchanged `snapshot()` of every organisation's
categories.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from accounts.errors import InvalidArgument
from accounts.models import User
from accounts.permissions import READ, WRITE, Actor
from accounts.selectors import actor_for_user
from calls.models import ForecastCategory, ForecastColumnType
from forecasting.services import DEFAULT_SYSTEM_CATEGORIES, forecast_category_create, forecast_defaults_ensure
from tests.factories import World
from tests.support.tools import err, ok

pytestmark = pytest.mark.django_db

ActorFor = Callable[[User], Actor]
DEFAULT_KEYS = [key for key, *_ in DEFAULT_SYSTEM_CATEGORIES]


# --- helpers -----------------------------------------------------------------------------------------------------


def snapshot() -> list[tuple[Any, ...]]:
    """Every forecast category of every organisation, every field."""
    return sorted(
        ForecastCategory.objects.values_list(
            "id",
            "org_id",
            "column_key",
            "label",
            "description",
            "column_type",
            "display_order",
            "color",
            "include_in_call",
        )
    )


def admin(world: World, actor_for: ActorFor) -> Actor:
    return actor_for(world.a.users["admin"])


def keys(config: dict[str, Any]) -> list[str]:
    return [c["column_key"] for c in config["categories"]]


def by_key(config: dict[str, Any], key: str) -> dict[str, Any]:
    return next(c for c in config["categories"] if c["column_key"] == key)


@pytest.fixture
def upside(world: World, actor_for: ActorFor) -> dict[str, Any]:
    """A caller-made call column in org A (after the defaults) and the same key in org B."""
    made = ok(admin(world, actor_for), "create_forecast_category", column_key="upside", label="Upside")
    ok(world.b.org_key_actor, "create_forecast_category", column_key="upside", label="Upside")
    return made


# --- get_forecast_config ------------------------------------------------------------------------------------------


def test_a_new_org_gets_the_system_columns_on_first_read_once(world: World, actor_for: ActorFor) -> None:
    assert not ForecastCategory.objects.filter(org=world.a.org).exists()
    config = ok(actor_for(world.a.users["rep_sales"]), "get_forecast_config")
    assert keys(config) == DEFAULT_KEYS
    commit = config["categories"][0]
    assert set(commit) == {
        "id",
        "column_key",
        "label",
        "description",
        "column_type",
        "system",
        "display_order",
        "color",
        "include_in_call",
    }
    assert (commit["label"], commit["column_type"], commit["system"], commit["display_order"], commit["color"]) == (
        "Commit",
        "system",
        True,
        1,
        "#2e7d32",
    )
    assert commit["include_in_call"] is True
    assert ok(admin(world, actor_for), "get_forecast_config") == config
    assert ForecastCategory.objects.filter(org=world.a.org).count() == len(DEFAULT_KEYS)
    # The other organisation was not touched by A's reads.
    assert not ForecastCategory.objects.filter(org=world.b.org).exists()


def test_an_org_with_its_own_system_columns_keeps_them_as_they_are(world: World, actor_for: ActorFor) -> None:
    # The demo seed's shape: its own system columns plus a call column.
    ForecastCategory.objects.create(
        org=world.a.org, column_key="commit", label="Commit", column_type=ForecastColumnType.SYSTEM, display_order=2
    )
    ForecastCategory.objects.create(org=world.a.org, column_key="upside", label="Upside", display_order=1)
    config = ok(actor_for(world.a.users["rep_sales"]), "get_forecast_config")
    assert keys(config) == ["upside", "commit"]
    assert [c["system"] for c in config["categories"]] == [False, True]


def test_forecast_config_shows_only_the_callers_org(world: World, actor_for: ActorFor, upside: dict[str, Any]) -> None:
    mine = ok(actor_for(world.a.users["manager"]), "get_forecast_config")
    ids = {c["id"] for c in mine["categories"]}
    assert ids == {str(pk) for pk in ForecastCategory.objects.filter(org=world.a.org).values_list("pk", flat=True)}
    assert not ids & {str(pk) for pk in ForecastCategory.objects.filter(org=world.b.org).values_list("pk", flat=True)}
    assert keys(mine) == [*DEFAULT_KEYS, "upside"]


def test_forecast_config_is_in_display_order(world: World, actor_for: ActorFor) -> None:
    actor = admin(world, actor_for)
    ok(actor, "create_forecast_category", column_key="first", label="First", display_order=0)
    ok(actor, "create_forecast_category", column_key="middle", label="Middle", display_order=3)
    assert keys(ok(actor, "get_forecast_config")) == [
        "first",
        "commit",
        "best_case",
        "middle",
        "pipeline",
        "closed_won",
    ]


def test_forecast_defaults_ensure_is_idempotent(world: World) -> None:
    forecast_defaults_ensure(org_id=world.a.org.pk)
    first = snapshot()
    forecast_defaults_ensure(org_id=world.a.org.pk)
    assert snapshot() == first
    assert len(first) == len(DEFAULT_KEYS)


def test_forecast_config_needs_the_read_scope(world: World) -> None:
    write_only = actor_for_user(user=world.a.users["admin"], via="oauth", scopes=frozenset({WRITE}))
    error = err(write_only, "get_forecast_config")
    assert (error["error"], error["required_scope"]) == ("insufficient_scope", READ)
    assert snapshot() == []


# --- create_forecast_category -------------------------------------------------------------------------------------


def test_create_forecast_category_returns_it_and_places_it_last(world: World, actor_for: ActorFor) -> None:
    made = ok(
        admin(world, actor_for),
        "create_forecast_category",
        column_key="at_risk",
        label="  At   risk ",
        description="Deals a manager flagged.",
        column_type="deal_rollup",
        color="#AA00CC",
        include_in_call=False,
    )
    assert made == {
        "id": made["id"],
        "column_key": "at_risk",
        "label": "At risk",
        "description": "Deals a manager flagged.",
        "column_type": "deal_rollup",
        "system": False,
        "display_order": len(DEFAULT_KEYS) + 1,
        "color": "#aa00cc",
        "include_in_call": False,
    }
    row = ForecastCategory.objects.get(pk=made["id"])
    assert row.org_id == world.a.org.pk
    # Creating in a new org also gave it its system columns, before the new one.
    assert keys(ok(admin(world, actor_for), "get_forecast_config")) == [*DEFAULT_KEYS, "at_risk"]


def test_create_forecast_category_defaults(world: World) -> None:
    made = ok(world.a.org_key_actor, "create_forecast_category", column_key="upside", label="Upside")
    assert (made["column_type"], made["description"], made["color"], made["include_in_call"]) == ("call", "", "", True)


def test_the_same_key_may_exist_in_two_orgs(world: World, actor_for: ActorFor, upside: dict[str, Any]) -> None:
    assert ForecastCategory.objects.filter(column_key="upside").count() == 2


@pytest.mark.parametrize("key", ["upside", "commit", "closed_won"])
def test_create_forecast_category_with_a_key_in_use_is_a_conflict(
    world: World, actor_for: ActorFor, upside: dict[str, Any], key: str
) -> None:
    before = snapshot()
    error = err(admin(world, actor_for), "create_forecast_category", column_key=key, label="Again")
    assert (error["error"], error["field"]) == ("conflict", "column_key")
    assert snapshot() == before


def test_create_forecast_category_conflicts_with_a_system_key_even_in_a_new_org(world: World) -> None:
    error = err(world.a.org_key_actor, "create_forecast_category", column_key="commit", label="Mine")
    assert (error["error"], error["field"]) == ("conflict", "column_key")
    # The refused call changed nothing: not even the defaults it would have created stayed.
    assert snapshot() == []


@pytest.mark.parametrize("who", ["rep_sales", "manager", "listener"])
def test_only_admins_create_forecast_categories(world: World, actor_for: ActorFor, who: str) -> None:
    error = err(actor_for(world.a.users[who]), "create_forecast_category", column_key="upside", label="Upside")
    assert error["error"] == "admin_required"
    assert snapshot() == []


def test_create_forecast_category_needs_the_write_scope(world: World) -> None:
    read_only = actor_for_user(user=world.a.users["admin"], via="oauth", scopes=frozenset({READ}))
    error = err(read_only, "create_forecast_category", column_key="upside", label="Upside")
    assert (error["error"], error["required_scope"]) == ("insufficient_scope", WRITE)
    assert snapshot() == []


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"column_type": "system"}, "column_type"),
        ({"column_type": "weekly"}, "column_type"),
        ({"column_key": "Upside"}, "column_key"),
        ({"column_key": "has space"}, "column_key"),
        ({"column_key": "trailing_"}, "column_key"),
        ({"column_key": ""}, "column_key"),
        ({"column_key": "k" * 65}, "column_key"),
        ({"label": ""}, "label"),
        ({"label": "   "}, "label"),
        ({"label": "x" * 101}, "label"),
        ({"description": "x" * 1001}, "description"),
        ({"color": "red"}, "color"),
        ({"color": "#12345"}, "color"),
        ({"color": "#1234567"}, "color"),
        ({"display_order": -1}, "display_order"),
        ({"display_order": 10_001}, "display_order"),
        ({"include_in_call": "maybe"}, "include_in_call"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_create_forecast_category_refuses_bad_input(
    world: World, actor_for: ActorFor, args: dict[str, Any], field: str
) -> None:
    full = {"column_key": "upside", "label": "Upside", **args}
    error = err(admin(world, actor_for), "create_forecast_category", **full)
    assert (error["error"], error["field"]) == ("invalid_argument", field)
    assert snapshot() == []


def test_the_service_refuses_system_columns_from_any_entry_point(world: World) -> None:
    with pytest.raises(InvalidArgument) as refused:
        forecast_category_create(
            actor=world.a.org_key_actor, column_key="mine", label="Mine", column_type=ForecastColumnType.SYSTEM
        )
    assert refused.value.field == "column_type"
    assert snapshot() == []


# --- update_forecast_category -------------------------------------------------------------------------------------


def test_update_forecast_category_changes_given_fields_and_keeps_the_rest(
    world: World, actor_for: ActorFor, upside: dict[str, Any]
) -> None:
    actor = admin(world, actor_for)
    changed = ok(actor, "update_forecast_category", category_id=upside["id"], label="Upside!", color="#ABCDEF")
    assert changed == {**upside, "label": "Upside!", "color": "#abcdef"}
    moved = ok(
        actor,
        "update_forecast_category",
        category_id=upside["id"],
        column_key="stretch",
        column_type="deal_rollup",
        display_order=0,
        include_in_call=False,
        description="Stretch goals",
    )
    assert moved == {
        **changed,
        "column_key": "stretch",
        "column_type": "deal_rollup",
        "display_order": 0,
        "include_in_call": False,
        "description": "Stretch goals",
    }
    cleared = ok(actor, "update_forecast_category", category_id=upside["id"], color="", description="")
    assert (cleared["color"], cleared["description"]) == ("", "")
    assert keys(ok(actor, "get_forecast_config"))[0] == "stretch"


def test_system_categories_accept_description_and_include_in_call(world: World, actor_for: ActorFor) -> None:
    actor = admin(world, actor_for)
    commit = by_key(ok(actor, "get_forecast_config"), "commit")
    changed = ok(
        actor, "update_forecast_category", category_id=commit["id"], description="Sure things", include_in_call=False
    )
    assert changed == {**commit, "description": "Sure things", "include_in_call": False}
    # Sending the other fields back unchanged is fine: a client may echo the whole category.
    echoed = {k: v for k, v in changed.items() if k not in ("id", "system")}
    assert ok(actor, "update_forecast_category", category_id=commit["id"], **echoed) == changed


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"label": "Sure"}, "label"),
        ({"column_key": "sure"}, "column_key"),
        ({"column_type": "call"}, "column_type"),
        ({"display_order": 9}, "display_order"),
        ({"color": "#000000"}, "color"),
        ({"description": "Fine", "label": "Sure"}, "label"),
    ],
)
def test_system_categories_refuse_other_fields_naming_the_field(
    world: World, actor_for: ActorFor, args: dict[str, Any], field: str
) -> None:
    actor = admin(world, actor_for)
    commit = by_key(ok(actor, "get_forecast_config"), "commit")
    before = snapshot()
    error = err(actor, "update_forecast_category", category_id=commit["id"], **args)
    assert (error["error"], error["field"]) == ("invalid_argument", field)
    assert "description and include_in_call" in error["message"]
    assert snapshot() == before


def test_a_category_cannot_become_system(world: World, actor_for: ActorFor, upside: dict[str, Any]) -> None:
    before = snapshot()
    error = err(admin(world, actor_for), "update_forecast_category", category_id=upside["id"], column_type="system")
    assert (error["error"], error["field"]) == ("invalid_argument", "column_type")
    assert snapshot() == before


def test_renaming_a_key_to_one_in_use_is_a_conflict(world: World, actor_for: ActorFor, upside: dict[str, Any]) -> None:
    before = snapshot()
    error = err(admin(world, actor_for), "update_forecast_category", category_id=upside["id"], column_key="pipeline")
    assert (error["error"], error["field"]) == ("conflict", "column_key")
    assert snapshot() == before
    # Its own key is no conflict.
    assert ok(admin(world, actor_for), "update_forecast_category", category_id=upside["id"], column_key="upside")


def test_update_forecast_category_of_another_org_is_not_found(
    world: World, actor_for: ActorFor, upside: dict[str, Any]
) -> None:
    before = snapshot()
    foreign = str(ForecastCategory.objects.get(org=world.b.org, column_key="upside").pk)
    missing = str(uuid.uuid4())
    for actor in (admin(world, actor_for), world.a.org_key_actor):
        error = err(actor, "update_forecast_category", category_id=foreign, label="Mine now")
        assert error == {"error": "not_found", "message": f"forecast category {foreign} not found"}
        error = err(actor, "update_forecast_category", category_id=missing, label="Mine now")
        assert error == {"error": "not_found", "message": f"forecast category {missing} not found"}
    assert snapshot() == before


@pytest.mark.parametrize("who", ["rep_sales", "manager"])
def test_only_admins_update_forecast_categories(
    world: World, actor_for: ActorFor, upside: dict[str, Any], who: str
) -> None:
    before = snapshot()
    error = err(actor_for(world.a.users[who]), "update_forecast_category", category_id=upside["id"], label="X")
    assert error["error"] == "admin_required"
    assert snapshot() == before


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"category_id": "not-a-uuid"}, "category_id"),
        ({"label": ""}, "label"),
        ({"label": "  "}, "label"),
        ({"color": "blue"}, "color"),
        ({"column_key": "Bad Key"}, "column_key"),
        ({"display_order": 10_001}, "display_order"),
        ({"column_type": "weekly"}, "column_type"),
    ],
)
def test_update_forecast_category_refuses_bad_input(
    world: World, actor_for: ActorFor, upside: dict[str, Any], args: dict[str, Any], field: str
) -> None:
    before = snapshot()
    error = err(admin(world, actor_for), "update_forecast_category", **{"category_id": upside["id"], **args})
    assert (error["error"], error["field"]) == ("invalid_argument", field)
    assert snapshot() == before
