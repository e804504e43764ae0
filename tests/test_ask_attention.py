"""ask_attention: extractive answers from transcripts, through the registry's own call path.

Ranking is checked on planted facts: the segment that answers the question must come first,
ahead of segments that merely repeat the question's words. Visibility, per-call errors, the deal
path, bounds and the size cap use the `world` personas (tests/conftest.py). The optional Anthropic
backend is never called: its selection and request building are checked against an
`httpx.MockTransport`. The last tests run on a small seeded demo organisation.
"""

from __future__ import annotations

import io
import json
import random
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Organization, User
from accounts.permissions import READ, WRITE, Actor
from analysis import selectors
from analysis.backends import (
    ANTHROPIC_URL,
    ANTHROPIC_VERSION,
    AnthropicAnswerer,
    ExtractiveAnswerer,
    default_answerer,
)
from analysis.ranking import parse_query, rank_passages, stem
from analysis.selectors import calls_ask
from calls.models import Call, Deal, Insight, TranscriptSegment
from mcpgateway import registry
from tests.factories import BASE_TIME, CallFactory, DealFactory, World

pytestmark = pytest.mark.django_db

ActorFor = Callable[[User], Actor]

PLANTED = "Honestly, our renewal budget is 48,000 euros for next year."
# Segments that share the question's words without answering it.
DISTRACTORS = (
    "Let's make sure we cover the renewal budget before we wrap up today.",
    "Renewal budget, renewal budget: that is all finance ever asks about at renewal time, budget this, budget that.",
    "I will send over the renewal budget template right after the call.",
    "The renewal budget conversation usually pulls in procurement and legal as well.",
    "Before we get into the renewal budget, how is adoption going with the new team?",
    "Our renewal budget planning kicks off next quarter with the finance team.",
    "We spoke about the budget for the offsite and about the renewal of the office lease.",
    "Whoever owns the renewal budget should join the next session, ideally.",
    "Is the renewal budget owned by sales operations or by finance on your side?",
)
FILLER_TEMPLATES = (
    "We rolled out {tool} to the {team} team and the feedback has been {mood}.",
    "The {team} managers want better {thing} before the kickoff.",
    "Can you share how {thing} works with {tool}?",
    "Sure, {thing} syncs every few minutes, and admins can control who sees it.",
    "I think the {team} reps would like {thing} the most.",
    "Let me pull up the dashboard for {thing} so you can see it live.",
    "That looks {mood}, and it would save the {team} team a lot of clicking.",
    "We had a similar project with {tool} a while ago and it stalled.",
    "Got it. I will loop in our {team} lead for the technical questions.",
    "Mm-hmm.",
    "Right.",
)
FILLER_SLOTS = {
    "tool": ("Salesforce", "HubSpot", "Zoom", "Slack", "Okta", "Gong-style recorders"),
    "team": ("EMEA", "enterprise", "mid-market", "customer success", "inside sales"),
    "mood": ("great", "mixed", "positive", "lukewarm"),
    "thing": ("call summaries", "deal boards", "coaching scorecards", "forecast views", "search"),
}


