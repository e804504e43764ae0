"""The super agent: its six tools, the job hand-off to background workers, and the agent's own discipline.

Two kinds of tests:

- ordinary `django_db` tests call the tools through the registry (`registry.call_tool`) inside the test's
  transaction. There, send_super_agent_message never waits (no worker could see an uncommitted job) and
  returns "processing"; the tests then run the queued job on the test thread with `run_next_job`, which is
  exactly what a worker thread does, deterministically;
- `transactional_db` tests exercise the real thing: the lazily started in-process worker pool, the bounded
  wait, polling history until done, cancelling a job while a worker runs it. The pool is stopped after every
  test (`_stop_workers`). A slow step is injected by wrapping `agent.runner.call_read_tool`, the one function
  through which the agent reaches data, from this module.

World (tests/conftest.py): rep_sales sees his own and his Sales teammates' public calls; private_owner's
private call is visible to its owner, its internal participant and admins only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from accounts.models import Role
from accounts.permissions import ALL_SCOPES, READ, WRITE, Actor
from accounts.selectors import actor_for_user
from accounts.services import user_deactivate
from agent import planner, runner, worker
from agent.models import AgentJob, JobState
from agent.services import job_claim, job_complete
from attention_mcp.pagination import encode_cursor
from calls.models import (
    AgentStatus,
    Call,
    Scorecard,
    ScorecardItem,
    ScorecardItemScore,
    ScorecardResult,
    SuperAgentMessage,
    SuperAgentSession,
    TranscriptSegment,
)
from mcpgateway import registry
from tests.factories import OrgWorld, World, system_actor
from tests.support.tools import err, ok

pytestmark = pytest.mark.django_db

AGENT_TOOLS = (
    "send_super_agent_message",
    "list_super_agent_sessions",
    "get_super_agent_session_history",
    "cancel_super_agent_processing",
    "rename_super_agent_session",
    "delete_super_agent_session",
)
# A word that appears nowhere but where a test plants it.
TOPIC = "zanzibarite"
JANUARY = "in January 2025"


# --- helpers -----------------------------------------------------------------------------------------------------


def actor(user: Any, scopes: frozenset[str] = ALL_SCOPES) -> Actor:
    return actor_for_user(user=user, via="oauth", scopes=scopes)


def snapshot() -> dict[str, Any]:
    """Everything the agent tools write."""
    return {
        "sessions": sorted(SuperAgentSession.objects.values_list("id", "title", "status", "tz_name", "updated_at")),
        "messages": sorted(SuperAgentMessage.objects.values_list("id", "session_id", "role", "content")),
        "jobs": sorted(AgentJob.objects.values_list("id", "state", "attempts", "answer_id")),
    }


def plant(w: OrgWorld, call_name: str, text: str) -> Call:
    """Put `text` into the first transcript segment of one of the world's calls."""
    target = w.calls[call_name]
    TranscriptSegment.objects.filter(call=target, position=0).update(text=text)
    return target


def run_queued() -> int:
    """Run every queued job on this thread, as a worker would."""
    count = 0
    while worker.run_next_job(worker_id="test-thread"):
        count += 1
    return count


def history(a: Actor, session_id: str, **args: Any) -> dict[str, Any]:
    return ok(a, "get_super_agent_session_history", session_id=session_id, **args)


def referenced(message: dict[str, Any]) -> set[str]:
    return {r["call_id"] for r in message["references"]}


