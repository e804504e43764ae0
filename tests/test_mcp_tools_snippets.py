"""create_snippet, list_snippets and delete_snippet, called in-process through the registry's own call path on the
persona `world` (tests/conftest.py): two mirrored organisations, so a leak shows up as an id of the wrong one.

The world's snippets (`world.a.snippets`): "rep_sales_public" (owner rep_sales, on his Sales call) and
"private_owner_private" (owner private_owner, on the private call internal_participant took part in). Every
call lasts 1800 s. Refusals are asserted twice: the error, and an unchanged `snapshot()` of the snippets.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.permissions import READ, Actor
from accounts.selectors import actor_for_user
from attention_mcp.pagination import encode_cursor
from calls.models import Snippet
from tests.factories import OrgWorld, SnippetFactory, World
from tests.support.tools import err, ok

ActorFor = Callable[[User], Actor]

# --- helpers -----------------------------------------------------------------------------------------------------


def snapshot() -> list[tuple[Any, ...]]:
    """Every snippet of both organisations, every field."""
    return sorted(
        Snippet.objects.values_list(
            "id",
            "call_id",
            "owner_id",
            "start_s",
            "end_s",
            "title",
            "notes",
            "internal",
            "share_code",
            "in_library",
            "library_folder_path",
            "my_library",
            "notify_views",
        )
    )


def cid(w: OrgWorld, name: str) -> str:
    return str(w.calls[name].pk)


def uid(w: OrgWorld, persona: str) -> str:
    return str(w.users[persona].pk)


def snippet_ids(page: dict[str, Any]) -> set[str]:
    return {s["id"] for s in page["snippets"]}


def world_snippets(w: OrgWorld, *names: str) -> set[str]:
    return {str(w.snippets[n].pk) for n in names}


# --- create_snippet ------------------------------------------------------------------------------------------------


def test_rep_clips_part_of_own_call(world: World, actor_for: ActorFor) -> None:
    a = world.a
    created = ok(
        actor_for(a.users["rep_sales"]),
        "create_snippet",
        conversation_id=cid(a, "rep_sales_public"),
        start_time=750,
        end_time=845.5,
        notes=" Listen to the ask ",
        internal=False,
        notify_views=True,
        in_library=True,
        library_folder_path=" Discovery/Great  questions ",
        my_library=True,
    )
    snippet = Snippet.objects.get(pk=created["id"])
    assert created == {
        "id": str(snippet.pk),
        "title": "rep_sales public call 12:30\u201314:05",
        "url": f"{settings.WEB_APP_BASE_URL}/snippets/{snippet.pk}",
        "share_code": snippet.share_code,
        "call_id": cid(a, "rep_sales_public"),
        "call_title": "rep_sales public call",
        "owner": {"id": uid(a, "rep_sales"), "name": a.users["rep_sales"].full_name, "email": "rep.sales@acme.example"},
        "start_time": 750.0,
        "end_time": 845.5,
        "notes": "Listen to the ask",
        "internal": False,
        "notify_views": True,
        "in_library": True,
        "library_folder_path": "Discovery/Great questions",
        "my_library": True,
        "created_at": snippet.created_at.isoformat(),
    }
    assert len(snippet.share_code) == 12
    assert (snippet.owner_id, snippet.start_s, snippet.end_s, snippet.notify_views) == (
        a.users["rep_sales"].pk,
        750.0,
        845.5,
        True,
    )


def test_whole_call_snippet_with_defaults(world: World, actor_for: ActorFor) -> None:
    a = world.a
    first = ok(actor_for(a.users["listener"]), "create_snippet", conversation_id=cid(a, "rep_sales_public"))
    # The listener only sees the call as a teammate, and owns what he clips.
    assert first["owner"]["id"] == uid(a, "listener")
    assert (first["start_time"], first["end_time"], first["title"]) == (None, None, "rep_sales public call full call")
    assert (first["internal"], first["in_library"], first["my_library"], first["notify_views"]) == (
        True,
        False,
        False,
        False,
    )
    second = ok(
        actor_for(a.users["listener"]),
        "create_snippet",
        conversation_id=cid(a, "rep_sales_public"),
        title="  The   ask ",
        start_time=0,
        end_time=1800,
    )
    assert (second["title"], second["start_time"], second["end_time"]) == ("The ask", 0.0, 1800.0)
    assert second["share_code"] != first["share_code"]


def test_org_key_must_name_the_owner(world: World) -> None:
    a = world.a
    before = snapshot()
    error = err(a.org_key_actor, "create_snippet", conversation_id=cid(a, "rep_sales_public"))
    assert (error["error"], error["field"]) == ("invalid_argument", "user_uuid")
    assert snapshot() == before
    created = ok(
        a.org_key_actor, "create_snippet", conversation_id=cid(a, "rep_sales_public"), user_uuid=uid(a, "manager")
    )
    assert created["owner"]["id"] == uid(a, "manager")


def test_admin_names_an_owner_who_can_see_the_call(world: World, actor_for: ActorFor) -> None:
    a = world.a
    created = ok(
        actor_for(a.users["admin"]),
        "create_snippet",
        conversation_id=cid(a, "private_owner_private"),
        user_uuid=uid(a, "internal_participant"),
        start_time=10,
        end_time=20,
    )
    assert created["owner"]["id"] == uid(a, "internal_participant")


def test_owner_must_be_an_active_user_of_the_org_who_sees_the_call(world: World, actor_for: ActorFor) -> None:
    a, b = world.a, world.b
    admin = actor_for(a.users["admin"])
    before = snapshot()
    for owner in (
        uid(b, "rep_sales"),  # another organisation's
        str(uuid.uuid4()),
        uid(a, "deactivated"),  # deactivated, though it was his team's call
        uid(a, "rep_sales"),  # a teammate who does not see the private call
        uid(a, "outsider_rep"),  # another team
    ):
        error = err(admin, "create_snippet", conversation_id=cid(a, "private_owner_private"), user_uuid=owner)
        assert error == {"error": "not_found", "message": f"user {owner} not found"}, owner
    assert snapshot() == before


def test_non_admin_may_only_name_themselves_as_owner(world: World, actor_for: ActorFor) -> None:
    a, b = world.a, world.b
    rep = actor_for(a.users["rep_sales"])
    before = snapshot()
    error = err(rep, "create_snippet", conversation_id=cid(a, "rep_sales_public"), user_uuid=uid(a, "listener"))
    assert error["error"] == "admin_required"
    error = err(
        actor_for(a.users["manager"]),
        "create_snippet",
        conversation_id=cid(a, "rep_sales_public"),
        user_uuid=uid(a, "rep_sales"),
    )
    assert error["error"] == "admin_required"
    error = err(rep, "create_snippet", conversation_id=cid(a, "rep_sales_public"), user_uuid=uid(b, "rep_sales"))
    assert error["error"] == "not_found"
    assert snapshot() == before
    named_self = ok(rep, "create_snippet", conversation_id=cid(a, "rep_sales_public"), user_uuid=uid(a, "rep_sales"))
    assert named_self["owner"]["id"] == uid(a, "rep_sales")


def test_snippet_of_a_call_of_another_org_or_an_invisible_one_is_not_found(world: World, actor_for: ActorFor) -> None:
    a, b = world.a, world.b
    before = snapshot()
    foreign = cid(b, "rep_sales_public")
    error = err(a.org_key_actor, "create_snippet", conversation_id=foreign, user_uuid=uid(a, "admin"))
    assert error == {"error": "not_found", "message": f"call {foreign} not found"}
    assert err(actor_for(a.users["admin"]), "create_snippet", conversation_id=foreign)["error"] == "not_found"
    for persona, call_name in (("rep_sales", "private_owner_private"), ("rep_emea", "rep_sales_public")):
        error = err(actor_for(a.users[persona]), "create_snippet", conversation_id=cid(a, call_name))
        assert error["error"] == "not_found", persona
    assert snapshot() == before


def test_create_snippet_checks_the_time_range_and_texts(world: World, actor_for: ActorFor) -> None:
    a = world.a
    rep = actor_for(a.users["rep_sales"])
    call_id = cid(a, "rep_sales_public")
    before = snapshot()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"start_time": 10}, "end_time"),
        ({"end_time": 10}, "start_time"),
        ({"start_time": 20, "end_time": 20}, "end_time"),
        ({"start_time": 30, "end_time": 20}, "end_time"),
        ({"start_time": 10, "end_time": 1800.5}, "end_time"),  # the call lasts 1800 s
        ({"start_time": -1, "end_time": 20}, "start_time"),
        ({"start_time": 0, "end_time": 86_401}, "end_time"),
        ({"start_time": float("nan"), "end_time": 20}, "start_time"),
        ({"start_time": 0, "end_time": float("inf")}, "end_time"),
        ({"start_time": "soon", "end_time": 20}, "start_time"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 256}, "title"),
        ({"notes": "x" * 5001}, "notes"),
        ({"library_folder_path": "Pricing"}, "library_folder_path"),
        ({"library_folder_path": "x" * 501, "in_library": True}, "library_folder_path"),
        ({"user_uuid": "rep.sales@acme.example"}, "user_uuid"),
        ({"colour": "red"}, "colour"),
    ]
    for args, field in cases:
        error = err(rep, "create_snippet", conversation_id=call_id, **args)
        assert (error["error"], error["field"]) == ("invalid_argument", field), args
    error = err(rep, "create_snippet", conversation_id="not-a-uuid")
    assert (error["error"], error["field"]) == ("invalid_argument", "conversation_id")
    read_only = actor_for_user(user=a.users["rep_sales"], via="oauth", scopes=frozenset({READ}))
    assert err(read_only, "create_snippet", conversation_id=call_id)["error"] == "insufficient_scope"
    assert snapshot() == before


def test_generated_titles_fit_a_long_call_title(world: World, actor_for: ActorFor) -> None:
    a = world.a
    call = a.calls["admin_public"]
    call.title = "T" * 500
    call.duration_s = 4 * 3600
    call.save()
    created = ok(
        actor_for(a.users["admin"]), "create_snippet", conversation_id=str(call.pk), start_time=3600, end_time=3725
    )
    assert created["title"] == "T" * 230 + " 1:00:00\u20131:02:05"
    assert created["call_title"] == "T" * 500


# --- list_snippets -------------------------------------------------------------------------------------------------


def test_list_snippets_shows_those_on_visible_calls_only(world: World, actor_for: ActorFor) -> None:
    a, b = world.a, world.b
    both = world_snippets(a, "rep_sales_public", "private_owner_private")
    assert snippet_ids(ok(actor_for(a.users["admin"]), "list_snippets")) == both
    assert snippet_ids(ok(a.org_key_actor, "list_snippets")) == both
    assert snippet_ids(ok(actor_for(a.users["rep_sales"]), "list_snippets")) == world_snippets(a, "rep_sales_public")
    assert snippet_ids(ok(actor_for(a.users["internal_participant"]), "list_snippets")) == world_snippets(
        a, "private_owner_private"
    )
    assert ok(actor_for(a.users["rep_emea"]), "list_snippets") == {"snippets": [], "next_cursor": None}
    assert snippet_ids(ok(b.org_key_actor, "list_snippets")) == world_snippets(
        b, "rep_sales_public", "private_owner_private"
    )
    page = ok(actor_for(a.users["listener"]), "list_snippets")
    assert page["snippets"][0]["owner"]["id"] == uid(a, "rep_sales")
    assert page["snippets"][0]["url"].endswith(f"/snippets/{page['snippets'][0]['id']}")


def test_list_snippets_filters_by_call_and_owner(world: World, actor_for: ActorFor) -> None:
    a = world.a
    admin = actor_for(a.users["admin"])
    mine = ok(admin, "create_snippet", conversation_id=cid(a, "rep_sales_public"), start_time=1, end_time=2)
    page = ok(admin, "list_snippets", conversation_id=cid(a, "rep_sales_public"))
    assert snippet_ids(page) == world_snippets(a, "rep_sales_public") | {mine["id"]}
    assert snippet_ids(ok(admin, "list_snippets", owner_id=uid(a, "admin"))) == {mine["id"]}
    page = ok(admin, "list_snippets", conversation_id=cid(a, "rep_sales_public"), owner_id=uid(a, "rep_sales"))
    assert snippet_ids(page) == world_snippets(a, "rep_sales_public")
    assert ok(admin, "list_snippets", conversation_id=cid(a, "manager_public"))["snippets"] == []


def test_list_snippets_of_an_invisible_call_or_a_foreign_owner_is_not_found(world: World, actor_for: ActorFor) -> None:
    a, b = world.a, world.b
    rep = actor_for(a.users["rep_sales"])
    private = cid(a, "private_owner_private")
    assert err(rep, "list_snippets", conversation_id=private) == {
        "error": "not_found",
        "message": f"call {private} not found",
    }
    assert err(a.org_key_actor, "list_snippets", conversation_id=cid(b, "rep_sales_public"))["error"] == "not_found"
    assert err(a.org_key_actor, "list_snippets", owner_id=uid(b, "rep_sales"))["error"] == "not_found"


def test_list_snippets_pages_newest_first(world: World, actor_for: ActorFor) -> None:
    a = world.a
    start = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    made = [
        SnippetFactory.create(call=a.calls["manager_public"], created_at=start + dt.timedelta(minutes=n))
        for n in range(3)
    ]
    # Two at the same instant: the id breaks the tie, and neither is skipped nor repeated.
    made.append(SnippetFactory.create(call=a.calls["manager_public"], created_at=made[1].created_at))
    manager = actor_for(a.users["manager"])
    seen: list[str] = []
    cursor = None
    while True:
        page = ok(manager, "list_snippets", page_size=2, **({"cursor": cursor} if cursor else {}))
        seen += [s["id"] for s in page["snippets"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    expected = sorted([*made, a.snippets["rep_sales_public"]], key=lambda s: (s.created_at, s.pk), reverse=True)
    assert seen == [str(s.pk) for s in expected]


def test_list_snippets_refuses_bad_cursors_and_page_sizes(world: World, actor_for: ActorFor) -> None:
    rep = actor_for(world.a.users["rep_sales"])
    labels_cursor = encode_cursor({"k": "labels", "n": "Call Type", "i": str(uuid.uuid4())})
    naive = encode_cursor({"k": "snippets", "c": "2025-01-01T00:00:00", "i": str(uuid.uuid4())})
    for bad in ("!!!", labels_cursor, naive, encode_cursor({"k": "snippets", "c": 1, "i": "x"})):
        error = err(rep, "list_snippets", cursor=bad)
        assert (error["error"], error["field"]) == ("invalid_argument", "cursor"), bad
    for size in (0, 51):
        error = err(rep, "list_snippets", page_size=size)
        assert (error["error"], error["field"]) == ("invalid_argument", "page_size"), size


# --- delete_snippet ------------------------------------------------------------------------------------------------


def test_owner_deletes_own_snippet(world: World, actor_for: ActorFor) -> None:
    a = world.a
    snippet = a.snippets["rep_sales_public"]
    deleted = ok(actor_for(a.users["rep_sales"]), "delete_snippet", snippet_id=str(snippet.pk))
    assert deleted == {
        "id": str(snippet.pk),
        "title": "rep_sales_public snippet",
        "call_id": cid(a, "rep_sales_public"),
        "deleted": True,
    }
    assert not Snippet.objects.filter(pk=snippet.pk).exists()
    assert err(actor_for(a.users["rep_sales"]), "delete_snippet", snippet_id=str(snippet.pk))["error"] == "not_found"


def test_admin_and_org_key_delete_anyones_snippet(world: World, actor_for: ActorFor) -> None:
    a = world.a
    ok(actor_for(a.users["admin"]), "delete_snippet", snippet_id=str(a.snippets["private_owner_private"].pk))
    ok(a.org_key_actor, "delete_snippet", snippet_id=str(a.snippets["rep_sales_public"].pk))
    assert not Snippet.objects.filter(call__org=a.org).exists()
    assert Snippet.objects.filter(call__org=world.b.org).count() == 2


def test_delete_snippet_refusals_change_nothing(world: World, actor_for: ActorFor) -> None:
    a, b = world.a, world.b
    before = snapshot()
    sales = str(a.snippets["rep_sales_public"].pk)
    # Teammates who see the snippet's call, but do not own the snippet.
    for persona in ("listener", "manager"):
        assert err(actor_for(a.users[persona]), "delete_snippet", snippet_id=sales)["error"] == "admin_required"
    private = str(a.snippets["private_owner_private"].pk)
    assert err(actor_for(a.users["rep_sales"]), "delete_snippet", snippet_id=private) == {
        "error": "not_found",
        "message": f"snippet {private} not found",
    }
    assert err(actor_for(a.users["outsider_rep"]), "delete_snippet", snippet_id=sales)["error"] == "not_found"
    foreign = str(b.snippets["rep_sales_public"].pk)
    assert err(actor_for(a.users["admin"]), "delete_snippet", snippet_id=foreign)["error"] == "not_found"
    assert err(a.org_key_actor, "delete_snippet", snippet_id=foreign)["error"] == "not_found"
    read_only = actor_for_user(user=a.users["rep_sales"], via="oauth", scopes=frozenset({READ}))
    assert err(read_only, "delete_snippet", snippet_id=sales)["error"] == "insufficient_scope"
    error = err(a.org_key_actor, "delete_snippet", snippet_id="share-code")
    assert (error["error"], error["field"]) == ("invalid_argument", "snippet_id")
    assert snapshot() == before


@pytest.mark.parametrize("persona", ["rep_sales", "admin"])
def test_created_snippets_show_up_in_the_list_and_can_be_deleted(
    world: World, actor_for: ActorFor, persona: str
) -> None:
    a = world.a
    actor = actor_for(a.users[persona])
    created = ok(actor, "create_snippet", conversation_id=cid(a, "manager_public"), start_time=5, end_time=9)
    listed = ok(actor, "list_snippets", conversation_id=cid(a, "manager_public"), owner_id=uid(a, persona))
    assert listed["snippets"] == [created]
    ok(actor, "delete_snippet", snippet_id=created["id"])
    assert ok(actor, "list_snippets", conversation_id=cid(a, "manager_public"))["snippets"] == []


# --- the operators' admin makes and deletes snippets through the same services -------------------------------------


@pytest.fixture
def operator_client(client: Client) -> Client:
    client.force_login(User.objects.create_superuser("operator@ops.example", "operator-pass"))
    return client


def _admin_url(view: str, *args: object) -> str:
    return reverse(f"admin:calls_snippet_{view}", args=args)


def test_admin_adds_a_snippet_through_the_service(world: World, operator_client: Client) -> None:
    a = world.a
    assert operator_client.get(_admin_url("add")).status_code == 200
    data = {
        "call": cid(a, "private_owner_private"),
        "owner": uid(a, "internal_participant"),
        "start_s": "60",
        "end_s": "90",
        "title": "",
        "notes": "",
        "internal": "on",
        "library_folder_path": "",
    }
    response = operator_client.post(_admin_url("add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    snippet = Snippet.objects.get(owner=a.users["internal_participant"])
    assert snippet.title == "private_owner private call 01:00\u201301:30"
    assert len(snippet.share_code) == 12
    assert operator_client.get(_admin_url("change", snippet.pk)).status_code == 200


def test_admin_shows_the_services_refusals_on_the_form(world: World, operator_client: Client) -> None:
    a, b = world.a, world.b
    before = snapshot()
    base = {"call": cid(a, "private_owner_private"), "title": "x", "notes": "", "library_folder_path": ""}
    for extra, field in (
        ({"owner": uid(a, "rep_sales")}, "owner"),  # does not see the private call
        ({"owner": uid(b, "private_owner")}, "owner"),  # another organisation's
        ({"owner": uid(a, "private_owner"), "start_s": "10", "end_s": "1801"}, "end_s"),
        ({"owner": uid(a, "private_owner"), "start_s": "10"}, "end_s"),
    ):
        response = operator_client.post(_admin_url("add"), {**base, **extra})
        assert response.status_code == 200, extra
        assert field in response.context["adminform"].form.errors, (extra, response.context["adminform"].form.errors)
    assert snapshot() == before


def test_admin_deletes_snippets_through_the_service(world: World, operator_client: Client) -> None:
    a = world.a
    snippet = a.snippets["rep_sales_public"]
    response = operator_client.post(_admin_url("delete", snippet.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Snippet.objects.filter(pk=snippet.pk).exists()
    response = operator_client.post(
        _admin_url("changelist"),
        {
            "action": "delete_selected",
            "post": "yes",
            "_selected_action": [str(world.b.snippets["rep_sales_public"].pk)],
        },
    )
    assert response.status_code == 302
    assert set(Snippet.objects.values_list("pk", flat=True)) == {
        a.snippets["private_owner_private"].pk,
        world.b.snippets["private_owner_private"].pk,
    }
