"""search_calls on the demo data `make run` seeds (`seed_demo`, calls/demo_data.py): realistic transcripts with
fictional competitors, checked against what the rows themselves say.

Each test seeds its own small demo organisation ("Acme", 60 calls) and searches it with the org-level key
(admin reach), or as a sales rep. Expected sets are computed from titles and transcripts with plain
Python, independently of the search code.
"""

from __future__ import annotations

import io
import re
import uuid
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command

from accounts.models import Organization, RoleType, User
from accounts.permissions import ALL_SCOPES, Actor
from accounts.selectors import actor_for_user
from calls import demo_data as dd
from calls import search as search_module
from calls.models import Call, CallLabel, TranscriptSegment
from calls.selectors import calls_visible_to
from mcpgateway import registry

pytestmark = pytest.mark.django_db

SINGLE_WORD_COMPETITORS = [c for c in dd.COMPETITORS if re.fullmatch(r"\w+", c)]


@pytest.fixture(autouse=True)
def _fast_hash_and_private_var_dir(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.VAR_DIR = tmp_path


class Demo:
    """The seeded organisation, its calls' text, and what plain Python finds in it."""

    def __init__(self) -> None:
        call_command("seed_demo", "--calls", "60", "--password", "demo-pass-123", stdout=io.StringIO())
        self.org = Organization.objects.get(slug="acme")
        self.key = Actor.org_wide(self.org.pk, via="org_key")
        self.calls = {c.pk: c for c in Call.objects.filter(org=self.org)}
        self.segments: dict[Any, list[TranscriptSegment]] = defaultdict(list)
        for seg in TranscriptSegment.objects.filter(call__org=self.org).order_by("call_id", "position"):
            self.segments[seg.call_id].append(seg)

    def live(self) -> set[str]:
        return {str(pk) for pk, c in self.calls.items() if not c.archived}

    def mentions(self, pattern: str) -> Counter[str]:
        """Calls (not archived) whose title or transcript matches `pattern`, with the transcript's count."""
        rx = re.compile(pattern, re.IGNORECASE)
        found: Counter[str] = Counter()
        for pk, call in self.calls.items():
            if call.archived:
                continue
            count = sum(len(rx.findall(s.text)) for s in self.segments[pk])
            if count or rx.search(call.title):
                found[str(pk)] = count
        return found

    def in_title(self, call_id: str, pattern: str) -> bool:
        return re.search(pattern, self.calls[_uuid(call_id)].title, re.IGNORECASE) is not None

    def busiest_competitor(self) -> str:
        return max(SINGLE_WORD_COMPETITORS, key=lambda name: len(self.mentions(rf"\b{name}\b")))


def _uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)


@pytest.fixture
def demo() -> Demo:
    return Demo()


def search(actor: Actor, **args: Any) -> dict[str, Any]:
    result = registry.call_tool(registry.tools()["search_calls"], actor, args)
    assert result["isError"] is False, result
    page: dict[str, Any] = result["structuredContent"]
    return page


def every_page(actor: Actor, between: Any = None, **args: Any) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    cursor = None
    for n in range(100):
        page = search(actor, **args, **({"cursor": cursor} if cursor else {}))
        calls += page["calls"]
        cursor = page["next_cursor"]
        if cursor is None:
            return calls
        if between is not None:
            between(n)
    raise AssertionError("too many pages")


def test_a_competitor_query_finds_the_calls_that_discuss_it_those_that_discuss_it_most_first(demo: Demo) -> None:
    name = demo.busiest_competitor()
    pattern = rf"\b{name}\b"
    expected = demo.mentions(pattern)
    assert len(expected) >= 3, "the demo data should mention its busiest competitor on a few calls"
    found = [c["id"] for c in search(demo.key, query=name, page_size=50)["calls"]]
    assert set(found) == set(expected)  # every call that mentions it, and no other
    # A title that names it first; then more mentions before fewer.
    titled = [demo.in_title(i, pattern) for i in found]
    assert titled == sorted(titled, reverse=True)
    untitled = [expected[i] for i in found if not demo.in_title(i, pattern)]
    assert untitled == sorted(untitled, reverse=True)
    # Newest first on request, same calls.
    by_date = search(demo.key, query=name, page_size=50, sort="date_desc")["calls"]
    assert {c["id"] for c in by_date} == set(expected)
    assert [c["started_at"] for c in by_date] == sorted((c["started_at"] for c in by_date), reverse=True)