def wait_until(predicate: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def _stop_workers(settings: Any) -> Iterator[None]:
    settings.AGENT_IDLE_POLL_SECONDS = 0.1
    yield
    worker.stop_pool()


class Gate:
    """Wraps the agent's data access: every tool call first waits for `open()` (a step that takes as long as the
    test wants). Counts the calls that went through."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.event = threading.Event()
        self.entered = threading.Event()
        self.calls: list[str] = []
        real = runner.call_read_tool

        def gated(a: Actor, name: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
            self.entered.set()
            assert self.event.wait(30), "the test never opened the gate"
            self.calls.append(name)
            return real(a, name, arguments)

        monkeypatch.setattr(runner, "call_read_tool", gated)

    def open(self) -> None:
        self.event.set()


class Recorder:
    """Records the tools the agent calls (and still calls them)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        real = runner.call_read_tool

        def recorded(a: Actor, name: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
            self.calls.append((name, arguments))
            return real(a, name, arguments)

        monkeypatch.setattr(runner, "call_read_tool", recorded)


@pytest.mark.parametrize("name", AGENT_TOOLS)
def test_org_key_is_refused_with_user_required(world: World, name: str) -> None:
    session = SuperAgentSession.objects.create(org=world.a.org, user=world.a.users["admin"], title="Mine")
    args = {"content": "Hello"} if name == "send_super_agent_message" else {"session_id": str(session.pk)}
    if name == "list_super_agent_sessions":
        args = {}
    if name == "rename_super_agent_session":
        args["title"] = "New"
    before = snapshot()
    assert err(world.a.org_key_actor, name, **args)["error"] == "user_required"
    assert snapshot() == before


def test_system_actor_without_a_user_is_refused_by_the_services(world: World) -> None:
    """user_required does not rest on the registry's org-key check alone: any actor bound to no user is refused."""
    body = err(Actor.org_wide(world.a.org.pk, via="operator"), "list_super_agent_sessions")
    assert body["error"] == "user_required"


def test_read_only_credential_cannot_send(world: World) -> None:
    body = err(actor(world.a.users["rep_sales"], frozenset({READ})), "send_super_agent_message", content="Hi")
    assert body == {"error": "insufficient_scope", "message": body["message"], "required_scope": WRITE}
    assert not SuperAgentSession.objects.exists()


# --- send ----------------------------------------------------------------------------------------------------------


def test_send_starts_a_session_titled_from_the_message_and_queues_a_job(world: World) -> None:
    rep = world.a.users["rep_sales"]
    content = "  What did   customers say about pricing?  " + "x" * 300
    body = ok(actor(rep), "send_super_agent_message", content=content, timezone="Europe/Berlin")
    # Inside the test's transaction no worker can see the job, so the tool does not wait.
    assert body["status"] == "processing"
    assert body["message"] is None
    assert body["poll_with"] == "get_super_agent_session_history"
    session = SuperAgentSession.objects.get(pk=body["session_id"])
    assert (session.user_id, session.org_id, session.status, session.tz_name) == (
        rep.pk,
        world.a.org.pk,
        AgentStatus.PROCESSING,
        "Europe/Berlin",
    )
    assert session.title.startswith("What did customers say about pricing? xxx")
    assert len(session.title) <= 200
    job = AgentJob.objects.get(session=session)
    assert (job.state, job.user_id, job.via, sorted(job.scopes)) == ("queued", rep.pk, "oauth", sorted(ALL_SCOPES))
    assert job.question.content == content.strip()


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"content": ""}, "content"),
        ({"content": "   \n "}, "content"),
        ({"content": "x" * 4001}, "content"),
        ({"content": "Hi", "timezone": "Mars/Olympus"}, "timezone"),
        ({"content": "Hi", "timezone": "../../etc/passwd"}, "timezone"),
        ({"content": "Hi", "timezone": "Europe/Berlin; DROP"}, "timezone"),
        ({"content": "Hi", "session_id": "not-a-uuid"}, "session_id"),
        ({"content": "Hi", "surprise": 1}, "surprise"),
    ],
)
def test_send_refuses_bad_input_and_creates_nothing(world: World, args: dict[str, Any], field: str) -> None:
    body = err(actor(world.a.users["rep_sales"]), "send_super_agent_message", **args)
    assert (body["error"], body["field"]) == ("invalid_argument", field)
    assert snapshot() == {"sessions": [], "messages": [], "jobs": []}


def test_a_message_while_the_session_is_processing_is_a_conflict(world: World) -> None:
    rep = actor(world.a.users["rep_sales"])
    session_id = ok(rep, "send_super_agent_message", content="First question")["session_id"]
    before = snapshot()
    body = err(rep, "send_super_agent_message", content="Second question", session_id=session_id)
    assert body["error"] == "conflict"
    assert snapshot() == before


def test_the_database_allows_one_active_job_per_session(world: World) -> None:
    """The partial unique constraint backs the conflict check up against two sends racing."""
    from django.db import IntegrityError, transaction

    rep = actor(world.a.users["rep_sales"])
    session_id = ok(rep, "send_super_agent_message", content="First")["session_id"]
    job = AgentJob.objects.get(session_id=session_id)
    with pytest.raises(IntegrityError), transaction.atomic():
        AgentJob.objects.create(session_id=session_id, question=job.question, user=job.user, via="oauth")


def test_follow_up_in_another_time_zone_changes_the_session_time_zone(world: World) -> None:
    rep = actor(world.a.users["rep_sales"])
    session_id = ok(rep, "send_super_agent_message", content="First")["session_id"]
    run_queued()
    ok(rep, "send_super_agent_message", content="Second", session_id=session_id, timezone="America/New_York")
    assert SuperAgentSession.objects.get(pk=session_id).tz_name == "America/New_York"


# --- someone else's session -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["manager", "admin", "private_owner", "other_org_rep_sales"])
@pytest.mark.parametrize("name", [n for n in AGENT_TOOLS if n != "list_super_agent_sessions"])
def test_another_persons_session_is_not_found_and_unchanged(world: World, who: str, name: str) -> None:
    rep = actor(world.a.users["rep_sales"])
    session_id = ok(rep, "send_super_agent_message", content="My own question")["session_id"]
    intruder = actor(world.b.users["rep_sales"] if who == "other_org_rep_sales" else world.a.users[who])
    args: dict[str, Any] = {"session_id": session_id}
    if name == "send_super_agent_message":
        args["content"] = "Let me in"
    if name == "rename_super_agent_session":
        args["title"] = "Taken"
    before = snapshot()
    body = err(intruder, name, **args)
    assert body["error"] == "not_found"
    assert "My own question" not in json.dumps(body)
    assert snapshot() == before


def test_an_unknown_session_id_is_not_found(world: World) -> None:
    body = err(actor(world.a.users["rep_sales"]), "get_super_agent_session_history", session_id=str(uuid.uuid4()))
    assert body["error"] == "not_found"


# --- list ------------------------------------------------------------------------------------------------------------