@pytest.fixture(autouse=True)
def _no_language_model(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """However the machine is configured, these tests never reach the Anthropic API."""
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    settings.ANTHROPIC_API_KEY = ""


# --- helpers -----------------------------------------------------------------------------------------------------


def call(actor: Actor, /, **args: Any) -> dict[str, Any]:
    result = registry.call_tool(registry.tools()["ask_attention"], actor, args)
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    return result


def ok(actor: Actor, /, **args: Any) -> dict[str, Any]:
    result = call(actor, **args)
    assert result["isError"] is False, result
    structured: dict[str, Any] = result["structuredContent"]
    return structured


def err(actor: Actor, /, **args: Any) -> dict[str, Any]:
    result = call(actor, **args)
    assert result["isError"] is True, result
    structured: dict[str, Any] = result["structuredContent"]
    return structured


def snapshot() -> dict[str, Any]:
    """What a read tool must never change."""
    return {
        "calls": sorted(Call.objects.values_list("id", "title", "private", "archived", "deal_id")),
        "segments": TranscriptSegment.objects.count(),
        "deals": sorted(Deal.objects.values_list("id", "name")),
    }


def with_transcript(call: Call, lines: list[tuple[str, str]], *, step: float = 10.0) -> Call:
    TranscriptSegment.objects.bulk_create(
        TranscriptSegment(
            call=call, position=i, speaker=speaker, start_s=i * step, end_s=i * step + step - 0.5, text=text
        )
        for i, (speaker, text) in enumerate(lines)
    )
    return call


def filler(rng: random.Random, count: int) -> list[tuple[str, str]]:
    out = []
    for i in range(count):
        template = rng.choice(FILLER_TEMPLATES)
        text = template.format(**{k: rng.choice(v) for k, v in FILLER_SLOTS.items()})
        out.append(("Sam Seller" if i % 2 == 0 else "Dana Buyer", text))
    return out


def new_call(owner: User, *, title: str = "Renewal review", **fields: Any) -> Call:
    call: Call = CallFactory.create(owner=owner, team=owner.memberships.first().team, title=title, **fields)  # type: ignore[union-attr]
    return call


def planted_call(owner: User, *, planted_at: int = 117) -> Call:
    """~200 segments: filler, nine keyword-sharing distractors spread out, and the planted answer."""
    rng = random.Random(7)
    lines = filler(rng, 200)
    for n, text in enumerate(DISTRACTORS):
        lines[10 + n * 19] = ("Sam Seller" if n % 2 == 0 else "Dana Buyer", text)
    lines[planted_at] = ("Dana Buyer", PLANTED)
    return with_transcript(new_call(owner), lines)


def first_block(output: str) -> str:
    return output.split("\n\n")[0]


# --- the tool's marks and schema ---------------------------------------------------------------------------------


def test_ask_attention_is_a_read_tool_with_described_bounded_arguments() -> None:
    spec = registry.tools()["ask_attention"]
    assert spec.scope == READ
    assert (spec.admin, spec.user_required, spec.destructive) == (False, False, False)
    assert spec.definition()["annotations"]["readOnlyHint"] is True
    props = spec.input_schema["properties"]
    assert set(props) == {"prompt", "conversation_ids", "deal_id", "include_timestamps"}
    assert all(p.get("description") for p in props.values())
    assert (props["prompt"]["minLength"], props["prompt"]["maxLength"]) == (1, 2000)
    ids = next(s for s in props["conversation_ids"]["anyOf"] if s.get("type") == "array")
    assert ids["maxItems"] == 25
    assert props["include_timestamps"]["default"] is True
    result_item = spec.output_schema["$defs"]["CallAnswer"]["properties"]
    assert {"conversation_id", "output", "error", "segments"} <= set(result_item)


# --- ranking -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    [
        "What is the renewal budget?",
        "How much is their renewal budget?",
        "renewal budget amount",
        "What did the customer say the budget for the renewal is?",
    ],
)
def test_ask_attention_returns_the_passage_that_answers_a_factual_question_planted_in_a_transcript(
    world: World, prompt: str
) -> None:
    call_ = planted_call(world.a.users["rep_sales"])
    result = ok(world.a.org_key_actor, prompt=prompt, conversation_ids=[str(call_.pk)])
    [answer] = result["results"]
    assert answer["error"] is None
    assert answer["method"] == "extractive"
    # The planted fact comes first, ahead of every segment that only repeats "renewal" and "budget".
    assert answer["segments"][0]["text"] == PLANTED
    assert answer["segments"][0]["start_sec"] == 1170.0
    assert first_block(answer["output"]) == f"[19:30] Dana Buyer: {PLANTED}"
    # Supporting passages follow: lines of this transcript, quoted as said.
    said = set(TranscriptSegment.objects.filter(call=call_).values_list("text", flat=True))
    assert {s["text"] for s in answer["segments"]} <= said


