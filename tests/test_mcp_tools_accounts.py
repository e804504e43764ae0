"""The teams, users-and-roles and invitation tools, called in-process through the registry's own call path
(`registry.call_tool`: scope and user-level checks, argument validation, error translation), plus one
end-to-end check over HTTP that delete_user ends a user-level key at its next request.

Every test gets two organisations from `make_org()` (tests/support/mcp.py): `acme`, the caller's, and
`other`, with the same shape. Refusals are asserted twice: the error, and an unchanged `snapshot()`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Invitation, Membership, Role, Team, User
from accounts.permissions import ALL_SCOPES, READ, Actor
from accounts.selectors import actor_for_user
from attention_mcp.pagination import encode_cursor
from mcpgateway import registry
from tests.support.catalog import CATALOG_MARKS
from tests.support.mcp import McpOrg, assert_invalid_token, committed, make_org, post, request, tool_error, tool_ok
from tests.support.tools import err, ok

pytest_plugins = ["tests.support.mcp_fixtures"]  # the live-server test at the end: mcp_url, fresh_org
pytestmark = pytest.mark.django_db


# --- helpers -----------------------------------------------------------------------------------------------------


@dataclass
class Orgs:
    acme: McpOrg
    other: McpOrg
    manager: User

    @property
    def admin(self) -> Actor:
        """The admin through OAuth with both scopes."""
        return actor_for_user(user=self.acme.admin, via="oauth", scopes=ALL_SCOPES)

    @property
    def admin_read_only(self) -> Actor:
        return actor_for_user(user=self.acme.admin, via="oauth", scopes=frozenset({READ}))

    @property
    def rep(self) -> Actor:
        return actor_for_user(user=self.acme.rep, via="user_key", scopes=ALL_SCOPES)

    @property
    def manager_actor(self) -> Actor:
        return actor_for_user(user=self.manager, via="oauth", scopes=ALL_SCOPES)

    @property
    def org_key(self) -> Actor:
        return Actor.org_wide(self.acme.org.pk, via="org_key")

    def team(self, key: str) -> str:
        return str(self.acme.teams[key].pk)

    def role(self, role_type: str, org: McpOrg | None = None) -> str:
        return str(Role.objects.get(org=(org or self.acme).org, type=role_type).pk)


@pytest.fixture
def orgs() -> Orgs:
    acme = make_org()
    other = make_org()
    return Orgs(acme=acme, other=other, manager=acme.add_user("manager", "manager", ("sales",)))


def snapshot() -> dict[str, Any]:
    """Everything these tools write, in every organisation."""
    return {
        "teams": sorted(Team.objects.values_list("id", "name", "parent_id", "path", "archived")),
        "memberships": sorted(Membership.objects.values_list("user_id", "team_id", "primary")),
        "roles": sorted(Role.objects.filter(users__isnull=False).values_list("users", "id")),
        "users": sorted(
            User.objects.values_list(
                "id", "first_name", "last_name", "seat_type", "bot_name", "deals_enabled", "deactivated_at"
            )
        ),
        "invitations": sorted(
            Invitation.objects.values_list("id", "email", "team_id", "role_id", "seat_type", "invited_by", "expires_at")
        ),
        "sessions": sorted(Session.objects.values_list("session_key", flat=True)),
    }


def roles_of(user: User) -> set[str]:
    return set(user.roles.values_list("type", flat=True))


def teams_of(user: User) -> dict[str, bool]:
    return {
        m.team.name.split("] ", 1)[1]: m.primary for m in Membership.objects.filter(user=user).select_related("team")
    }


def invite(orgs: Orgs, email: str = "new.rep@acme.example", **args: Any) -> dict[str, Any]:
    return ok(orgs.admin, "invite_user", email=email, **args)


# --- schemas (marks and descriptions: the coverage guard in tests/test_authz_matrix.py) ----------------------------


def test_lists_take_page_size_up_to_50_and_a_cursor() -> None:
    for name in ("get_team_members", "list_reps", "list_invitations"):
        props = registry.tools()[name].input_schema["properties"]
        assert props["page_size"]["default"] == 20
        assert props["page_size"]["maximum"] == 50
        assert "cursor" in props
        assert "next_cursor" in registry.tools()[name].output_schema["properties"]


# --- get_team, get_team_members ---------------------------------------------------------------------------------


def test_get_team_returns_parent_sub_teams_and_url(orgs: Orgs) -> None:
    sales = ok(orgs.rep, "get_team", id=orgs.team("sales"))
    name = orgs.acme.org.name
    assert sales["name"] == f"[{name}] Sales"
    assert sales["parent"] is None
    assert sales["sub_teams"] == [{"id": orgs.team("emea"), "name": f"[{name}] EMEA"}]
    assert (sales["depth"], sales["archived"], sales["member_count"]) == (0, False, 2)
    assert sales["url"].endswith(f"/teams/{orgs.team('sales')}")
    emea = ok(orgs.rep, "get_team", id=orgs.team("emea"))
    assert emea["parent"] == {"id": orgs.team("sales"), "name": f"[{name}] Sales"}
    assert emea["depth"] == 1


def test_get_team_of_another_org_is_not_found_like_a_missing_one(orgs: Orgs) -> None:
    foreign = str(orgs.other.teams["sales"].pk)
    missing = str(uuid.uuid4())
    assert err(orgs.admin, "get_team", id=foreign) == {"error": "not_found", "message": f"team {foreign} not found"}
    assert err(orgs.admin, "get_team", id=missing) == {"error": "not_found", "message": f"team {missing} not found"}
    assert err(orgs.org_key, "get_team_members", id=foreign)["error"] == "not_found"


def test_get_team_members_pages_by_email(orgs: Orgs) -> None:
    extra = [orgs.acme.add_user(f"zz{n}", teams=("sales",)) for n in range(3)]
    first = ok(orgs.rep, "get_team_members", id=orgs.team("sales"), page_size=2)
    assert first["team"]["id"] == orgs.team("sales")
    seen = [m["email"] for m in first["members"]]
    cursor = first["next_cursor"]
    while cursor:
        page = ok(orgs.rep, "get_team_members", id=orgs.team("sales"), page_size=2, cursor=cursor)
        seen += [m["email"] for m in page["members"]]
        cursor = page["next_cursor"]
    expected = sorted([orgs.acme.rep.email, orgs.manager.email] + [u.email for u in extra])
    assert seen == expected
    rep = next(m for m in first["members"] if m["id"] == str(orgs.acme.rep.pk))
    assert rep == {
        "id": str(orgs.acme.rep.pk),
        "email": orgs.acme.rep.email,
        "first_name": "Rita",
        "last_name": "Rep",
        "seat_type": "recording",
        "roles": ["sales_rep"],
        "primary": True,
        "active": True,
    }
    support = ok(orgs.rep, "get_team_members", id=orgs.team("support"))["members"]
    assert [(m["email"], m["primary"]) for m in support] == [(orgs.acme.rep.email, False)]


def test_get_team_members_refuses_a_cursor_of_another_team_or_a_forged_one(orgs: Orgs) -> None:
    for n in range(3):
        orgs.acme.add_user(f"m{n}", teams=("support",))
    cursor = ok(orgs.rep, "get_team_members", id=orgs.team("support"), page_size=1)["next_cursor"]
    assert cursor
    for bad in (cursor, "!!!", "eyJrIjoxfQ"):
        error = err(orgs.rep, "get_team_members", id=orgs.team("sales"), cursor=bad)
        assert (error["error"], error["field"]) == ("invalid_argument", "cursor")


# --- create_team, update_team, archive_team, change_team_parent ---------------------------------------------------


def test_create_team_prefixes_the_org_name(orgs: Orgs) -> None:
    team = ok(orgs.admin, "create_team", name="  Renewals  Desk ", parent_team_id=orgs.team("emea"))
    assert team["name"] == f"[{orgs.acme.org.name}] Renewals Desk"
    assert team["parent"]["id"] == orgs.team("emea")
    assert team["depth"] == 2
    assert team["url"].endswith(f"/teams/{team['id']}")
    assert Team.objects.get(pk=team["id"]).org_id == orgs.acme.org.pk
    top = ok(orgs.org_key, "create_team", name=f"[{orgs.acme.org.name}] Partners")
    assert top["name"] == f"[{orgs.acme.org.name}] Partners"
    assert top["parent"] is None


def test_create_team_refusals_change_nothing(orgs: Orgs) -> None:
    before = snapshot()
    assert err(orgs.rep, "create_team", name="X")["error"] == "admin_required"
    assert err(orgs.manager_actor, "create_team", name="X")["error"] == "admin_required"
    foreign_parent = str(orgs.other.teams["sales"].pk)
    assert err(orgs.admin, "create_team", name="X", parent_team_id=foreign_parent)["error"] == "not_found"
    conflict = err(orgs.admin, "create_team", name="Sales")
    assert (conflict["error"], conflict["field"]) == ("conflict", "name")
    for bad in ("", "   ", "x" * 101, f"[{orgs.acme.org.name}]"):
        error = err(orgs.admin, "create_team", name=bad)
        assert (error["error"], error["field"]) == ("invalid_argument", "name"), bad
    assert snapshot() == before


def test_update_team_renames_and_moves_keeping_omitted_fields(orgs: Orgs) -> None:
    renamed = ok(orgs.admin, "update_team", team_id=orgs.team("emea"), name="EMEA North")
    assert renamed["name"] == f"[{orgs.acme.org.name}] EMEA North"
    assert renamed["parent"]["id"] == orgs.team("sales")  # parent kept
    moved = ok(orgs.admin, "update_team", team_id=orgs.team("emea"), parent_team_id=orgs.team("support"))
    assert moved["name"] == renamed["name"]  # name kept
    assert moved["parent"]["id"] == orgs.team("support")
    assert Team.objects.get(pk=orgs.team("emea")).path.startswith(Team.objects.get(pk=orgs.team("support")).path)


def test_update_team_naming_another_orgs_team_changes_nothing(orgs: Orgs) -> None:
    before = snapshot()
    foreign = str(orgs.other.teams["support"].pk)
    error = err(orgs.admin, "update_team", team_id=orgs.team("emea"), name="Renamed", parent_team_id=foreign)
    assert error["error"] == "not_found"
    assert err(orgs.admin, "update_team", team_id=foreign, name="Mine now")["error"] == "not_found"
    assert err(orgs.rep, "update_team", team_id=orgs.team("emea"), name="Renamed")["error"] == "admin_required"
    assert snapshot() == before


def test_archive_team_is_reversible(orgs: Orgs) -> None:
    assert ok(orgs.admin, "archive_team", team_id=orgs.team("sales"))["archived"] is True
    assert Team.objects.get(pk=orgs.team("sales")).archived is True
    assert Membership.objects.filter(team_id=orgs.team("sales")).count() == 2
    assert ok(orgs.admin, "archive_team", team_id=orgs.team("sales"), archived=False)["archived"] is False
    before = snapshot()
    assert err(orgs.rep, "archive_team", team_id=orgs.team("sales"))["error"] == "admin_required"
    assert err(orgs.admin, "archive_team", team_id=str(orgs.other.teams["sales"].pk))["error"] == "not_found"
    assert snapshot() == before
    assert Team.objects.get(pk=orgs.other.teams["sales"].pk).archived is False


def test_change_team_parent_moves_to_the_top_level_when_omitted(orgs: Orgs) -> None:
    team = ok(orgs.admin, "change_team_parent", team_id=orgs.team("emea"))
    assert team["parent"] is None
    assert team["depth"] == 0
    team = ok(orgs.admin, "change_team_parent", team_id=orgs.team("sales"), parent_team_id=orgs.team("emea"))
    assert team["parent"]["id"] == orgs.team("emea")


def test_change_team_parent_refuses_cycles(orgs: Orgs) -> None:
    london = ok(orgs.admin, "create_team", name="London", parent_team_id=orgs.team("emea"))
    before = snapshot()
    for parent in (orgs.team("sales"), orgs.team("emea"), london["id"]):
        error = err(orgs.admin, "change_team_parent", team_id=orgs.team("sales"), parent_team_id=parent)
        assert (error["error"], error["field"]) == ("invalid_argument", "parent_team_id"), parent
    error = err(orgs.admin, "update_team", team_id=orgs.team("sales"), parent_team_id=london["id"])
    assert (error["error"], error["field"]) == ("invalid_argument", "parent_team_id")
    foreign = str(orgs.other.teams["sales"].pk)
    assert err(orgs.admin, "change_team_parent", team_id=orgs.team("sales"), parent_team_id=foreign)["error"] == (
        "not_found"
    )
    assert err(orgs.rep, "change_team_parent", team_id=orgs.team("emea"))["error"] == "admin_required"
    assert snapshot() == before


# --- add_team_member, remove_team_member --------------------------------------------------------------------------


def test_add_team_member_by_id_or_email_with_a_role(orgs: Orgs) -> None:
    newbie = orgs.acme.add_user("newbie")
    added = ok(orgs.admin, "add_team_member", team_id=orgs.team("emea"), user_id=str(newbie.pk))
    assert added["team"]["id"] == orgs.team("emea")
    assert added["primary"] is True  # a first team is primary
    assert added["user"]["teams"] == [{"id": orgs.team("emea"), "name": added["team"]["name"], "primary": True}]
    added = ok(
        orgs.org_key,
        "add_team_member",
        team_id=orgs.team("support"),
        user_email=newbie.email.upper(),
        role_id=orgs.role("manager"),
        primary=True,
    )
    assert added["primary"] is True
    assert teams_of(newbie) == {"EMEA": False, "Support": True}
    assert roles_of(newbie) == {"sales_rep", "manager"}
    assert added["user"]["roles"] == ["manager", "sales_rep"]
    # Again: nothing new.
    ok(orgs.admin, "add_team_member", team_id=orgs.team("support"), user_id=str(newbie.pk))
    assert teams_of(newbie) == {"EMEA": False, "Support": True}


def test_add_team_member_mixed_references_change_nothing(orgs: Orgs) -> None:
    newbie = orgs.acme.add_user("newbie")
    before = snapshot()
    other = orgs.other
    for args in (
        {"team_id": str(other.teams["sales"].pk), "user_id": str(newbie.pk)},
        {"team_id": orgs.team("sales"), "user_id": str(other.rep.pk)},
        {"team_id": orgs.team("sales"), "user_email": other.rep.email},
        {"team_id": orgs.team("sales"), "user_id": str(newbie.pk), "role_id": orgs.role("admin", other)},
        {"team_id": orgs.team("sales"), "user_id": str(uuid.uuid4())},
    ):
        assert err(orgs.admin, "add_team_member", **args)["error"] == "not_found", args
    for args in (
        {"team_id": orgs.team("sales")},
        {"team_id": orgs.team("sales"), "user_id": str(newbie.pk), "user_email": newbie.email},
    ):
        error = err(orgs.admin, "add_team_member", **args)
        assert (error["error"], error["field"]) == ("invalid_argument", "user_id")
    assert err(orgs.rep, "add_team_member", team_id=orgs.team("sales"), user_id=str(newbie.pk))["error"] == (
        "admin_required"
    )
    assert snapshot() == before


def test_remove_team_member_promotes_another_primary(orgs: Orgs) -> None:
    rep = orgs.acme.rep
    removed = ok(orgs.admin, "remove_team_member", team_id=orgs.team("sales"), user_id=str(rep.pk))
    assert removed["team"]["id"] == orgs.team("sales")
    assert [(t["id"], t["primary"]) for t in removed["user"]["teams"]] == [(orgs.team("support"), True)]
    assert teams_of(rep) == {"Support": True}
    error = err(orgs.admin, "remove_team_member", team_id=orgs.team("sales"), user_id=str(rep.pk))
    assert error["error"] == "not_found"


def test_remove_team_member_refusals_change_nothing(orgs: Orgs) -> None:
    before = snapshot()
    rep, other = orgs.acme.rep, orgs.other
    assert err(orgs.rep, "remove_team_member", team_id=orgs.team("sales"), user_id=str(rep.pk))["error"] == (
        "admin_required"
    )
    for team_id, user_id in (
        (str(other.teams["sales"].pk), str(other.rep.pk)),
        (orgs.team("sales"), str(other.rep.pk)),
        (str(other.teams["sales"].pk), str(rep.pk)),
    ):
        assert err(orgs.admin, "remove_team_member", team_id=team_id, user_id=user_id)["error"] == "not_found"
    assert snapshot() == before


# --- list_reps, list_roles ------------------------------------------------------------------------------------------


def test_list_reps_lists_the_org_by_email_with_roles_and_teams(orgs: Orgs) -> None:
    page = ok(orgs.rep, "list_reps")
    acme = orgs.acme
    assert [u["email"] for u in page["reps"]] == sorted([acme.admin.email, acme.rep.email, orgs.manager.email])
    assert page["next_cursor"] is None
    rep = next(u for u in page["reps"] if u["id"] == str(acme.rep.pk))
    assert rep == {
        "id": str(acme.rep.pk),
        "email": acme.rep.email,
        "first_name": "Rita",
        "last_name": "Rep",
        "seat_type": "recording",
        "bot_name": "",
        "deals_enabled": True,
        "roles": ["sales_rep"],
        "teams": [
            {"id": orgs.team("sales"), "name": acme.teams["sales"].name, "primary": True},
            {"id": orgs.team("support"), "name": acme.teams["support"].name, "primary": False},
        ],
        "active": True,
        "deactivated_at": None,
    }


def test_list_reps_filters_and_pages(orgs: Orgs) -> None:
    acme = orgs.acme
    emea_rep = acme.add_user("emea_rep", teams=("emea",))
    gone = acme.add_user("gone", teams=("sales",))
    gone.deactivated_at = timezone.now()
    gone.save()

    def emails(**args: Any) -> list[str]:
        return [u["email"] for u in ok(orgs.rep, "list_reps", **args)["reps"]]

    assert emails(email=emea_rep.email.upper()) == [emea_rep.email]
    assert emails(user_id=str(acme.rep.pk)) == [acme.rep.email]
    assert emails(user_id=str(gone.pk)) == []
    assert emails(user_id=str(gone.pk), include_deleted=True) == [gone.email]
    # A team's members include its sub-teams'.
    assert emails(team_id=orgs.team("sales")) == sorted([acme.rep.email, orgs.manager.email, emea_rep.email])
    assert emails(team_id=orgs.team("emea")) == [emea_rep.email]
    assert gone.email in emails(team_id=orgs.team("sales"), include_deleted=True)
    everyone = emails(include_deleted=True)
    assert len(everyone) == 5
    paged: list[str] = []
    cursor = None
    while True:
        page = ok(orgs.rep, "list_reps", include_deleted=True, page_size=2, **({"cursor": cursor} if cursor else {}))
        paged += [u["email"] for u in page["reps"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert paged == everyone
    for args in ({"user_id": str(orgs.other.rep.pk)}, {"team_id": str(orgs.other.teams["sales"].pk)}):
        assert err(orgs.rep, "list_reps", **args)["error"] == "not_found"
    assert emails(email=orgs.other.rep.email) == []


def test_list_roles_gives_ids_and_counts(orgs: Orgs) -> None:
    roles = ok(orgs.rep, "list_roles")["roles"]
    assert [(r["type"], r["name"], r["user_count"]) for r in roles] == [
        ("admin", "Admin", 1),
        ("manager", "Manager", 1),
        ("sales_rep", "Sales Rep", 1),
    ]
    assert {r["id"] for r in roles} == set(
        map(str, Role.objects.filter(org=orgs.acme.org).values_list("pk", flat=True))
    )


# --- update_user, update_user_teams, manage_user_role -------------------------------------------------------------


def test_update_user_changes_given_fields_only(orgs: Orgs) -> None:
    rep = orgs.acme.rep
    out = ok(orgs.admin, "update_user", user_id=str(rep.pk), first_name=" Rita  Jane ", seat_type="listener")
    assert (out["first_name"], out["last_name"], out["seat_type"]) == ("Rita Jane", "Rep", "listener")
    out = ok(orgs.org_key, "update_user", user_id=str(rep.pk), bot_name="Rita's notetaker", deals_enabled=False)
    assert (out["bot_name"], out["deals_enabled"], out["seat_type"]) == ("Rita's notetaker", False, "listener")
    out = ok(orgs.admin, "update_user", user_id=str(rep.pk), role_id=orgs.role("manager"))
    assert out["roles"] == ["manager"]  # role_id replaces the roles
    rep.refresh_from_db()
    assert (rep.first_name, rep.seat_type, rep.bot_name, rep.deals_enabled) == (
        "Rita Jane",
        "listener",
        "Rita's notetaker",
        False,
    )
    assert roles_of(rep) == {"manager"}


def test_update_user_refusals_change_nothing(orgs: Orgs) -> None:
    rep, other = orgs.acme.rep, orgs.other
    before = snapshot()
    assert err(orgs.rep, "update_user", user_id=str(rep.pk), first_name="Me")["error"] == "admin_required"
    assert err(orgs.manager_actor, "update_user", user_id=str(rep.pk), first_name="X")["error"] == "admin_required"
    assert err(orgs.admin, "update_user", user_id=str(other.rep.pk), first_name="X")["error"] == "not_found"
    error = err(orgs.admin, "update_user", user_id=str(rep.pk), first_name="X", role_id=orgs.role("admin", other))
    assert error["error"] == "not_found"
    for args, field in (
        ({"seat_type": "viewer"}, "seat_type"),
        ({"first_name": "x" * 151}, "first_name"),
        ({"bot_name": "x" * 101}, "bot_name"),
        ({"deals_enabled": "perhaps"}, "deals_enabled"),
        ({"role_id": "admin"}, "role_id"),
    ):
        error = err(orgs.admin, "update_user", user_id=str(rep.pk), **args)
        assert (error["error"], error["field"]) == ("invalid_argument", field), args
    # The last admin cannot give up admin through role_id.
    error = err(orgs.admin, "update_user", user_id=str(orgs.acme.admin.pk), role_id=orgs.role("sales_rep"))
    assert error["error"] == "conflict"
    assert snapshot() == before


def test_update_user_teams_adds_removes_and_keeps_one_primary(orgs: Orgs) -> None:
    rep = orgs.acme.rep
    out = ok(
        orgs.admin,
        "update_user_teams",
        user_id=str(rep.pk),
        teams_to_add=[{"team_id": orgs.team("emea"), "primary": True}],
        team_ids_to_remove=[orgs.team("support")],
    )
    assert [(t["id"], t["primary"]) for t in out["teams"]] == [(orgs.team("emea"), True), (orgs.team("sales"), False)]
    assert teams_of(rep) == {"EMEA": True, "Sales": False}
    # Removing the primary without naming a new one: the oldest remaining becomes primary.
    ok(orgs.admin, "update_user_teams", user_id=str(rep.pk), team_ids_to_remove=[orgs.team("emea")])
    assert teams_of(rep) == {"Sales": True}
    # Adding an existing team and removing one the user is not in are no-ops.
    ok(
        orgs.admin,
        "update_user_teams",
        user_id=str(rep.pk),
        teams_to_add=[{"team_id": orgs.team("sales")}],
        team_ids_to_remove=[orgs.team("support")],
    )
    assert teams_of(rep) == {"Sales": True}


def test_update_user_teams_refusals_change_nothing(orgs: Orgs) -> None:
    rep, other = orgs.acme.rep, orgs.other
    before = snapshot()
    two_primaries = [
        {"team_id": orgs.team("emea"), "primary": True},
        {"team_id": orgs.team("support"), "primary": True},
    ]
    for args, field in (
        ({"teams_to_add": two_primaries}, "teams_to_add"),
        ({"teams_to_add": [{"team_id": orgs.team("emea")}, {"team_id": orgs.team("emea")}]}, "teams_to_add"),
        ({"teams_to_add": [{"team_id": orgs.team("emea"), "primery": True}]}, "teams_to_add"),
        (
            {"teams_to_add": [{"team_id": orgs.team("emea")}], "team_ids_to_remove": [orgs.team("emea")]},
            "team_ids_to_remove",
        ),
        ({"team_ids_to_remove": ["sales"]}, "team_ids_to_remove"),
    ):
        error = err(orgs.admin, "update_user_teams", user_id=str(rep.pk), **args)
        assert (error["error"], error["field"]) == ("invalid_argument", field), args
    foreign_team = str(other.teams["emea"].pk)
    mixed: list[dict[str, Any]] = [
        {"teams_to_add": [{"team_id": orgs.team("emea"), "primary": True}, {"team_id": foreign_team}]},
        {"teams_to_add": [{"team_id": orgs.team("emea")}], "team_ids_to_remove": [foreign_team]},
    ]
    for mixed_args in mixed:
        assert err(orgs.admin, "update_user_teams", user_id=str(rep.pk), **mixed_args)["error"] == "not_found"
    error = err(
        orgs.admin, "update_user_teams", user_id=str(other.rep.pk), teams_to_add=[{"team_id": orgs.team("emea")}]
    )
    assert error["error"] == "not_found"
    error = err(orgs.rep, "update_user_teams", user_id=str(rep.pk), teams_to_add=[{"team_id": orgs.team("emea")}])
    assert error["error"] == "admin_required"
    assert snapshot() == before


def test_manage_user_role_sets_and_removes(orgs: Orgs) -> None:
    rep = orgs.acme.rep
    out = ok(orgs.admin, "manage_user_role", action="set", user_id=str(rep.pk), role_id=orgs.role("admin"))
    assert out["roles"] == ["admin", "sales_rep"]  # roles accumulate
    # Now there are two admins: the first may give up the role.
    admin = orgs.acme.admin
    ok(orgs.org_key, "manage_user_role", action="remove", user_id=str(admin.pk), role_id=orgs.role("admin"))
    assert roles_of(admin) == set()
    out = ok(orgs.org_key, "manage_user_role", action="remove", user_id=str(rep.pk), role_id=orgs.role("sales_rep"))
    assert out["roles"] == ["admin"]


def test_manage_user_role_keeps_the_last_admin_and_refuses_foreign_ids(orgs: Orgs) -> None:
    admin, rep, other = orgs.acme.admin, orgs.acme.rep, orgs.other
    before = snapshot()
    error = err(orgs.org_key, "manage_user_role", action="remove", user_id=str(admin.pk), role_id=orgs.role("admin"))
    assert error["error"] == "conflict"
    for user_id, role_id in ((str(rep.pk), orgs.role("admin", other)), (str(other.rep.pk), orgs.role("admin"))):
        assert err(orgs.admin, "manage_user_role", action="set", user_id=user_id, role_id=role_id)["error"] == (
            "not_found"
        )
    error = err(orgs.rep, "manage_user_role", action="set", user_id=str(rep.pk), role_id=orgs.role("admin"))
    assert error["error"] == "admin_required"
    error = err(orgs.admin, "manage_user_role", action="grant", user_id=str(rep.pk), role_id=orgs.role("admin"))
    assert (error["error"], error["field"]) == ("invalid_argument", "action")
    assert snapshot() == before


# --- delete_user, reactivate_user ---------------------------------------------------------------------------------


def _login(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.session.session_key or ""


def test_delete_user_deactivates_and_ends_only_their_sessions(orgs: Orgs) -> None:
    rep, admin = orgs.acme.rep, orgs.acme.admin
    rep_sessions = [_login(rep), _login(rep)]
    admin_session = _login(admin)
    other_session = _login(orgs.other.rep)
    out = ok(orgs.admin, "delete_user", user_id=str(rep.pk))
    assert out["active"] is False
    assert out["deactivated_at"]
    assert out["teams"]  # data kept
    rep.refresh_from_db()
    assert rep.is_active is False
    live = set(Session.objects.values_list("session_key", flat=True))
    assert not live & set(rep_sessions)
    assert {admin_session, other_session} <= live
    assert teams_of(rep) == {"Sales": True, "Support": False}
    assert roles_of(rep) == {"sales_rep"}
    # Deleting again is harmless; reactivating restores access with the data as it was.
    assert ok(orgs.admin, "delete_user", user_id=str(rep.pk))["deactivated_at"] == out["deactivated_at"]
    back = ok(orgs.org_key, "reactivate_user", user_id=str(rep.pk))
    assert (back["active"], back["deactivated_at"]) == (True, None)
    assert back["teams"] == out["teams"]
    assert ok(orgs.org_key, "reactivate_user", user_id=str(rep.pk))["active"] is True


def test_delete_user_refusals_change_nothing(orgs: Orgs) -> None:
    rep, admin = orgs.acme.rep, orgs.acme.admin
    _login(rep)
    before = snapshot()
    assert err(orgs.org_key, "delete_user", user_id=str(rep.pk))["error"] == "user_required"
    assert err(orgs.rep, "delete_user", user_id=str(admin.pk))["error"] == "admin_required"
    assert err(orgs.manager_actor, "delete_user", user_id=str(rep.pk))["error"] == "admin_required"
    assert err(orgs.admin, "delete_user", user_id=str(orgs.other.rep.pk))["error"] == "not_found"
    # The last active admin, even deleting themselves.
    assert err(orgs.admin, "delete_user", user_id=str(admin.pk))["error"] == "conflict"
    assert snapshot() == before


def test_reactivate_user_refusals(orgs: Orgs) -> None:
    other_rep = orgs.other.rep
    other_rep.deactivated_at = timezone.now()
    other_rep.save()
    before = snapshot()
    assert err(orgs.rep, "reactivate_user", user_id=str(orgs.acme.rep.pk))["error"] == "admin_required"
    assert err(orgs.admin, "reactivate_user", user_id=str(other_rep.pk))["error"] == "not_found"
    assert err(orgs.org_key, "reactivate_user", user_id=str(other_rep.pk))["error"] == "not_found"
    assert snapshot() == before


# --- invitations ----------------------------------------------------------------------------------------------------


def test_invite_user_names_the_inviter_and_expires_in_7_days(orgs: Orgs) -> None:
    out = invite(orgs, email="New.Rep@ACME.example", team_id=orgs.team("emea"), seat_type="listener")
    admin = orgs.acme.admin
    assert out["email"] == "new.rep@acme.example"
    assert out["invited_by"] == {"id": str(admin.pk), "name": admin.full_name, "email": admin.email}
    assert out["team"] == {"id": orgs.team("emea"), "name": orgs.acme.teams["emea"].name}
    assert out["role"]["type"] == "sales_rep"  # the default
    assert (out["seat_type"], out["status"], out["accepted_at"]) == ("listener", "pending", None)
    expires = datetime.fromisoformat(out["expires_at"])
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)
    row = Invitation.objects.get(pk=out["id"])
    assert (row.org_id, row.invited_by_id) == (orgs.acme.org.pk, admin.pk)
    managed = invite(orgs, email="boss@acme.example", role_id=orgs.role("manager"))
    assert managed["role"] == {"id": orgs.role("manager"), "type": "manager", "name": "Manager"}
    assert managed["team"] is None


def test_invite_user_refusals_change_nothing(orgs: Orgs) -> None:
    invite(orgs, email="once@acme.example")
    before = snapshot()
    assert err(orgs.org_key, "invite_user", email="x@acme.example")["error"] == "user_required"
    assert err(orgs.rep, "invite_user", email="x@acme.example")["error"] == "admin_required"
    assert err(orgs.admin_read_only, "invite_user", email="x@acme.example")["error"] == "insufficient_scope"
    duplicate = err(orgs.admin, "invite_user", email="ONCE@acme.example")
    assert (duplicate["error"], duplicate["field"]) == ("conflict", "email")
    assert duplicate["invitation_id"] == str(Invitation.objects.get(email="once@acme.example").pk)
    assert err(orgs.admin, "invite_user", email=orgs.acme.rep.email)["error"] == "conflict"
    other = orgs.other
    for args in ({"team_id": str(other.teams["sales"].pk)}, {"role_id": orgs.role("admin", other)}):
        assert err(orgs.admin, "invite_user", email="x@acme.example", **args)["error"] == "not_found"
    for args, field in (
        ({"email": "not an email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"email": "x@acme.example", "seat_type": "viewer"}, "seat_type"),
        ({"email": "x@acme.example", "team_id": "sales"}, "team_id"),
    ):
        error = err(orgs.admin, "invite_user", **args)
        assert (error["error"], error["field"]) == ("invalid_argument", field), args
    assert snapshot() == before


def test_an_expired_invitation_can_be_sent_again(orgs: Orgs) -> None:
    first = invite(orgs, email="late@acme.example")
    Invitation.objects.filter(pk=first["id"]).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert ok(orgs.rep, "list_invitations", email="late@acme.example")["invitations"][0]["status"] == "expired"
    second = invite(orgs, email="late@acme.example")
    assert second["id"] != first["id"]


def test_update_invitation_changes_fields_and_resend_bumps_expiry(orgs: Orgs) -> None:
    out = invite(orgs)
    second_admin = orgs.acme.add_user("second_admin", "admin")
    second = actor_for_user(user=second_admin, via="user_key", scopes=ALL_SCOPES)
    Invitation.objects.filter(pk=out["id"]).update(expires_at=timezone.now() - timedelta(days=1))
    changed = ok(
        orgs.admin,
        "update_invitation",
        invitation_id=out["id"],
        team_id=orgs.team("support"),
        role_id=orgs.role("manager"),
        seat_type="listener",
    )
    assert (changed["team"]["id"], changed["role"]["type"], changed["seat_type"]) == (
        orgs.team("support"),
        "manager",
        "listener",
    )
    assert changed["status"] == "expired"  # not resent: the expiry is untouched
    resent = ok(second, "update_invitation", invitation_id=out["id"], resend=True)
    assert resent["status"] == "pending"
    assert timedelta(days=6, hours=23) < datetime.fromisoformat(resent["expires_at"]) - datetime.now(UTC)
    assert resent["invited_by"]["id"] == str(second_admin.pk)
    assert (resent["team"]["id"], resent["role"]["type"]) == (orgs.team("support"), "manager")  # kept


def test_update_invitation_refusals_change_nothing(orgs: Orgs) -> None:
    mine = invite(orgs)["id"]
    theirs = Invitation.objects.create(
        org=orgs.other.org,
        email="theirs@other.example",
        role=Role.objects.get(org=orgs.other.org, type="sales_rep"),
        invited_by=orgs.other.admin,
        expires_at=timezone.now() + timedelta(days=7),
    )
    accepted = invite(orgs, email="joined@acme.example")["id"]
    Invitation.objects.filter(pk=accepted).update(accepted_at=timezone.now())
    before = snapshot()
    assert err(orgs.org_key, "update_invitation", invitation_id=mine, resend=True)["error"] == "user_required"
    assert err(orgs.rep, "update_invitation", invitation_id=mine, resend=True)["error"] == "admin_required"
    assert err(orgs.admin, "update_invitation", invitation_id=str(theirs.pk), resend=True)["error"] == "not_found"
    other = orgs.other
    for args in ({"team_id": str(other.teams["sales"].pk)}, {"role_id": orgs.role("admin", other)}):
        assert err(orgs.admin, "update_invitation", invitation_id=mine, resend=True, **args)["error"] == "not_found"
    assert err(orgs.admin, "update_invitation", invitation_id=accepted, resend=True)["error"] == "conflict"
    error = err(orgs.admin, "update_invitation", invitation_id=mine, seat_type="viewer")
    assert (error["error"], error["field"]) == ("invalid_argument", "seat_type")
    assert snapshot() == before


def test_delete_invitation_deletes_it(orgs: Orgs) -> None:
    out = invite(orgs)
    gone = ok(orgs.admin, "delete_invitation", invitation_id=out["id"])
    assert gone == {"id": out["id"], "email": out["email"], "deleted": True}
    assert not Invitation.objects.filter(pk=out["id"]).exists()
    assert err(orgs.admin, "delete_invitation", invitation_id=out["id"])["error"] == "not_found"
    # The same email can be invited again.
    invite(orgs)


def test_delete_invitation_refusals_change_nothing(orgs: Orgs) -> None:
    mine = invite(orgs)["id"]
    theirs = Invitation.objects.create(
        org=orgs.other.org,
        email="theirs@other.example",
        role=Role.objects.get(org=orgs.other.org, type="sales_rep"),
        invited_by=orgs.other.admin,
        expires_at=timezone.now() + timedelta(days=7),
    )
    accepted = invite(orgs, email="joined@acme.example")["id"]
    Invitation.objects.filter(pk=accepted).update(accepted_at=timezone.now())
    before = snapshot()
    assert err(orgs.org_key, "delete_invitation", invitation_id=mine)["error"] == "user_required"
    assert err(orgs.rep, "delete_invitation", invitation_id=mine)["error"] == "admin_required"
    assert err(orgs.admin_read_only, "delete_invitation", invitation_id=mine)["error"] == "insufficient_scope"
    assert err(orgs.admin, "delete_invitation", invitation_id=str(theirs.pk))["error"] == "not_found"
    assert err(orgs.admin, "delete_invitation", invitation_id=accepted)["error"] == "conflict"
    error = err(orgs.admin, "delete_invitation", invitation_id="inv_123")
    assert (error["error"], error["field"]) == ("invalid_argument", "invitation_id")
    assert snapshot() == before


def test_list_invitations_newest_first_with_filters_and_pages(orgs: Orgs) -> None:
    now = timezone.now()
    made = []
    for n in range(5):
        out = invite(orgs, email=f"p{n}@acme.example", team_id=orgs.team("emea") if n % 2 else None)
        Invitation.objects.filter(pk=out["id"]).update(created_at=now - timedelta(hours=5 - n))
        made.append(out["id"])
    Invitation.objects.create(
        org=orgs.other.org,
        email="p0@acme.example",
        role=Role.objects.get(org=orgs.other.org, type="sales_rep"),
        invited_by=orgs.other.admin,
        expires_at=now + timedelta(days=7),
    )
    listed: list[str] = []
    cursor = None
    while True:
        page = ok(orgs.rep, "list_invitations", page_size=2, **({"cursor": cursor} if cursor else {}))
        listed += [i["id"] for i in page["invitations"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert listed == made[::-1]
    assert [i["id"] for i in ok(orgs.rep, "list_invitations", email="P0@acme.example")["invitations"]] == [made[0]]
    in_emea = ok(orgs.rep, "list_invitations", team_id=orgs.team("emea"))["invitations"]
    assert [i["id"] for i in in_emea] == [made[3], made[1]]
    assert err(orgs.rep, "list_invitations", team_id=str(orgs.other.teams["emea"].pk))["error"] == "not_found"
    error = err(orgs.rep, "list_invitations", cursor=encode_cursor({"k": "invitations", "c": 1, "i": made[0]}))
    assert (error["error"], error["field"]) == ("invalid_argument", "cursor")


# --- scopes, roles and arguments across every tool here ------------------------------------------------------------


def _valid_arguments(orgs: Orgs) -> dict[str, dict[str, Any]]:
    """Arguments each write tool would accept from an admin (so a refusal is about the caller alone)."""
    rep = str(orgs.acme.rep.pk)
    invitation = Invitation.objects.create(
        org=orgs.acme.org,
        email="pending@acme.example",
        role=Role.objects.get(org=orgs.acme.org, type="sales_rep"),
        invited_by=orgs.acme.admin,
        expires_at=timezone.now() + timedelta(days=7),
    )
    return {
        "create_team": {"name": "New"},
        "update_team": {"team_id": orgs.team("emea"), "name": "Renamed"},
        "archive_team": {"team_id": orgs.team("emea")},
        "change_team_parent": {"team_id": orgs.team("emea")},
        "add_team_member": {"team_id": orgs.team("emea"), "user_id": rep},
        "remove_team_member": {"team_id": orgs.team("sales"), "user_id": rep},
        "update_user": {"user_id": rep, "first_name": "X"},
        "update_user_teams": {"user_id": rep, "team_ids_to_remove": [orgs.team("sales")]},
        "manage_user_role": {"action": "set", "user_id": rep, "role_id": orgs.role("admin")},
        "delete_user": {"user_id": rep},
        "reactivate_user": {"user_id": rep},
        "invite_user": {"email": "someone@acme.example"},
        "update_invitation": {"invitation_id": str(invitation.pk), "resend": True},
        "delete_invitation": {"invitation_id": str(invitation.pk)},
    }


# The write tools of this module's apps (teams, users and roles, invitations).
ACCOUNT_TOOLS = frozenset(name for name, spec in registry.tools().items() if spec.fn.__module__ == "accounts.mcp_tools")
WRITE_TOOLS = sorted(name for name in ACCOUNT_TOOLS if CATALOG_MARKS[name][0] == "write")


def test_every_write_tool_here_is_refused_for_a_read_only_token(orgs: Orgs) -> None:
    args = _valid_arguments(orgs)
    assert set(args) == set(WRITE_TOOLS)
    before = snapshot()
    for name in WRITE_TOOLS:
        assert err(orgs.admin_read_only, name, **args[name]) == {
            "error": "insufficient_scope",
            "required_scope": "mcp:write",
            "message": "This action needs the mcp:write scope.",
        }, name
    assert snapshot() == before
    # Reading is fine with mcp:read alone.
    for name in ("get_team", "get_team_members"):
        ok(orgs.admin_read_only, name, id=orgs.team("sales"))
    for name in ("list_reps", "list_roles", "list_invitations"):
        ok(orgs.admin_read_only, name)


def test_every_admin_tool_here_is_refused_for_reps_and_managers(orgs: Orgs) -> None:
    args = _valid_arguments(orgs)
    before = snapshot()
    for actor in (orgs.rep, orgs.manager_actor):
        for name in WRITE_TOOLS:
            assert err(actor, name, **args[name])["error"] == "admin_required", name
    assert snapshot() == before


def test_user_level_tools_are_refused_for_org_keys(orgs: Orgs) -> None:
    args = _valid_arguments(orgs)
    before = snapshot()
    for name in WRITE_TOOLS:
        if CATALOG_MARKS[name][2]:
            assert err(orgs.org_key, name, **args[name])["error"] == "user_required", name
    assert snapshot() == before


@pytest.mark.parametrize(
    ("tool", "args", "field"),
    [
        ("get_team", {}, "id"),
        ("get_team", {"id": "sales"}, "id"),
        ("get_team", {"team_id": str(uuid.uuid4())}, "team_id"),
        ("get_team_members", {"id": str(uuid.uuid4()), "page_size": 51}, "page_size"),
        ("get_team_members", {"id": str(uuid.uuid4()), "page_size": 0}, "page_size"),
        ("list_reps", {"page_size": 51}, "page_size"),
        ("list_reps", {"user_id": "rita"}, "user_id"),
        ("list_reps", {"include_deleted": "yes please"}, "include_deleted"),
        ("list_invitations", {"page_size": 100}, "page_size"),
        ("list_invitations", {"cursor": "x" * 501}, "cursor"),
        ("list_roles", {"org": "x"}, "org"),
        ("create_team", {}, "name"),
        ("create_team", {"name": "X", "parent_team_id": 7}, "parent_team_id"),
        ("archive_team", {"team_id": str(uuid.uuid4()), "archived": "maybe"}, "archived"),
        ("add_team_member", {"team_id": str(uuid.uuid4()), "user_email": "nope"}, "user_email"),
        ("update_user_teams", {"user_id": str(uuid.uuid4()), "teams_to_add": [{}]}, "teams_to_add"),
        ("manage_user_role", {"user_id": str(uuid.uuid4()), "role_id": str(uuid.uuid4())}, "action"),
        ("delete_user", {"user_id": "u_1"}, "user_id"),
        ("invite_user", {"email": "x@acme.example", "seat_type": "full"}, "seat_type"),
        ("update_invitation", {"invitation_id": str(uuid.uuid4()), "resend": "again"}, "resend"),
    ],
)
def test_invalid_arguments_name_the_field(orgs: Orgs, tool: str, args: dict[str, Any], field: str) -> None:
    error = err(orgs.admin, tool, **args)
    assert error["error"] == "invalid_argument", error
    assert error["field"] == field, error
    assert error["message"]


@pytest.mark.parametrize(
    ("tool", "make_args"),
    [
        ("get_team", lambda o: {"id": str(o.other.teams["emea"].pk)}),
        ("get_team_members", lambda o: {"id": str(o.other.teams["emea"].pk)}),
        ("list_reps", lambda o: {"team_id": str(o.other.teams["emea"].pk)}),
        ("list_invitations", lambda o: {"team_id": str(o.other.teams["emea"].pk)}),
        ("create_team", lambda o: {"name": "Sub", "parent_team_id": str(o.other.teams["emea"].pk)}),
        ("update_team", lambda o: {"team_id": str(o.other.teams["emea"].pk), "name": "Mine"}),
        ("archive_team", lambda o: {"team_id": str(o.other.teams["emea"].pk)}),
        ("change_team_parent", lambda o: {"team_id": str(o.other.teams["emea"].pk)}),
        ("add_team_member", lambda o: {"team_id": str(o.other.teams["emea"].pk), "user_id": str(o.other.rep.pk)}),
        ("remove_team_member", lambda o: {"team_id": str(o.other.teams["sales"].pk), "user_id": str(o.other.rep.pk)}),
        ("update_user", lambda o: {"user_id": str(o.other.rep.pk), "first_name": "Mine"}),
        ("update_user_teams", lambda o: {"user_id": str(o.other.rep.pk), "team_ids_to_remove": []}),
        ("manage_user_role", lambda o: {"action": "set", "user_id": str(o.other.rep.pk), "role_id": o.role("admin")}),
        ("delete_user", lambda o: {"user_id": str(o.other.rep.pk)}),
        ("reactivate_user", lambda o: {"user_id": str(o.other.rep.pk)}),
        ("invite_user", lambda o: {"email": "x@acme.example", "team_id": str(o.other.teams["emea"].pk)}),
    ],
)
def test_another_orgs_ids_are_not_found_for_every_tool(
    orgs: Orgs, tool: str, make_args: Callable[[Orgs], dict[str, Any]]
) -> None:
    """Even an admin's and an org key's: and a not_found says nothing about the other organisation."""
    args = make_args(orgs)
    before = snapshot()
    actors = [orgs.admin] if CATALOG_MARKS[tool][2] else [orgs.admin, orgs.org_key]  # org keys are user_required there
    for actor in actors:
        error = err(actor, tool, **args)
        assert error["error"] == "not_found", error
        assert set(error) == {"error", "message"}
        assert orgs.other.org.name not in error["message"]
    assert snapshot() == before


def test_lists_cost_the_same_queries_for_3_or_13_rows(orgs: Orgs) -> None:
    def queries() -> list[int]:
        counts = []
        for name, args in (
            ("list_reps", {"include_deleted": True}),
            ("get_team_members", {"id": orgs.team("sales")}),
            ("list_invitations", {}),
        ):
            with CaptureQueriesContext(connection) as ctx:
                ok(orgs.admin, name, **args)
            counts.append(len(ctx.captured_queries))
        return counts

    for n in range(3):
        orgs.acme.add_user(f"a{n}", teams=("sales", "support"))
        invite(orgs, email=f"a{n}@acme.example")
    few = queries()
    for n in range(10):
        orgs.acme.add_user(f"b{n}", teams=("sales", "support"))
        invite(orgs, email=f"b{n}@acme.example")
    assert queries() == few


# --- end to end: delete_user ends a user-level key at its next request ---------------------------------------------


def test_delete_user_ends_their_user_level_key_on_the_next_request(
    live_server_url: str, mcp_url: str, fresh_org: McpOrg
) -> None:
    assert tool_ok(mcp_url, fresh_org.rep_key, "get_me")["user"]["id"] == str(fresh_org.rep.pk)
    deleted = tool_ok(mcp_url, fresh_org.admin_key, "delete_user", {"user_id": str(fresh_org.rep.pk)})
    assert deleted["active"] is False
    assert_invalid_token(post(mcp_url, fresh_org.rep_key, request("ping")), live_server_url)
    # An org key cannot do it (user-level only); the admin brings the rep back, but the key stays dead
    # ("its keys, OAuth grants and sessions die", TOOLS.md): reactivation must not revive old credentials.
    assert tool_error(mcp_url, fresh_org.org_key, "delete_user", {"user_id": str(fresh_org.admin.pk)})["error"] == (
        "user_required"
    )
    tool_ok(mcp_url, fresh_org.org_key, "reactivate_user", {"user_id": str(fresh_org.rep.pk)})
    assert committed(lambda: User.objects.get(pk=fresh_org.rep.pk).is_active) is True
    assert_invalid_token(post(mcp_url, fresh_org.rep_key, request("ping")), live_server_url)