def test_list_shows_only_own_sessions_newest_first_with_title_search_and_pages(world: World) -> None:
    rep_user = world.a.users["rep_sales"]
    now = timezone.now()
    for i, title in enumerate(["Pricing objections", "Competitor Gongly", "pricing in EMEA"]):
        SuperAgentSession.objects.create(
            org=world.a.org, user=rep_user, title=title, updated_at=now - timedelta(minutes=10 - i)
        )
    SuperAgentSession.objects.create(org=world.a.org, user=world.a.users["manager"], title="Pricing (manager)")
    SuperAgentSession.objects.create(org=world.b.org, user=world.b.users["rep_sales"], title="Pricing (mirror)")
    rep = actor(rep_user)

    body = ok(rep, "list_super_agent_sessions")
    assert [s["title"] for s in body["sessions"]] == ["pricing in EMEA", "Competitor Gongly", "Pricing objections"]
    assert body["next_cursor"] is None
    first = body["sessions"][0]
    assert set(first) == {"id", "title", "status", "timezone", "message_count", "created_at", "updated_at"}
    assert (first["status"], first["timezone"], first["message_count"]) == ("idle", "UTC", 0)

    assert [s["title"] for s in ok(rep, "list_super_agent_sessions", title="PRICING")["sessions"]] == [
        "pricing in EMEA",
        "Pricing objections",
    ]
    page1 = ok(rep, "list_super_agent_sessions", limit=2)
    page2 = ok(rep, "list_super_agent_sessions", limit=2, cursor=page1["next_cursor"])
    assert [s["title"] for s in page1["sessions"] + page2["sessions"]] == [
        "pricing in EMEA",
        "Competitor Gongly",
        "Pricing objections",
    ]
    assert page2["next_cursor"] is None


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"title": "x" * 201}, "title"),
    ],
)
def test_list_refuses_bad_bounds(world: World, args: dict[str, Any], field: str) -> None:
    body = err(actor(world.a.users["rep_sales"]), "list_super_agent_sessions", **args)
    assert (body["error"], body["field"]) == ("invalid_argument", field)


def test_list_accepts_the_largest_limit(world: World) -> None:
    assert ok(actor(world.a.users["rep_sales"]), "list_super_agent_sessions", limit=1000)["sessions"] == []


# --- history -------------------------------------------------------------------------------------------------------


def test_history_pages_backwards_and_is_done_when_the_assistant_spoke_last(world: World) -> None:
    rep = actor(world.a.users["rep_sales"])
    session_id = ok(rep, "send_super_agent_message", content="Question one")["session_id"]
    first = history(rep, session_id)
    assert (first["done"], first["status"]) == (False, "processing")
    assert [m["role"] for m in first["messages"]] == ["user"]
    assert run_queued() == 1
    ok(rep, "send_super_agent_message", content="Question two", session_id=session_id)
    run_queued()

    latest = history(rep, session_id)
    assert (latest["done"], latest["status"]) == (True, "idle")
    assert [m["role"] for m in latest["messages"]] == ["user", "assistant", "user", "assistant"]
    assert latest["messages"][2]["content"] == "Question two"
    message = latest["messages"][-1]
    assert set(message) == {"id", "role", "content", "references", "created_at"}

    page1 = history(rep, session_id, page_size=3)
    page2 = history(rep, session_id, page_size=3, cursor=page1["next_cursor"])
    assert next(m["content"] for m in page1["messages"]) == latest["messages"][1]["content"]
    assert [m["content"] for m in page2["messages"]] == ["Question one"]
    assert page2["next_cursor"] is None


def test_history_refuses_a_cursor_of_another_session_or_listing(world: World) -> None:
    rep = actor(world.a.users["rep_sales"])
    session_id = ok(rep, "send_super_agent_message", content="Q")["session_id"]
    other = encode_cursor(
        {"k": f"agent_history:{uuid.uuid4()}", "c": timezone.now().isoformat(), "i": str(uuid.uuid4())}
    )
    for cursor in (other, "bm90IGEgY3Vyc29y", encode_cursor({"k": "agent_sessions"})):
        body = err(rep, "get_super_agent_session_history", session_id=session_id, cursor=cursor)
        assert (body["error"], body["field"]) == ("invalid_argument", "cursor")
    for page_size in (0, 51):
        body = err(rep, "get_super_agent_session_history", session_id=session_id, page_size=page_size)
        assert (body["error"], body["field"]) == ("invalid_argument", "page_size")


def test_history_reads_hand_made_references_defensively_and_shows_only_calls_visible_now(world: World) -> None:
    a = world.a
    mine, hidden = str(a.calls["rep_sales_public"].pk), str(a.calls["private_owner_private"].pk)
    session = SuperAgentSession.objects.create(org=a.org, user=a.users["rep_sales"], title="Seeded")
    SuperAgentMessage.objects.create(session=session, role="user", content="Q")
    SuperAgentMessage.objects.create(
        session=session,
        role="assistant",
        content="A",
        references=[
            {"call_id": mine, "title": "T", "start_s": 12},
            "junk",
            {"title": "no id"},
            {"call_id": "c2"},
            {"call_id": hidden, "title": "private"},
            {"call_id": str(world.b.calls["rep_sales_public"].pk)},
        ],
    )
    body = history(actor(a.users["rep_sales"]), str(session.pk))
    assert body["done"] is True
    assert body["messages"][1]["references"] == [{"call_id": mine, "title": "T", "start_s": 12.0}]