def test_the_reply_to_a_question_is_returned_not_only_the_question(world: World) -> None:
    lines = filler(random.Random(3), 80)
    lines[40] = ("Sam Seller", "What renewal budget do you have for next year?")
    lines[41] = ("Dana Buyer", "Mm-hmm.")
    lines[42] = ("Dana Buyer", "Finance set aside about 48,000 euros, and it could stretch a little.")
    lines[10] = ("Sam Seller", "We will come back to the renewal budget at the end of the call.")
    lines[60] = ("Dana Buyer", "Renewal budget approvals are slow here, renewal budget talks always are.")
    call_ = with_transcript(new_call(world.a.users["rep_sales"]), lines)
    answer = ok(world.a.org_key_actor, prompt="What is the renewal budget?", conversation_ids=[str(call_.pk)])[
        "results"
    ][0]
    # The answer names neither "renewal" nor "budget", yet it is the first passage, with its question.
    assert first_block(answer["output"]).splitlines() == [
        "[06:40] Sam Seller: What renewal budget do you have for next year?",
        "[06:50] Dana Buyer: Mm-hmm.",
        "[07:00] Dana Buyer: Finance set aside about 48,000 euros, and it could stretch a little.",
    ]
    assert [s["start_sec"] for s in answer["segments"][:3]] == [400.0, 410.0, 420.0]


def test_when_questions_prefer_the_segment_with_a_date(world: World) -> None:
    lines = filler(random.Random(5), 60)
    lines[12] = ("Dana Buyer", "The decision process involves the board and our procurement decision team.")
    lines[30] = ("Dana Buyer", "We will make the final decision by March 14th.")
    lines[45] = ("Sam Seller", "Decision criteria matter, so let's write the decision criteria down.")
    call_ = with_transcript(new_call(world.a.users["rep_sales"]), lines)
    answer = ok(world.a.org_key_actor, prompt="When will they decide?", conversation_ids=[str(call_.pk)])["results"][0]
    assert answer["segments"][0]["text"] == "We will make the final decision by March 14th."


def test_a_question_with_no_matching_passage_says_so_without_an_error(world: World) -> None:
    call_ = with_transcript(new_call(world.a.users["rep_sales"]), filler(random.Random(1), 30))
    answer = ok(world.a.org_key_actor, prompt="What about the parking garage?", conversation_ids=[str(call_.pk)])[
        "results"
    ][0]
    assert answer["error"] is None
    assert answer["segments"] == []
    assert answer["output"].startswith("Nothing in this call's transcript answers the question")


def test_stemming_and_stop_words_let_word_forms_meet() -> None:
    assert stem("pricing") == stem("prices") == stem("priced") == stem("price")
    assert stem("companies") == stem("company")
    query = parse_query("What are they saying about the prices?")
    assert set(query.weights) == {"pric", "cost"}  # "cost" is a related word, at a lower weight
    assert query.weights["cost"] < query.weights["pric"]


def test_long_segments_are_cut_around_the_answer() -> None:
    from analysis.ranking import Line, select_passages

    text = "Intro chatter goes here. " * 60 + PLANTED + " And then many more unrelated words follow." * 40
    query = parse_query("What is the renewal budget?")
    passages = select_passages(query, rank_passages(query, [Line("Dana", 0, 5, text)]), budget=1600, segment_limit=300)
    [line] = passages[0].lines
    assert len(line.text) <= 300
    assert PLANTED in line.text
    assert line.text.startswith("\u2026")
    assert line.text.endswith("\u2026")


# --- arguments ---------------------------------------------------------------------------------------------------


def test_conversation_ids_and_deal_id_are_exclusive(world: World) -> None:
    before = snapshot()
    call_id = str(world.a.calls["rep_sales_public"].pk)
    deal_id = str(world.a.deals["globex"].pk)
    both = err(world.a.org_key_actor, prompt="budget?", conversation_ids=[call_id], deal_id=deal_id)
    neither = err(world.a.org_key_actor, prompt="budget?")
    for body in (both, neither):
        assert (body["error"], body["field"]) == ("invalid_argument", "conversation_ids")
    assert snapshot() == before


def test_more_than_25_ids_are_refused_and_25_are_answered(world: World) -> None:
    call_id = str(world.a.calls["rep_sales_public"].pk)
    too_many = [str(uuid.uuid4()) for _ in range(25)] + [call_id]
    body = err(world.a.org_key_actor, prompt="budget?", conversation_ids=too_many)
    assert (body["error"], body["field"]) == ("invalid_argument", "conversation_ids")
    result = ok(world.a.org_key_actor, prompt="budget?", conversation_ids=too_many[1:])
    assert len(result["results"]) == 25
    assert result["calls_total"] == 25


