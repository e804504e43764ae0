"""`manage.py seed_demo`: determinism, idempotence, the shape of the data, and isolation of the second org."""

from __future__ import annotations

import io
import random
import stat
from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership, Organization, RoleType, SeatType, Team, User
from calls import demo_data as dd
from calls.models import (
    Affiliation,
    Call,
    CallLabel,
    Deal,
    ForecastCategory,
    Insight,
    LabelCategory,
    Participant,
    Scorecard,
    ScorecardItemScore,
    ScorecardResult,
    Snippet,
    SuperAgentMessage,
    SuperAgentSession,
    TranscriptSegment,
)

pytestmark = pytest.mark.django_db

PASSWORD = "demo-pass-123"
CALLS = 30
MODELS = (
    Organization, User, Team, Membership, Deal, Call, Participant, TranscriptSegment, Insight, LabelCategory,
    CallLabel, Scorecard, ScorecardResult, ScorecardItemScore, Snippet, ForecastCategory, SuperAgentSession,
    SuperAgentMessage,
)  # fmt: skip


@pytest.fixture(autouse=True)
def _fast_hash_and_private_var_dir(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.VAR_DIR = tmp_path


def seed(*args: str, password: str | None = PASSWORD, calls: int = CALLS) -> str:
    argv = ["--calls", str(calls), *args]
    if password is not None:
        argv += ["--password", password]
    out = io.StringIO()
    call_command("seed_demo", *argv, stdout=out)
    return out.getvalue()


@pytest.fixture
def seeded() -> str:
    return seed()


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


def snapshot(slug: str) -> dict[str, Any]:
    """Everything about an org's content that must repeat with the seed (not its timestamps)."""
    calls = Call.objects.filter(org__slug=slug)
    segments: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for row in (
        TranscriptSegment.objects.filter(call__in=calls)
        .order_by("call_id", "position")
        .values_list("call_id", "speaker", "start_s", "end_s", "text")
    ):
        segments[str(row[0])].append(row[1:])
    return {
        "users": sorted(User.objects.filter(org__slug=slug).values_list("id", "email", "first_name", "seat_type")),
        "deals": sorted(Deal.objects.filter(org__slug=slug).values_list("id", "name", "stage", "amount", "crm_id")),
        "calls": sorted(
            calls.values_list("id", "title", "duration_s", "private", "archived", "is_internal", "deal_id", "owner_id")
        ),
        "participants": sorted(
            Participant.objects.filter(call__in=calls).values_list("id", "call_id", "name", "email", "affiliation")
        ),
        "segments": dict(segments),
        "insights": sorted(Insight.objects.filter(call__in=calls).values_list("call_id", "summary", "action_items")),
        "labels": sorted(CallLabel.objects.filter(call__in=calls).values_list("call_id", "option__value")),
        "scores": sorted(
            ScorecardItemScore.objects.filter(result__call__in=calls).values_list("result_id", "item_id", "score")
        ),
        "snippets": sorted(Snippet.objects.filter(call__in=calls).values_list("id", "share_code", "start_s", "end_s")),
    }


# --- determinism and idempotence ---------------------------------------------------------------


def test_same_seed_gives_identical_data():
    with transaction.atomic():
        seed()
        first = {slug: snapshot(slug) for slug in ("acme", "globex")}
        transaction.set_rollback(True)
    assert not Organization.objects.exists()

    seed()

    second = {slug: snapshot(slug) for slug in ("acme", "globex")}
    assert len(first["acme"]["calls"]) == CALLS
    assert first == second


def test_content_does_not_depend_on_the_day_it_is_seeded(monkeypatch):
    with transaction.atomic():
        seed()
        today = snapshot("acme")
        transaction.set_rollback(True)
    later = timezone.now() + timedelta(days=3, hours=5)
    monkeypatch.setattr(timezone, "now", lambda: later)

    seed()

    assert snapshot("acme") == today


def test_another_seed_gives_other_data():
    with transaction.atomic():
        seed("--seed", "1")
        first = snapshot("acme")
        transaction.set_rollback(True)

    seed("--seed", "2")

    second = snapshot("acme")
    assert {c[0] for c in first["calls"]}.isdisjoint(c[0] for c in second["calls"])
    assert [c[1] for c in first["calls"]] != [c[1] for c in second["calls"]]
    first_texts = {seg[3] for segs in first["segments"].values() for seg in segs}
    second_texts = {seg[3] for segs in second["segments"].values() for seg in segs}
    assert first_texts != second_texts


def test_second_run_creates_nothing_and_reprints_the_login(seeded):
    before = counts()

    out = seed()

    assert counts() == before
    assert "'acme' already exists" in out
    assert "'globex' already exists" in out
    assert out.strip().splitlines()[-1] == f"Admin login: admin@acme.example / {PASSWORD}"


def test_if_empty_does_nothing_once_any_org_exists(seeded):
    before = counts()

    out = seed("--if-empty", calls=50)

    assert counts() == before
    assert len(out.strip().splitlines()) == 1


def test_if_empty_seeds_an_empty_database():
    out = seed("--if-empty")

    assert Call.objects.filter(org__slug="acme").count() == CALLS
    assert f"Admin login: admin@acme.example / {PASSWORD}" in out


def test_password_is_generated_once_kept_private_and_reused(settings):
    out = seed(password=None)

    path = settings.VAR_DIR / "demo_admin_password"
    password = path.read_text().strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"Admin login: admin@acme.example / {password}" in out
    assert authenticate(email="admin@acme.example", password=password) is not None
    # Every demo user shares it.
    rep = User.objects.filter(org__slug="acme", roles__type=RoleType.SALES_REP, deactivated_at__isnull=True).first()
    assert rep is not None
    assert rep.check_password(password)

    again = seed(password=None)

    assert again.strip().splitlines()[-1] == f"Admin login: admin@acme.example / {password}"


def test_rerun_with_another_password_says_it_does_not_match(seeded):
    out = seed(password="something-else")

    assert "not 'something-else'" in out.strip().splitlines()[-1]
    assert User.objects.get(email="admin@acme.example").check_password(PASSWORD)


# --- organisations, teams, users -----------------------------------------------------------------


def test_teams_are_nested_prefixed_and_have_materialised_paths(seeded):
    org = Organization.objects.get(slug="acme")
    teams = {t.name: t for t in Team.objects.filter(org=org)}

    assert set(teams) == {
        "[Acme] Sales",
        "[Acme] EMEA",
        "[Acme] DACH",
        "[Acme] North America",
        "[Acme] Customer Success",
    }
    assert teams["[Acme] EMEA"].parent == teams["[Acme] Sales"]
    assert teams["[Acme] North America"].parent == teams["[Acme] Sales"]
    assert teams["[Acme] DACH"].parent == teams["[Acme] EMEA"]
    assert teams["[Acme] Customer Success"].parent is None
    for team in teams.values():
        parent_path = team.parent.path if team.parent else "/"
        assert team.path == f"{parent_path}{team.pk.hex}/"


def test_users_roles_seats_and_memberships(seeded):
    org = Organization.objects.get(slug="acme")
    users = list(User.objects.filter(org=org).prefetch_related("roles", "memberships"))

    assert 18 <= len(users) <= 22
    assert org.email_domains == ["acme.example"]
    assert all(u.email.endswith("@acme.example") for u in users)
    roles = Counter(r.type for u in users for r in u.roles.all())
    assert roles[RoleType.ADMIN] == 1
    assert 2 <= roles[RoleType.MANAGER] <= 3
    assert roles[RoleType.SALES_REP] >= 12
    assert any(u.seat_type == SeatType.LISTENER for u in users)
    assert sum(1 for u in users if u.deactivated_at is not None) == 1
    admin = User.objects.get(email="admin@acme.example")
    assert admin.is_staff
    assert admin.is_superuser
    assert admin.is_active
    assert authenticate(email="admin@acme.example", password=PASSWORD) == admin
    for user in users:
        memberships = list(user.memberships.all())
        assert memberships, user.email
        assert sum(m.primary for m in memberships) == 1, user.email
    assert any(len(u.memberships.all()) > 1 for u in users)


def test_forecast_categories_and_agent_session(seeded):
    org = Organization.objects.get(slug="acme")
    kinds = Counter(ForecastCategory.objects.filter(org=org).values_list("column_type", flat=True))
    assert kinds == {"system": 3, "call": 1}
    session = SuperAgentSession.objects.get(org=org)
    assert session.user.email == "admin@acme.example"
    roles = list(session.messages.order_by("created_at").values_list("role", flat=True))
    assert roles[:2] == ["user", "assistant"]
    assert len(roles) >= 2


# --- calls ------------------------------------------------------------------------------------------


def test_call_flags_owners_and_teams(seeded):
    org = Organization.objects.get(slug="acme")
    calls = list(Call.objects.filter(org=org).select_related("owner"))

    assert len(calls) == CALLS
    assert any(c.private for c in calls)
    assert any(c.archived for c in calls)
    assert any(c.is_internal for c in calls)
    assert any(not c.is_internal for c in calls)
    assert any(c.deal_id for c in calls)
    assert all(not (c.is_internal and c.deal_id) for c in calls)
    primary = dict(Membership.objects.filter(team__org=org, primary=True).values_list("user_id", "team_id"))
    for call in calls:
        assert call.owner.org_id == org.pk
        assert call.owner.seat_type == SeatType.RECORDING
        assert call.team_id == primary[call.owner_id]
        assert call.media_url == "" or call.media_url.startswith("https://media.example/")


def test_calls_fall_on_weekdays_in_the_last_90_days(seeded):
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    for call in Call.objects.select_related("owner"):
        assert midnight - timedelta(days=90) <= call.started_at < midnight
        assert call.started_at.weekday() < 5
        if call.owner.deactivated_at is not None:
            assert call.started_at < call.owner.deactivated_at


def test_participants_match_internal_and_external_calls(seeded):
    org = Organization.objects.get(slug="acme")
    by_call: dict[Any, list[Participant]] = defaultdict(list)
    for p in Participant.objects.filter(call__org=org).select_related("user"):
        by_call[p.call_id].append(p)

    for call in Call.objects.filter(org=org):
        people = by_call[call.pk]
        organizers = [p for p in people if p.organizer]
        assert len(organizers) == 1
        assert organizers[0].user_id == call.owner_id
        internal = [p for p in people if p.affiliation == Affiliation.INTERNAL]
        external = [p for p in people if p.affiliation == Affiliation.EXTERNAL]
        for p in internal:
            assert p.user is not None
            assert p.user.org_id == org.pk
            assert org.is_internal_email(p.email)
        for p in external:
            assert p.user_id is None
            assert not org.is_internal_email(p.email)
        if call.is_internal:
            assert not external
            assert len(internal) >= 2
        else:
            assert 1 <= len(external) <= 4


def test_segments_are_ordered_and_fit_the_duration(seeded):
    by_call: dict[Any, list[tuple[int, float, float]]] = defaultdict(list)
    for row in TranscriptSegment.objects.order_by("call_id", "position").values_list(
        "call_id", "position", "start_s", "end_s"
    ):
        by_call[row[0]].append(row[1:])
    durations = dict(Call.objects.values_list("id", "duration_s"))

    for call_id, rows in by_call.items():
        assert 20 <= len(rows) <= 80
        assert [r[0] for r in rows] == list(range(len(rows)))
        assert all(0 <= start < end for _, start, end in rows)
        assert all(rows[i][2] <= rows[i + 1][1] for i in range(len(rows) - 1))
        assert rows[-1][2] <= durations[call_id] <= rows[-1][2] + 60
    assert set(by_call) == set(durations)


def test_transcripts_are_varied(seeded):
    texts: dict[Any, list[str]] = defaultdict(list)
    for call_id, text in TranscriptSegment.objects.order_by("call_id", "position").values_list("call_id", "text"):
        texts[call_id].append(text)
    full = ["\n".join(t) for t in texts.values()]

    assert len(set(full)) == len(full)
    all_segments = [line for t in texts.values() for line in t]
    assert len(set(all_segments)) >= 0.5 * len(all_segments)
    speakers = TranscriptSegment.objects.values_list("call_id", "speaker").distinct().count()
    assert speakers >= 2 * len(full)


def test_every_call_has_one_label_per_category_consistent_with_the_call(seeded):
    org = Organization.objects.get(slug="acme")
    categories = {c.name: c for c in LabelCategory.objects.filter(org=org)}
    assert set(categories) == {"Call Type", "Sentiment", "Competitor Mentioned"}
    labels: dict[Any, dict[str, str]] = defaultdict(dict)
    for call_id, category, value in CallLabel.objects.filter(call__org=org).values_list(
        "call_id", "category__name", "option__value"
    ):
        labels[call_id][category] = value
    transcript: dict[Any, str] = defaultdict(str)
    for call_id, text in TranscriptSegment.objects.filter(call__org=org).values_list("call_id", "text"):
        transcript[call_id] += text + "\n"

    for call in Call.objects.filter(org=org):
        mine = labels[call.pk]
        assert set(mine) == set(categories)
        assert (mine["Call Type"] == "Internal") == call.is_internal
        mentions = any(name in transcript[call.pk] for name in dd.COMPETITORS)
        assert (mine["Competitor Mentioned"] == "Yes") == mentions
    assert {m["Call Type"] for m in labels.values()} >= {"Discovery", "Demo", "Negotiation", "Renewal"}


def test_scorecards_criteria_and_scores(seeded):
    org = Organization.objects.get(slug="acme")
    scorecards = list(Scorecard.objects.filter(org=org).prefetch_related("items"))
    assert {s.title for s in scorecards} == {"Discovery Excellence", "Demo Quality"}
    for scorecard in scorecards:
        items = list(scorecard.items.all())
        assert 4 <= len(items) <= 5
        assert [i.position for i in items] == list(range(len(items)))
        condition = scorecard.criteria["conditions"][0]
        category = LabelCategory.objects.get(pk=condition["label_id"], org=org)
        option = category.options.get(pk=condition["option_id"])
        results = list(ScorecardResult.objects.filter(scorecard=scorecard).prefetch_related("scores__item"))
        assert results, scorecard.title
        for result in results:
            assert CallLabel.objects.filter(call_id=result.call_id, option=option).exists()
            scores = list(result.scores.all())
            assert {s.item_id for s in scores} == {i.pk for i in items}
            for s in scores:
                assert s.item.min_score <= s.score <= s.item.max_score


def test_snippets_have_valid_ranges_and_unique_codes(seeded):
    snippets = list(Snippet.objects.select_related("call"))
    assert any(s.start_s is None for s in snippets)
    assert any(s.start_s is not None for s in snippets)
    for s in snippets:
        assert len(s.share_code) == 12
        if s.start_s is None:
            assert s.end_s is None
        else:
            assert s.end_s is not None
            assert 0 <= s.start_s < s.end_s <= s.call.duration_s
    assert len({s.share_code for s in snippets}) == len(snippets)


def test_deals_have_crm_fields_and_external_calls(seeded):
    org = Organization.objects.get(slug="acme")
    deals = list(Deal.objects.filter(org=org))
    assert len(deals) == CALLS // 5
    for deal in deals:
        assert deal.amount is not None
        assert deal.amount > 0
        assert deal.crm_id.startswith("006")
        assert deal.crm_fields["opportunity"]["Region"] in {"EMEA", "North America"}
        assert deal.crm_fields["account"]["Industry"]
        assert deal.owner is not None
        assert deal.owner.org_id == org.pk


# --- the second organisation -------------------------------------------------------------------------


def test_second_org_is_complete_and_shares_nothing_with_the_first(seeded):
    acme, globex = Organization.objects.get(slug="acme"), Organization.objects.get(slug="globex")
    assert globex.email_domains == ["globex.example"]
    assert User.objects.filter(org=globex).count() == 5
    assert Call.objects.filter(org=globex).count() == 20
    assert {t.name for t in Team.objects.filter(org=globex)} == {"[Globex] Sales", "[Globex] Enterprise"}
    assert not User.objects.get(email="admin@globex.example").is_staff

    for org, other in ((acme, globex), (globex, acme)):
        calls = Call.objects.filter(org=org)
        assert not calls.filter(owner__org=other).exists()
        assert not calls.filter(team__org=other).exists()
        assert not calls.filter(deal__org=other).exists()
        assert not Participant.objects.filter(call__org=org, user__org=other).exists()
        assert not Participant.objects.filter(call__org=org, email__endswith=f"@{other.slug}.example").exists()
        assert not CallLabel.objects.filter(call__org=org, category__org=other).exists()
        assert not ScorecardResult.objects.filter(call__org=org, scorecard__org=other).exists()
        assert not Snippet.objects.filter(call__org=org, owner__org=other).exists()
        assert not Membership.objects.filter(user__org=org, team__org=other).exists()
        assert LabelCategory.objects.filter(org=org).count() == 3
    acme_calls = set(Call.objects.filter(org=acme).values_list("title", flat=True))
    globex_texts = set(TranscriptSegment.objects.filter(call__org=globex).values_list("text", flat=True))
    acme_texts = set(TranscriptSegment.objects.filter(call__org=acme).values_list("text", flat=True))
    assert acme_calls
    assert len(globex_texts - acme_texts) > len(globex_texts) // 2


# --- the generators on their own -----------------------------------------------------------------------


def _generate(seed_value: int, kind: dd.CallKind) -> tuple[dd.CallFacts, dd.Transcript]:
    rng = random.Random(seed_value)
    comp = dd.company(rng)
    rep = dd.Person("Ann", "Lee", "ann.lee@acme.example")
    prospects = dd.company_contacts(rng, comp, 3)
    facts = dd.call_facts(rng)
    slots = dd.call_slots(
        rng, kind=kind, org_name="Acme", comp=comp, rep=rep, colleagues=[], prospects=prospects, facts=facts,
        team_name="EMEA",
    )  # fmt: skip
    script = dd.transcript(rng, kind=kind, slots=slots, facts=facts, rep=rep, colleagues=[], prospects=prospects)
    return facts, script


@pytest.mark.parametrize("seed_value", range(25))
def test_discovery_transcript_states_its_facts(seed_value):
    facts, script = _generate(seed_value, "discovery")

    assert dd.money(facts.budget) in script.text
    assert str(facts.seats) in script.text
    assert facts.decision in script.text
    assert (facts.competitor is not None) == any(name in script.text for name in dd.COMPETITORS)
    assert "{" not in script.text


def test_generators_are_pure_functions_of_the_seed():
    assert _generate(7, "negotiation") == _generate(7, "negotiation")
    assert _generate(7, "negotiation")[1].text != _generate(8, "negotiation")[1].text
    assert dd.rng_uuid(random.Random(3)) == dd.rng_uuid(random.Random(3))
    assert dd.rng_uuid(random.Random(3)).version == 4