def test_matches_quote_the_passages_with_their_timestamps_and_speakers(demo: Demo) -> None:
    name = demo.busiest_competitor()
    page = search(demo.key, query=name, page_size=50)
    assert any(c["matches"] for c in page["calls"])
    for call in page["calls"]:
        segments = demo.segments[_uuid(call["id"])]
        assert len(call["matches"]) <= 3
        for match in call["matches"]:
            assert re.search(rf"\*\*{name}", match["text"], re.IGNORECASE), match
            (segment,) = [s for s in segments if s.start_s == match["start_s"]]
            assert segment.speaker == match["speaker"]
            assert name.lower() in segment.text.lower()
            assert match["text"].replace("**", "") in segment.text or "…" in match["text"]
        starts = [m["start_s"] for m in call["matches"]]
        assert starts == sorted(starts)


def test_phrases_and_exclusions(demo: Demo) -> None:
    phrase = demo.mentions(r"security review")
    found = {c["id"] for c in every_page(demo.key, query='"security review"', page_size=50)}
    assert found == set(phrase)
    assert found, "the demo transcripts talk about security reviews"

    name = demo.busiest_competitor()
    pricing = {c["id"] for c in every_page(demo.key, query=f"pricing -{name}", page_size=50)}
    assert pricing == set(demo.mentions(r"\bpric(e|es|ed|ing)\b")) - set(demo.mentions(rf"\b{name}\b"))
    assert pricing


def test_filters_combine_with_the_text_query(demo: Demo) -> None:
    name = demo.busiest_competitor()
    expected = demo.mentions(rf"\b{name}\b")
    anchor = max(c.started_at for c in demo.calls.values())
    since = (anchor - timedelta(days=45)).date().isoformat()
    page = search(
        demo.key,
        query=name,
        labels={"Competitor Mentioned": "Yes"},
        hide_internal=True,
        from_date=since,
        page_size=50,
    )
    said_yes = {
        str(pk)
        for pk in CallLabel.objects.filter(
            call__org=demo.org, category__name="Competitor Mentioned", option__value="Yes"
        ).values_list("call_id", flat=True)
    }
    want = {
        i
        for i in expected
        if not demo.calls[_uuid(i)].is_internal and demo.calls[_uuid(i)].started_at.date().isoformat() >= since
    } & said_yes
    assert {c["id"] for c in page["calls"]} == want
    assert all(c["labels"]["Competitor Mentioned"] == "Yes" for c in page["calls"])


def test_paging_stays_consistent_when_a_matching_call_arrives_between_pages(demo: Demo) -> None:
    name = demo.busiest_competitor()
    expected = set(demo.mentions(rf"\b{name}\b"))
    owner = next(c.owner for c in demo.calls.values())
    arrived: list[str] = []

    def arrive(n: int) -> None:
        call = Call.objects.create(
            org=demo.org,
            owner=owner,
            title=f"{name} escalation {n}",
            started_at=max(c.started_at for c in demo.calls.values()),
        )
        TranscriptSegment.objects.create(call=call, position=0, speaker="Casey", start_s=0, end_s=5, text=f"{name}!")
        arrived.append(str(call.pk))

    seen = [c["id"] for c in every_page(demo.key, between=arrive, query=name, page_size=2)]
    assert len(seen) == len(set(seen))
    assert expected <= set(seen)
    assert set(seen) <= expected | set(arrived)


def test_a_rep_finds_only_calls_they_may_see(demo: Demo) -> None:
    name = demo.busiest_competitor()
    reps = User.objects.filter(org=demo.org, roles__type=RoleType.SALES_REP, deactivated_at__isnull=True)
    checked_private = False
    for rep in reps:
        actor = actor_for_user(user=rep, via="oauth", scopes=ALL_SCOPES)
        visible = {str(pk) for pk in calls_visible_to(actor=actor).values_list("pk", flat=True)}
        found = {c["id"] for c in every_page(actor, query=name, page_size=50)}
        assert found == set(demo.mentions(rf"\b{name}\b")) & visible
        privates = {str(pk) for pk, c in demo.calls.items() if c.private and c.owner_id != rep.pk}
        words = {_searchable_word(demo.calls[_uuid(p)].title) for p in privates}
        for title_word in words - {None}:
            hits = {c["id"] for c in every_page(actor, query=title_word, page_size=50)}
            assert not (hits & privates) - visible
            checked_private = True
    assert checked_private


def _searchable_word(title: str) -> str | None:
    words: list[str] = re.findall(r"[A-Za-z]{4,}", title)
    return next((w for w in words if w.lower() not in search_module.STOP_WORDS), None)