def test_an_empty_id_list_is_refused(world: World) -> None:
    body = err(world.a.org_key_actor, prompt="budget?", conversation_ids=[])
    assert (body["error"], body["field"]) == ("invalid_argument", "conversation_ids")


@pytest.mark.parametrize("prompt", ["", "   \n\t ", "x" * 2001, "?!?"])
def test_prompt_must_hold_words_and_at_most_2000_characters(world: World, prompt: str) -> None:
    call_id = str(world.a.calls["rep_sales_public"].pk)
    body = err(world.a.org_key_actor, prompt=prompt, conversation_ids=[call_id])
    assert (body["error"], body["field"]) == ("invalid_argument", "prompt")


def test_a_2000_character_prompt_is_answered(world: World) -> None:
    call_ = planted_call(world.a.users["rep_sales"])
    prompt = ("What is the renewal budget? " * 80)[:2000]
    answer = ok(world.a.org_key_actor, prompt=prompt, conversation_ids=[str(call_.pk)])["results"][0]
    assert answer["segments"][0]["text"] == PLANTED


def test_a_malformed_deal_id_and_unknown_arguments_are_invalid(world: World) -> None:
    body = err(world.a.org_key_actor, prompt="budget?", deal_id="not-a-uuid")
    assert (body["error"], body["field"]) == ("invalid_argument", "deal_id")
    body = err(world.a.org_key_actor, prompt="budget?", deal_id=str(world.a.deals["globex"].pk), page_size=5)
    assert (body["error"], body["field"]) == ("invalid_argument", "page_size")


def test_duplicated_ids_are_answered_once(world: World) -> None:
    call_id = world.a.calls["rep_sales_public"].pk
    result = ok(
        world.a.org_key_actor,
        prompt="transcript segment",
        conversation_ids=[str(call_id), str(call_id).upper(), f" {call_id} ", "nope", "nope"],
    )
    assert [r["conversation_id"] for r in result["results"]] == [str(call_id), "nope"]
    assert result["calls_total"] == 2


# --- per-call errors and visibility ------------------------------------------------------------------------------


def test_per_call_problems_go_in_that_calls_error_and_the_others_are_answered(
    world: World, actor_for: ActorFor
) -> None:
    rep = world.a.users["rep_sales"]
    empty = new_call(rep, title="No transcript yet")
    a, b = world.a.calls, world.b.calls
    asked = [
        str(a["rep_sales_public"].pk),  # own call
        "not-a-uuid",  # malformed
        str(uuid.uuid4()),  # missing
        str(b["rep_sales_public"].pk),  # the mirrored org's call
        str(a["private_owner_private"].pk),  # a teammate's private call
        str(a["outsider_rep_public"].pk),  # a call of a team rep_sales is not in
        str(empty.pk),  # empty transcript
        str(a["rep_sales_archived"].pk),  # archived: still visible by id
        str(a["listener_public"].pk),  # a teammate's public call
    ]
    before = snapshot()
    result = ok(actor_for(rep), prompt="Transcript segment?", conversation_ids=asked)
    assert snapshot() == before
    got = [(r["conversation_id"], r["error"]) for r in result["results"]]
    assert got == [
        (asked[0], None),
        (asked[1], "not_found"),
        (asked[2], "not_found"),
        (asked[3], "not_found"),
        (asked[4], "not_found"),
        (asked[5], "not_found"),
        (asked[6], "empty_transcript"),
        (asked[7], None),
        (asked[8], None),
    ]
    missing = [r for r in result["results"] if r["error"] == "not_found"]
    # Whatever the reason, a call that is not visible looks exactly like one that does not exist.
    assert {json.dumps({**r, "conversation_id": ""}, sort_keys=True) for r in missing} == {
        json.dumps(
            {
                "conversation_id": "",
                "title": None,
                "started_at": None,
                "output": None,
                "error": "not_found",
                "error_message": "No call with this id is visible to you.",
                "method": None,
                "transcript_truncated": False,
                "segments": [],
            },
            sort_keys=True,
        )
    }
    by_id = {r["conversation_id"]: r for r in result["results"]}
    assert by_id[asked[6]]["title"] == "No transcript yet"
    assert by_id[asked[7]]["title"] == "rep_sales archived call"
    assert by_id[asked[0]]["segments"]
    assert by_id[asked[0]]["output"]