def test_a_reference_to_a_call_made_private_since_the_answer_disappears_from_the_history(world: World) -> None:
    a = world.a
    teammate_call = a.calls["listener_public"]
    session = SuperAgentSession.objects.create(org=a.org, user=a.users["rep_sales"], title="Seeded")
    SuperAgentMessage.objects.create(session=session, role="user", content="Q")
    SuperAgentMessage.objects.create(
        session=session, role="assistant", content="A", references=[{"call_id": str(teammate_call.pk), "title": "T"}]
    )
    rep = actor(a.users["rep_sales"])
    assert [r["call_id"] for r in history(rep, str(session.pk))["messages"][1]["references"]] == [str(teammate_call.pk)]
    Call.objects.filter(pk=teammate_call.pk).update(private=True)
    assert history(rep, str(session.pk))["messages"][1]["references"] == []


# --- rename and delete ---------------------------------------------------------------------------------------------


def test_rename_sets_a_trimmed_title_and_refuses_a_blank_one(world: World) -> None:
    rep = actor(world.a.users["rep_sales"])
    session_id = ok(rep, "send_super_agent_message", content="Q")["session_id"]
    body = ok(rep, "rename_super_agent_session", session_id=session_id, title="  Q3   pricing  ")
    assert (body["id"], body["title"]) == (session_id, "Q3 pricing")
    before = snapshot()
    for (title,) in (("   ",), ("x" * 201,), ("",)):
        assert err(rep, "rename_super_agent_session", session_id=session_id, title=title)["field"] == "title"
    assert snapshot() == before


def test_delete_removes_the_session_its_messages_and_jobs(world: World) -> None:
    rep = actor(world.a.users["rep_sales"])
    keep = ok(rep, "send_super_agent_message", content="Keep me")["session_id"]
    session_id = ok(rep, "send_super_agent_message", content="Delete me")["session_id"]
    body = ok(rep, "delete_super_agent_session", session_id=session_id)
    assert body == {"session_id": session_id, "deleted": True, "messages_deleted": 1}
    assert not SuperAgentSession.objects.filter(pk=session_id).exists()
    assert not SuperAgentMessage.objects.filter(session_id=session_id).exists()
    assert not AgentJob.objects.filter(session_id=session_id).exists()
    assert AgentJob.objects.filter(session_id=keep).count() == 1
    assert err(rep, "delete_super_agent_session", session_id=session_id)["error"] == "not_found"


# --- cancel ---------------------------------------------------------------------------------------------------------


def test_cancel_of_an_idle_session_changes_nothing(world: World) -> None:
    rep = actor(world.a.users["rep_sales"])
    session_id = ok(rep, "send_super_agent_message", content="Q")["session_id"]
    run_queued()
    before = snapshot()
    body = ok(rep, "cancel_super_agent_processing", session_id=session_id)
    assert body == {"session_id": session_id, "cancelled": False, "status": "idle", "message": None}
    assert snapshot() == before