def test_visibility_follows_the_callers_reach(world: World, actor_for: ActorFor) -> None:
    a = world.a.calls
    asked = [str(a[name].pk) for name in ("private_owner_private", "outsider_rep_public", "rep_emea_public")]

    def answered(actor: Actor) -> list[bool]:
        return [r["error"] is None for r in ok(actor, prompt="segment", conversation_ids=asked)["results"]]

    assert answered(actor_for(world.a.users["admin"])) == [True, True, True]
    assert answered(world.a.org_key_actor) == [True, True, True]
    assert answered(actor_for(world.a.users["manager"])) == [False, False, True]  # EMEA is a sub-team of Sales
    assert answered(actor_for(world.a.users["internal_participant"])) == [True, True, False]
    assert answered(actor_for(world.a.users["rep_sales"])) == [False, False, False]
    assert answered(world.b.org_key_actor) == [False, False, False]


def test_a_deactivated_user_sees_nothing(world: World, actor_for: ActorFor) -> None:
    user = world.a.users["deactivated"]
    # The Actor a token issued before the deactivation would still carry.
    actor = Actor(
        org_id=world.a.org.pk, user_id=user.pk, roles=frozenset({"sales_rep"}), scopes=frozenset({READ}), via="oauth"
    )
    result = ok(actor, prompt="segment", conversation_ids=[str(world.a.calls["deactivated_public"].pk)])
    assert result["results"][0]["error"] == "not_found"


def test_read_scope_is_required_and_enough(world: World, actor_for: ActorFor) -> None:
    rep = world.a.users["rep_sales"]
    full = actor_for(rep)
    call_id = str(world.a.calls["rep_sales_public"].pk)
    write_only = Actor(
        org_id=full.org_id, user_id=full.user_id, roles=full.roles, scopes=frozenset({WRITE}), via="oauth"
    )
    body = err(write_only, prompt="segment", conversation_ids=[call_id])
    assert (body["error"], body["required_scope"]) == ("insufficient_scope", READ)
    read_only = Actor(org_id=full.org_id, user_id=full.user_id, roles=full.roles, scopes=frozenset({READ}), via="oauth")
    assert ok(read_only, prompt="segment", conversation_ids=[call_id])["results"][0]["error"] is None


# --- the deal path -----------------------------------------------------------------------------------------------


def test_a_deal_answers_its_calls_the_caller_can_see_most_recent_first(world: World, actor_for: ActorFor) -> None:
    deal = world.a.deals["globex"]
    a = world.a.calls
    archived = a["rep_sales_archived"]
    archived.deal = deal
    archived.save()
    admin = ok(actor_for(world.a.users["admin"]), prompt="segment", deal_id=str(deal.pk))
    expected = sorted([a["rep_sales_public"], a["private_owner_private"]], key=lambda c: c.started_at, reverse=True)
    # Archived calls of the deal are left out, as search leaves them out.
    assert [r["conversation_id"] for r in admin["results"]] == [str(c.pk) for c in expected]
    assert (admin["deal_id"], admin["calls_total"], admin["calls_omitted"], admin["note"]) == (
        str(deal.pk),
        2,
        0,
        None,
    )
    rep = ok(actor_for(world.a.users["rep_sales"]), prompt="segment", deal_id=str(deal.pk))
    assert [r["conversation_id"] for r in rep["results"]] == [str(a["rep_sales_public"].pk)]
    assert rep["calls_total"] == 1


def test_a_deal_of_another_org_or_unknown_is_not_found(world: World) -> None:
    before = snapshot()
    for deal_id in (world.b.deals["globex"].pk, uuid.uuid4()):
        body = err(world.a.org_key_actor, prompt="segment", deal_id=str(deal_id))
        assert body["error"] == "not_found"
    assert snapshot() == before


def test_a_deal_without_visible_calls_says_so(world: World, actor_for: ActorFor) -> None:
    result = ok(actor_for(world.a.users["outsider_rep"]), prompt="segment", deal_id=str(world.a.deals["globex"].pk))
    assert result["results"] == []
    assert result["note"] == "The deal has no calls visible to you."


def test_a_deal_with_more_than_25_calls_takes_the_25_most_recent_and_says_so(world: World) -> None:
    owner = world.a.users["rep_sales"]
    deal = DealFactory.create(org=world.a.org, name="Big deal")
    calls = [
        new_call(owner, title=f"Deal call {i}", deal=deal, started_at=BASE_TIME + timedelta(days=i)) for i in range(27)
    ]
    for c in calls:
        with_transcript(c, [("Sam Seller", "The renewal budget is 48,000 euros.")])
    result = ok(world.a.org_key_actor, prompt="renewal budget", deal_id=str(deal.pk))
    newest_first = [str(c.pk) for c in reversed(calls)]
    assert [r["conversation_id"] for r in result["results"]] == newest_first[:25]
    assert (result["calls_total"], result["calls_omitted"]) == (27, 2)
    assert result["note"]
    assert "25 most recent" in result["note"]


# --- output shape and size ---------------------------------------------------------------------------------------


def test_timestamps_can_be_left_out(world: World) -> None:
    call_ = planted_call(world.a.users["rep_sales"])
    on = ok(world.a.org_key_actor, prompt="What is the renewal budget?", conversation_ids=[str(call_.pk)])
    off = ok(
        world.a.org_key_actor,
        prompt="What is the renewal budget?",
        conversation_ids=[str(call_.pk)],
        include_timestamps=False,
    )
    with_ts, without = on["results"][0], off["results"][0]
    assert re.match(r"^\[\d\d:\d\d\] Dana Buyer: ", with_ts["output"])
    assert all(s["start_sec"] is not None and s["end_sec"] is not None for s in with_ts["segments"])
    assert first_block(without["output"]) == f"Dana Buyer: {PLANTED}"
    assert not re.search(r"\[\d+:\d\d", without["output"])
    assert all(s["start_sec"] is None and s["end_sec"] is None for s in without["segments"])
    assert [s["text"] for s in without["segments"]] == [s["text"] for s in with_ts["segments"]]


def test_hours_long_calls_show_hours_in_timestamps(world: World) -> None:
    lines = filler(random.Random(2), 400)
    lines[390] = ("Dana Buyer", PLANTED)
    call_ = with_transcript(new_call(world.a.users["rep_sales"]), lines, step=12.0)
    answer = ok(world.a.org_key_actor, prompt="renewal budget?", conversation_ids=[str(call_.pk)])["results"][0]
    assert first_block(answer["output"]) == f"[1:18:00] Dana Buyer: {PLANTED}"


def test_the_whole_result_stays_well_under_100k_characters(world: World) -> None:
    owner = world.a.users["rep_sales"]
    monologue = " ".join(f"The renewal budget point number {i} is about {i * 1000} euros per seat." for i in range(40))
    ids = []
    for i in range(25):
        c = new_call(owner, title="T" * 500, started_at=BASE_TIME + timedelta(days=i))
        with_transcript(c, [("S" * 200 if n % 2 else "Dana Buyer", monologue) for n in range(40)])
        ids.append(str(c.pk))
    result = call(world.a.org_key_actor, prompt="What is the renewal budget per seat?", conversation_ids=ids)
    assert result["isError"] is False
    text = result["content"][0]["text"]
    assert len(text) < 70_000
    for answer in result["structuredContent"]["results"]:
        assert answer["output"]
        assert answer["segments"]
        assert len(answer["title"]) == 200
        assert all(len(s["text"]) <= 600 for s in answer["segments"])
    # One call alone gets more room, still bounded.
    single = call(world.a.org_key_actor, prompt="What is the renewal budget per seat?", conversation_ids=ids[:1])
    assert len(single["content"][0]["text"]) < 12_000