def test_cancel_of_a_queued_job_records_it_and_the_job_never_runs(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(monkeypatch)
    rep = actor(world.a.users["rep_sales"])
    session_id = ok(rep, "send_super_agent_message", content="Q")["session_id"]
    body = ok(rep, "cancel_super_agent_processing", session_id=session_id, reason="  wrong   question ")
    assert (body["cancelled"], body["status"]) == (True, "cancelled")
    assert body["message"]["role"] == "assistant"
    assert "wrong question" in body["message"]["content"]
    job = AgentJob.objects.get(session_id=session_id)
    assert (job.state, job.cancel_reason) == ("cancelled", "wrong question")
    assert run_queued() == 0
    assert recorder.calls == []
    after = history(rep, session_id)
    assert (after["done"], after["status"]) == (True, "cancelled")
    assert [m["role"] for m in after["messages"]] == ["user", "assistant"]
    # The session takes new messages again.
    assert ok(rep, "send_super_agent_message", content="Again", session_id=session_id)["status"] == "processing"


# --- what the agent does, run on the test thread --------------------------------------------------------------------


def ask(a: Actor, content: str, **args: Any) -> dict[str, Any]:
    """Send, run the job, and return the assistant's last message."""
    session_id = ok(a, "send_super_agent_message", content=content, **args)["session_id"]
    assert run_queued() == 1
    body = history(a, session_id)
    assert body["done"] is True
    message: dict[str, Any] = body["messages"][-1]
    assert message["role"] == "assistant"
    message["session_id"] = session_id
    return message


def test_the_agent_never_cites_a_call_the_asker_cannot_see(world: World) -> None:
    """The topic is in a teammate's private call and in a teammate's public one: the rep gets only the public one."""
    w = world.a
    private = plant(w, "private_owner_private", f"Our {TOPIC} budget is 48,000 euros.")
    public = plant(w, "private_owner_public", f"We talked about {TOPIC} briefly.")
    other_org = plant(world.b, "rep_sales_public", f"{TOPIC} in the mirror org.")

    answer = ask(actor(w.users["rep_sales"]), f"What did customers say about {TOPIC}?")
    assert referenced(answer) == {str(public.pk)}
    assert private.title not in answer["content"]
    assert "48,000" not in answer["content"]
    assert str(private.pk) not in json.dumps(answer)
    assert answer["references"][0]["title"] == public.title
    assert answer["references"][0]["start_s"] == 0.0

    # The same question from an admin does find the private call: the test above can fail.
    admin_answer = ask(actor(w.users["admin"]), f"What did customers say about {TOPIC}?")
    assert referenced(admin_answer) == {str(private.pk), str(public.pk)}
    assert str(other_org.pk) not in json.dumps(admin_answer)


def test_a_role_lost_between_send_and_run_is_respected(world: World) -> None:
    w = world.a
    private = plant(w, "private_owner_private", f"{TOPIC} figures.")
    admin_user = w.users["admin"]
    session_id = ok(actor(admin_user), "send_super_agent_message", content=f"Anything on {TOPIC}?")["session_id"]
    # Demoted to sales rep (in no team) before a worker picks the job up.
    admin_user.roles.set([Role.objects.get(org=w.org, type="sales_rep")])
    run_queued()
    answer = history(actor(admin_user), session_id)["messages"][-1]
    assert answer["role"] == "assistant"
    assert str(private.pk) not in referenced(answer)


def test_a_deactivated_users_queued_job_does_not_run(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = Recorder(monkeypatch)
    w = world.a
    rep_user = w.users["rep_sales"]
    session_id = ok(actor(rep_user), "send_super_agent_message", content="What is new?")["session_id"]
    user_deactivate(actor=system_actor(w.org), user_id=rep_user.pk)
    assert run_queued() == 1
    assert recorder.calls == []
    job = AgentJob.objects.get(session_id=session_id)
    assert (job.state, job.error) == ("failed", "asker no longer active")
    note = SuperAgentMessage.objects.filter(session_id=session_id, role="assistant").get()
    assert note.references == []
    assert SuperAgentSession.objects.get(pk=session_id).status == AgentStatus.FAILED


def test_the_job_keeps_the_scopes_the_asker_had_and_never_more(world: World) -> None:
    """A write-only credential may send, but the agent then cannot read on its behalf."""
    plant(world.a, "rep_sales_public", f"{TOPIC} here.")
    rep_user = world.a.users["rep_sales"]
    write_only = actor(rep_user, frozenset({WRITE}))
    session_id = ok(write_only, "send_super_agent_message", content=f"Anything about {TOPIC}?")["session_id"]
    assert AgentJob.objects.get(session_id=session_id).scopes == [WRITE]
    run_queued()
    answer = history(actor(rep_user), session_id)["messages"][-1]
    assert answer["role"] == "assistant"
    assert answer["references"] == []
    assert "mcp:read" in answer["content"]


def test_the_agent_uses_only_registered_read_tools_with_the_askers_actor(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, Actor]] = []
    real = runner.call_read_tool

    def spy(a: Actor, name: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
        seen.append((name, a))
        return real(a, name, arguments)

    monkeypatch.setattr(runner, "call_read_tool", spy)
    plant(world.a, "rep_sales_public", f"{TOPIC} here.")
    rep_user = world.a.users["rep_sales"]
    ask(actor(rep_user), f"Anything about {TOPIC}?")
    tools = registry.tools()
    assert {"search_calls", "get_call_details"} <= {name for name, _ in seen} or "ask_attention" in tools
    for name, a in seen:
        assert name in tools
        assert tools[name].read_only
        assert (a.user_id, a.org_id, a.roles, a.scopes) == (
            rep_user.pk,
            world.a.org.pk,
            frozenset({"sales_rep"}),
            ALL_SCOPES,
        )


def test_the_answer_cites_calls_with_title_and_moment_and_honours_dates(world: World) -> None:
    w = world.a
    target = plant(w, "rep_sales_public", f"Casey asked about {TOPIC} pricing.")
    # Factory sequences run across the whole session: pin the date rather than trust BASE_TIME.
    Call.objects.filter(pk=target.pk).update(started_at=datetime(2025, 1, 15, 10, 0, tzinfo=UTC))
    rep = actor(w.users["rep_sales"])

    answer = ask(rep, f"What was said about {TOPIC} {JANUARY}?")
    assert answer["references"] == [{"call_id": str(target.pk), "title": target.title, "start_s": 0.0}]
    assert target.title in answer["content"]
    assert "2025-01-01 to 2025-01-31" in answer["content"]

    nothing = ask(rep, f"What was said about {TOPIC} in February 2025?")
    assert nothing["references"] == []
    assert "found no calls" in nothing["content"]


def test_names_of_reps_become_filters(world: World) -> None:
    w = world.a
    for name in ("rep_sales_public", "manager_public"):
        plant(w, name, f"{TOPIC} came up.")
    admin = actor(w.users["admin"])
    answer = ask(admin, f"What did Manager Acme hear about {TOPIC}?")
    assert referenced(answer) == {str(w.calls["manager_public"].pk)}
    mine = ask(actor(w.users["rep_sales"]), f"What did my calls say about {TOPIC}?")
    assert referenced(mine) == {str(w.calls["rep_sales_public"].pk)}


def test_a_count_question_gets_a_number(world: World) -> None:
    w = world.a
    for name in ("rep_sales_public", "manager_public", "listener_public"):
        plant(w, name, f"{TOPIC} came up.")
    answer = ask(actor(w.users["rep_sales"]), f"How many calls mentioned {TOPIC}?")
    assert answer["content"].startswith("3 calls you can see")


def test_a_broken_search_fails_the_job_instead_of_answering_wrongly(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = runner.call_read_tool

    def broken(a: Actor, name: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
        if name == "search_calls":
            raise RuntimeError("search index missing")
        return real(a, name, arguments)

    monkeypatch.setattr(runner, "call_read_tool", broken)
    rep = actor(world.a.users["rep_sales"])
    session_id = ok(rep, "send_super_agent_message", content=f"Anything about {TOPIC}?")["session_id"]
    run_queued()
    job = AgentJob.objects.get(session_id=session_id)
    assert (job.state, job.error) == ("failed", "RuntimeError")
    body = history(rep, session_id)
    assert (body["done"], body["status"]) == (True, "failed")
    assert "went wrong" in body["messages"][-1]["content"]
    assert "search index" not in json.dumps(body)  # internals stay in the operators' log


def test_a_broken_enrichment_is_left_out_of_the_answer(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    real = runner.call_read_tool

    def broken(a: Actor, name: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
        if name in ("list_reps", "list_teams", "list_deals"):
            raise RuntimeError("boom")
        return real(a, name, arguments)

    monkeypatch.setattr(runner, "call_read_tool", broken)
    target = plant(world.a, "rep_sales_public", f"{TOPIC} here.")
    answer = ask(actor(world.a.users["rep_sales"]), f"Anything about {TOPIC}?")
    assert referenced(answer) == {str(target.pk)}


def test_a_follow_up_reads_the_calls_of_the_previous_answer(world: World) -> None:
    w = world.a
    target = plant(w, "rep_sales_public", f"{TOPIC} budget is 48,000 euros.")
    rep = actor(w.users["rep_sales"])
    first = ask(rep, f"Which calls mention {TOPIC}?")
    assert referenced(first) == {str(target.pk)}
    ok(
        rep,
        "send_super_agent_message",
        content="What budgets did those customers mention?",
        session_id=first["session_id"],
    )
    run_queued()
    follow = history(rep, first["session_id"])["messages"][-1]
    assert referenced(follow) == {str(target.pk)}
    assert "previous answer" in follow["content"]


def test_a_follow_up_does_not_cite_a_call_that_became_invisible(world: World) -> None:
    w = world.a
    target = plant(w, "private_owner_public", f"{TOPIC} budget.")
    rep = actor(w.users["rep_sales"])
    first = ask(rep, f"Which calls mention {TOPIC}?")
    assert referenced(first) == {str(target.pk)}
    Call.objects.filter(pk=target.pk).update(private=True)
    ok(rep, "send_super_agent_message", content="What did those customers want?", session_id=first["session_id"])
    run_queued()
    follow = history(rep, first["session_id"])["messages"][-1]
    assert follow["references"] == []


def needs(*tools: str) -> pytest.MarkDecorator:
    missing = [t for t in tools if t not in registry.tools()]
    return pytest.mark.skipif(bool(missing), reason=f"not registered: {missing}")


@needs("list_deals", "get_deal")
def test_a_deal_named_in_the_question_narrows_to_its_visible_calls(world: World) -> None:
    w = world.a
    deal = w.deals["globex"]  # linked to rep_sales_public and private_owner_private
    answer = ask(actor(w.users["rep_sales"]), "What happened on the Globex renewal deal?")
    assert referenced(answer) == {str(w.calls["rep_sales_public"].pk)}
    assert 'Deal "Globex renewal"' in answer["content"]
    assert w.calls["private_owner_private"].title not in answer["content"]
    admin_answer = ask(actor(w.users["admin"]), "What happened on the Globex renewal deal?")
    assert referenced(admin_answer) == {str(c.pk) for c in deal.calls.all()}


@needs("get_scorecards", "get_scorecard_summary")
def test_a_scorecard_question_reports_the_scorecards_figures(world: World) -> None:
    w = world.a
    scorecard = Scorecard.objects.create(org=w.org, title="Discovery quality")
    item = ScorecardItem.objects.create(scorecard=scorecard, title="Asked about budget", position=0)
    result = ScorecardResult.objects.create(scorecard=scorecard, call=w.calls["rep_sales_public"])
    ScorecardItemScore.objects.create(result=result, item=item, score=5)
    answer = ask(actor(w.users["manager"]), "How are we scoring on Discovery quality?")
    assert '"Discovery quality"' in answer["content"]
    assert "Asked about budget" in answer["content"]
    # The figures answer the question: no list of unrelated calls.
    assert answer["references"] == []


# --- jobs: claiming, stale workers, the command ------------------------------------------------------------------


def test_a_job_whose_worker_died_is_claimed_again_and_the_dead_worker_cannot_answer(world: World) -> None:
    rep = actor(world.a.users["rep_sales"])
    session_id = ok(rep, "send_super_agent_message", content="Q")["session_id"]
    dead = job_claim(worker_id="dead-worker")
    assert dead is not None
    assert dead.state == "running"
    assert job_claim(worker_id="another") is None  # running with a fresh heartbeat: not claimable
    AgentJob.objects.filter(pk=dead.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert run_queued() == 1
    job = AgentJob.objects.get(pk=dead.pk)
    assert (job.state, job.attempts, job.worker) == ("done", 2, "test-thread")
    assert not job_complete(job_id=dead.pk, worker_id="dead-worker", content="late answer", references=[])
    assert SuperAgentMessage.objects.filter(session_id=session_id, role="assistant").count() == 1


def test_a_job_that_keeps_losing_its_worker_is_failed(world: World, settings: Any) -> None:
    settings.AGENT_JOB_MAX_ATTEMPTS = 1
    rep = actor(world.a.users["rep_sales"])
    session_id = ok(rep, "send_super_agent_message", content="Q")["session_id"]
    assert job_claim(worker_id="dead-worker") is not None
    AgentJob.objects.filter(session_id=session_id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    run_queued()
    assert AgentJob.objects.get(session_id=session_id).state == "failed"
    assert history(rep, session_id)["status"] == "failed"


def test_without_skip_locked_a_conditional_update_claims_the_job(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SQLite path (no SELECT ... SKIP LOCKED), run on this database."""
    monkeypatch.setattr(connection.features, "has_select_for_update_skip_locked", False)
    rep = actor(world.a.users["rep_sales"])
    session_id = ok(rep, "send_super_agent_message", content="Q")["session_id"]
    claimed = job_claim(worker_id="w1")
    assert claimed is not None
    assert (claimed.state, claimed.worker, claimed.attempts) == ("running", "w1", 1)
    assert job_claim(worker_id="w2") is None
    AgentJob.objects.filter(session_id=session_id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    again = job_claim(worker_id="w2")
    assert again is not None
    assert (again.worker, again.attempts, again.started_at) == ("w2", 2, claimed.started_at)


def test_run_agent_worker_once_answers_queued_jobs(world: World) -> None:
    rep = actor(world.a.users["rep_sales"])
    session_id = ok(rep, "send_super_agent_message", content="Q")["session_id"]
    out = __import__("io").StringIO()
    call_command("run_agent_worker", "--once", stdout=out)
    assert "1 job(s) run" in out.getvalue()
    assert AgentJob.objects.get(session_id=session_id).state == "done"


# --- planner ----------------------------------------------------------------------------------------------------------


TODAY = date(2025, 3, 12)  # a Wednesday


@pytest.mark.parametrize(
    ("phrase", "first", "last"),
    [
        ("today", "2025-03-12", "2025-03-12"),
        ("yesterday", "2025-03-11", "2025-03-11"),
        ("this week", "2025-03-10", "2025-03-12"),
        ("last week", "2025-03-03", "2025-03-09"),
        ("this month", "2025-03-01", "2025-03-12"),
        ("last month", "2025-02-01", "2025-02-28"),
        ("this quarter", "2025-01-01", "2025-03-12"),
        ("last quarter", "2024-10-01", "2024-12-31"),
        ("this year", "2025-01-01", "2025-03-12"),
        ("last year", "2024-01-01", "2024-12-31"),
        ("in the last 7 days", "2025-03-06", "2025-03-12"),
        ("over the past two weeks", "2025-02-27", "2025-03-12"),
        ("in the last 3 months", "2024-12-13", "2025-03-12"),
        ("in January", "2025-01-01", "2025-01-31"),
        ("in November", "2024-11-01", "2024-11-30"),
        ("in Feb 2024", "2024-02-01", "2024-02-29"),
    ],
)
def test_planner_reads_relative_dates(phrase: str, first: str, last: str) -> None:
    period, rest = planner.parse_period(f"What about pricing {phrase}?", today=TODAY)
    assert period is not None
    assert (period.from_date.isoformat(), period.to_date.isoformat()) == (first, last)
    assert "pricing" in rest
    assert phrase.split()[-1] not in rest.lower().replace("pricing", "")


def test_planner_picks_search_terms_names_first() -> None:
    assert planner.search_terms('Which calls mentioned Chorus Labs and "security review"?') == [
        "security review",
        "Chorus Labs",
    ]
    assert planner.search_terms("What did customers say about pricing objections?") == ["objections", "pricing"]
    assert planner.search_terms("How many calls did we have?") == []
    assert planner.parse("How many calls did I have?", today=TODAY).own_calls is True
    assert planner.parse("what did those customers want", today=TODAY, has_history=True).follow_up is True
    assert planner.parse("what did those customers want", today=TODAY, has_history=False).follow_up is False


# --- the real thing: background workers, the bounded wait, polling ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_send_answers_within_the_wait_from_a_background_worker(world: World) -> None:
    w = world.a
    target = plant(w, "rep_sales_public", f"{TOPIC} was discussed.")
    rep = actor(w.users["rep_sales"])
    started = time.monotonic()
    body = ok(rep, "send_super_agent_message", content=f"What about {TOPIC}?")
    assert time.monotonic() - started < 15
    assert body["status"] == "completed", body
    assert body["message"]["role"] == "assistant"
    assert referenced(body["message"]) == {str(target.pk)}
    job = AgentJob.objects.get(session_id=body["session_id"])
    assert job.state == "done"
    assert job.worker
    assert any(t.name.startswith("agent-worker") for t in threading.enumerate())
    assert history(rep, body["session_id"])["done"] is True


@pytest.mark.django_db(transaction=True)
def test_slow_work_returns_processing_and_history_is_polled_until_done(
    world: World, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.AGENT_SEND_WAIT_SECONDS = 0.3
    gate = Gate(monkeypatch)
    w = world.a
    target = plant(w, "rep_sales_public", f"{TOPIC} was discussed.")
    rep = actor(w.users["rep_sales"])
    started = time.monotonic()
    body = ok(rep, "send_super_agent_message", content=f"What about {TOPIC}?")
    waited = time.monotonic() - started
    assert body == {
        "session_id": body["session_id"],
        "status": "processing",
        "message": None,
        "poll_with": "get_super_agent_session_history",
    }
    assert 0.3 <= waited < 5
    assert gate.entered.wait(10)
    polled = history(rep, body["session_id"])
    assert (polled["done"], polled["status"]) == (False, "processing")
    assert err(rep, "send_super_agent_message", content="Another", session_id=body["session_id"])["error"] == "conflict"

    gate.open()
    wait_until(lambda: history(rep, body["session_id"])["done"])
    final = history(rep, body["session_id"])
    assert final["status"] == "idle"
    assert [m["role"] for m in final["messages"]] == ["user", "assistant"]
    assert referenced(final["messages"][-1]) == {str(target.pk)}


@pytest.mark.django_db(transaction=True)
def test_cancel_while_a_worker_runs_the_job_stores_no_answer(
    world: World, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.AGENT_SEND_WAIT_SECONDS = 0.2
    gate = Gate(monkeypatch)
    w = world.a
    plant(w, "rep_sales_public", f"{TOPIC} was discussed.")
    rep = actor(w.users["rep_sales"])
    session_id = ok(rep, "send_super_agent_message", content=f"What about {TOPIC}?")["session_id"]
    assert gate.entered.wait(10)  # a worker is inside its first step
    assert AgentJob.objects.get(session_id=session_id).state == "running"

    body = ok(rep, "cancel_super_agent_processing", session_id=session_id, reason="never mind")
    assert body["cancelled"] is True
    gate.open()
    worker.stop_pool()  # returns once the worker has finished with the job

    job = AgentJob.objects.get(session_id=session_id)
    assert job.state == "cancelled"
    assert len(gate.calls) == 1  # the worker stopped at its next checkpoint
    final = history(rep, session_id)
    assert (final["done"], final["status"]) == (True, "cancelled")
    assert [m["role"] for m in final["messages"]] == ["user", "assistant"]
    assert final["messages"][-1]["references"] == []
    assert "never mind" in final["messages"][-1]["content"]


@pytest.mark.django_db(transaction=True)
def test_deleting_a_session_while_a_worker_runs_it_stores_nothing(
    world: World, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.AGENT_SEND_WAIT_SECONDS = 0.1
    gate = Gate(monkeypatch)
    rep = actor(world.a.users["rep_sales"])
    session_id = ok(rep, "send_super_agent_message", content="Anything new?")["session_id"]
    assert gate.entered.wait(10)
    ok(rep, "delete_super_agent_session", session_id=session_id)
    gate.open()
    worker.stop_pool()
    assert not SuperAgentMessage.objects.filter(session_id=session_id).exists()
    assert not AgentJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_claim_a_job_once(world: World, settings: Any) -> None:
    settings.AGENT_WORKER_THREADS = 0  # no pool: the threads below are the only workers
    settings.AGENT_SEND_WAIT_SECONDS = 0
    rep = actor(world.a.users["rep_sales"])
    ok(rep, "send_super_agent_message", content="Q")
    barrier = threading.Barrier(4)
    claimed: list[Any] = []

    def claim(n: int) -> None:
        try:
            barrier.wait()
            claimed.append(job_claim(worker_id=f"w{n}"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([c for c in claimed if c is not None]) == 1
    assert AgentJob.objects.get().state == JobState.RUNNING


# --- the embedded default: SQLite, no Redis, demo data ------------------------------------------------------------

_SQLITE_SCRIPT = """
import django
django.setup()
from accounts.models import User
from accounts.permissions import ALL_SCOPES
from accounts.selectors import actor_for_user
from agent import worker
from calls.selectors import calls_visible_to
from mcpgateway import registry

send = registry.tools()["send_super_agent_message"]
admin = User.objects.get(email="admin@acme.example")
rep = User.objects.filter(org=admin.org, roles__type="sales_rep", deactivated_at__isnull=True).first()
for user in (admin, rep):
    actor = actor_for_user(user=user, via="oauth", scopes=ALL_SCOPES)
    body = registry.call_tool(send, actor, {"content": "What did customers say about pricing?"})["structuredContent"]
    assert body["status"] == "completed", body
    refs = {r["call_id"] for r in body["message"]["references"]}
    assert refs, body
    visible = {str(pk) for pk in calls_visible_to(actor=actor).values_list("pk", flat=True)}
    assert refs <= visible, (user.email, refs - visible)
worker.stop_pool()
print("OK")
"""


def test_on_sqlite_with_demo_data_the_in_process_workers_answer(tmp_path: Any) -> None:
    """What `make run` gives: SQLite, no Redis, the demo organisation; workers start inside the process."""
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "VAR_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "DJANGO_SETTINGS_MODULE": "attention_mcp.settings",
            "PYTHONPATH": str(root),
        }
    )

    def run(*argv: str) -> str:
        done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    run(sys.executable, "manage.py", "migrate", "--noinput", "-v0")
    run(sys.executable, "manage.py", "seed_demo", "--calls", "40", "--password", "demo-pass-123")
    assert run(sys.executable, "-c", _SQLITE_SCRIPT).strip().endswith("OK")