def test_only_the_first_segments_of_a_very_long_transcript_are_read(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "MAX_SEGMENTS_PER_CALL", 50)
    early = ("Dana Buyer", "The renewal budget for the pilot was 9,000 euros.")
    lines = filler(random.Random(4), 120)
    lines[20] = early
    lines[80] = ("Dana Buyer", PLANTED)
    long_call = with_transcript(new_call(world.a.users["rep_sales"]), lines)
    short_call = planted_call(world.a.users["rep_sales"], planted_at=30)
    result = ok(
        world.a.org_key_actor, prompt="renewal budget?", conversation_ids=[str(long_call.pk), str(short_call.pk)]
    )
    long_answer, short_answer = result["results"]
    assert long_answer["transcript_truncated"] is True
    assert long_answer["segments"][0]["text"] == early[1]
    assert PLANTED not in long_answer["output"]
    assert short_answer["transcript_truncated"] is True  # 200 segments, more than 50
    assert short_answer["segments"][0]["text"] == PLANTED


def test_asking_25_calls_costs_a_fixed_number_of_queries(world: World) -> None:
    owner = world.a.users["rep_sales"]
    ids = []
    for i in range(25):
        c = new_call(owner, started_at=BASE_TIME + timedelta(days=i))
        with_transcript(c, [*filler(random.Random(i), 30), ("Dana Buyer", PLANTED)])
        ids.append(str(c.pk))
    registry.tools()
    with CaptureQueriesContext(connection) as queries:
        result = ok(world.a.org_key_actor, prompt="renewal budget?", conversation_ids=ids)
    assert all(r["segments"][0]["text"] == PLANTED for r in result["results"])
    assert len(queries) == 2  # the visible calls, then all their segments


# --- backends ----------------------------------------------------------------------------------------------------


def test_the_language_model_is_used_only_when_the_settings_hold_a_key(settings: Any) -> None:
    settings.ANTHROPIC_API_KEY = ""
    assert isinstance(default_answerer(), ExtractiveAnswerer)
    settings.ANTHROPIC_API_KEY = "   "
    assert isinstance(default_answerer(), ExtractiveAnswerer)
    settings.ANTHROPIC_API_KEY = "sk-from-settings"
    assert isinstance(default_answerer(), AnthropicAnswerer)


@pytest.fixture
def anthropic_calls() -> list[httpx.Request]:
    return []


def fake_anthropic(
    seen: list[httpx.Request], respond: Callable[[httpx.Request], httpx.Response]
) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return respond(request)

    return httpx.MockTransport(handler)


def test_the_anthropic_answerer_sends_the_top_passages_and_returns_the_models_answer(
    world: World, anthropic_calls: list[httpx.Request]
) -> None:
    call_ = planted_call(world.a.users["rep_sales"])
    transport = fake_anthropic(
        anthropic_calls,
        lambda _: httpx.Response(
            200, json={"content": [{"type": "text", "text": "The renewal budget is 48,000 euros [19:30]."}]}
        ),
    )
    answerer = AnthropicAnswerer(api_key="sk-test-key", model="claude-test", transport=transport)
    result = calls_ask(
        actor=world.a.org_key_actor,
        prompt="What is the renewal budget?",
        conversation_ids=[str(call_.pk)],
        answerer=answerer,
    )
    [answer] = result.results
    assert (answer.output, answer.method) == ("The renewal budget is 48,000 euros [19:30].", "language_model")
    assert answer.segments[0].text == PLANTED
    [request] = anthropic_calls
    assert (request.method, str(request.url)) == ("POST", ANTHROPIC_URL)
    assert request.headers["x-api-key"] == "sk-test-key"
    assert request.headers["anthropic-version"] == ANTHROPIC_VERSION
    body = json.loads(request.content)
    assert body["model"] == "claude-test"
    assert body["max_tokens"] > 0
    assert "only the transcript passages" in body["system"]
    [message] = body["messages"]
    assert message["role"] == "user"
    assert f"[19:30] Dana Buyer: {PLANTED}" in message["content"]
    assert "Question: What is the renewal budget?" in message["content"]
    assert "Renewal review" in message["content"]


@pytest.mark.parametrize(
    "respond",
    [
        lambda _: httpx.Response(500, json={"type": "error"}),
        lambda _: httpx.Response(200, content=b"not json"),
        lambda _: httpx.Response(200, json={"content": []}),
        lambda _: httpx.Response(200, json=["unexpected"]),
    ],
    ids=["server-error", "not-json", "no-text", "wrong-shape"],
)
def test_any_failure_of_the_language_model_falls_back_to_the_extractive_answer(
    world: World, anthropic_calls: list[httpx.Request], respond: Callable[[httpx.Request], httpx.Response]
) -> None:
    call_ = planted_call(world.a.users["rep_sales"])
    answerer = AnthropicAnswerer(api_key="sk-test-key", transport=fake_anthropic(anthropic_calls, respond))
    [answer] = calls_ask(
        actor=world.a.org_key_actor, prompt="renewal budget?", conversation_ids=[str(call_.pk)], answerer=answerer
    ).results
    assert answer.method == "extractive"
    assert answer.output
    assert first_block(answer.output) == f"[19:30] Dana Buyer: {PLANTED}"
    assert len(anthropic_calls) == 1


def test_a_timeout_falls_back_and_the_deadline_stops_further_requests(
    world: World, anthropic_calls: list[httpx.Request]
) -> None:
    calls = [planted_call(world.a.users["rep_sales"]) for _ in range(2)]

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    answerer = AnthropicAnswerer(api_key="k", transport=fake_anthropic(anthropic_calls, timeout))
    ids = [str(c.pk) for c in calls]
    answers = calls_ask(actor=world.a.org_key_actor, prompt="renewal budget?", conversation_ids=ids, answerer=answerer)
    assert [a.method for a in answers.results] == ["extractive", "extractive"]
    assert len(anthropic_calls) == 2
    spent = AnthropicAnswerer(api_key="k", transport=fake_anthropic(anthropic_calls, timeout), deadline_s=0)
    calls_ask(actor=world.a.org_key_actor, prompt="renewal budget?", conversation_ids=ids, answerer=spent)
    assert len(anthropic_calls) == 2


def test_without_timestamps_the_model_is_told_not_to_cite_them(
    world: World, anthropic_calls: list[httpx.Request]
) -> None:
    call_ = planted_call(world.a.users["rep_sales"])
    transport = fake_anthropic(
        anthropic_calls, lambda _: httpx.Response(200, json={"content": [{"type": "text", "text": "48,000 euros."}]})
    )
    answerer = AnthropicAnswerer(api_key="k", transport=transport)
    [answer] = calls_ask(
        actor=world.a.org_key_actor,
        prompt="renewal budget?",
        conversation_ids=[str(call_.pk)],
        include_timestamps=False,
        answerer=answerer,
    ).results
    assert answer.segments[0].start_sec is None
    assert "Do not mention timestamps." in json.loads(anthropic_calls[0].content)["messages"][0]["content"]


# --- the demo data -----------------------------------------------------------------------------------------------


@pytest.fixture
def demo_org(settings: Any, tmp_path: Any) -> Organization:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.VAR_DIR = tmp_path
    call_command(
        "seed_demo", "--org-name", "Demo Corp", "--calls", "8", "--password", "demo-pass-123", stdout=io.StringIO()
    )
    return Organization.objects.get(slug="demo-corp")


def test_demo_transcripts_answer_a_budget_question(demo_org: Organization) -> None:
    # Discovery calls state a budget; their summary repeats it ("about $X budgeted").
    insight = Insight.objects.filter(call__org=demo_org, summary__contains=" budgeted for ").first()
    assert insight is not None
    budget = re.search(r"about (\$[\d,]+) budgeted", insight.summary)
    assert budget is not None
    actor = Actor.org_wide(demo_org.pk, via="org_key")
    answer = ok(actor, prompt="What budget do they have?", conversation_ids=[str(insight.call_id)])["results"][0]
    assert answer["error"] is None
    assert budget.group(1) in first_block(answer["output"])


def test_demo_transcripts_answer_a_question_about_a_deal(demo_org: Organization) -> None:
    deal = Deal.objects.filter(org=demo_org, calls__isnull=False, calls__archived=False).first()
    assert deal is not None
    actor = Actor.org_wide(demo_org.pk, via="org_key")
    result = ok(actor, prompt="Which competitors came up?", deal_id=str(deal.pk))
    assert result["results"]
    assert all(r["error"] is None and r["output"] for r in result["results"])
