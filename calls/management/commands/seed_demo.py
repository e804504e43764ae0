"""`manage.py seed_demo`: deterministic, idempotent demo data for the whole product.

Builds a demo organisation (default "Acme", ~20 users, nested teams, `--calls` recorded calls
with transcripts, insights, labels, scorecards, snippets, deals, forecast categories and a super
agent session) plus a small second organisation ("Globex") for isolation checks.

- Idempotent: an organisation whose slug already exists is left untouched; the admin login line is
  printed again. `--if-empty` does nothing at all once any organisation exists (`make run`).
- Deterministic: every row this command creates directly takes its id and content from a
  `random.Random` keyed by (seed, org slug, call index), so the same seed and `--calls` give the
  same titles, transcripts and ids. Only the organisation, its roles and its teams get random ids,
  because the services that create them choose the id. Timestamps count back from today's
  midnight (UTC); no draw depends on the date, so only the dates move from day to day.
- Each organisation is seeded in one transaction: it is either there completely or not at all, so
  an interrupted run can simply be re-run. Calls are built and inserted 1,000 at a time
  (`bulk_create`; transcript segments, ~85% of the rows, through COPY on PostgreSQL and
  executemany on SQLite), so memory stays flat: ~150 MB and ~3 minutes for `--calls 100000`.
  Full-text search documents are built by database triggers as rows go in (migration 0003): on
  PostgreSQL that roughly doubles the time (`--calls 50000`: see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import os
import random
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Membership, Organization, RoleType, SeatType, Team, User
from accounts.permissions import Actor
from accounts.services import membership_add, organization_create, team_create
from calls import demo_data as dd
from calls.models import (
    Affiliation,
    AgentRole,
    AgentStatus,
    Call,
    CallLabel,
    Deal,
    ForecastCategory,
    ForecastColumnType,
    Insight,
    InteractionType,
    LabelCategory,
    LabelOption,
    Participant,
    Scorecard,
    ScorecardItem,
    ScorecardItemScore,
    ScorecardResult,
    Snippet,
    SuperAgentMessage,
    SuperAgentSession,
    TranscriptSegment,
)

CHUNK: Final[int] = 1000
SEGMENT_COLUMNS: Final[tuple[str, ...]] = ("call_id", "position", "speaker", "start_s", "end_s", "text")
BATCH: Final[int] = 2000
PASSWORD_FILE: Final[str] = "demo_admin_password"  # noqa: S105 (a file name)
SECOND_ORG_SEED_OFFSET: Final[int] = 1000
SECOND_ORG_CALLS: Final[int] = 20

# Small runs (tests, `--calls 30`) still show every kind of row: these call indices force a feature.
FORCED_KIND: Final[dict[int, dd.CallKind]] = {0: "discovery", 1: "demo", 2: "negotiation", 3: "internal", 4: "renewal"}
FORCED_PRIVATE: Final[int] = 5
FORCED_ARCHIVED: Final[int] = 7
FORCED_WHOLE_SNIPPET: Final[int] = 0
FORCED_RANGE_SNIPPET: Final[int] = 9
FORCED_SCORED: Final[frozenset[int]] = frozenset({0, 1})

DEAL_STAGES: Final[tuple[str, ...]] = (
    "Qualification", "Discovery", "Demo", "Proposal", "Negotiation", "Closed Won", "Closed Lost",
)  # fmt: skip
TEAM_REGIONS: Final[dict[str, str]] = {"EMEA": "EMEA", "DACH": "EMEA", "North America": "North America"}


# ---------------------------------------------------------------------------------------------
# What each organisation looks like


@dataclass(frozen=True, slots=True)
class UserSpec:
    role: str
    team: str
    seat: str = SeatType.RECORDING
    extra_teams: tuple[str, ...] = ()
    deactivated: bool = False
    demo_admin: bool = False


@dataclass(frozen=True, slots=True)
class OrgSpec:
    name: str
    slug: str
    seed: int
    calls: int
    teams: tuple[tuple[str, str | None], ...]  # (name, parent name), parents first
    users: tuple[UserSpec, ...]
    staff_admin: bool  # the demo admin also logs in to the operators' /admin/

    @property
    def domain(self) -> str:
        return f"{self.slug}.example"

    @property
    def admin_email(self) -> str:
        return f"admin@{self.domain}"


def _main_spec(name: str, slug: str, seed: int, calls: int) -> OrgSpec:
    rep, manager, admin = RoleType.SALES_REP, RoleType.MANAGER, RoleType.ADMIN
    listener = SeatType.LISTENER
    return OrgSpec(
        name=name,
        slug=slug,
        seed=seed,
        calls=calls,
        teams=(
            ("Sales", None),
            ("EMEA", "Sales"),
            ("DACH", "EMEA"),
            ("North America", "Sales"),
            ("Customer Success", None),
        ),
        users=(
            UserSpec(admin, "Sales", demo_admin=True),
            UserSpec(manager, "Sales"),
            UserSpec(manager, "EMEA"),
            UserSpec(manager, "North America"),
            UserSpec(rep, "EMEA"),
            UserSpec(rep, "EMEA"),
            UserSpec(rep, "EMEA"),
            UserSpec(rep, "DACH"),
            UserSpec(rep, "DACH"),
            UserSpec(rep, "North America"),
            UserSpec(rep, "North America"),
            UserSpec(rep, "North America"),
            UserSpec(rep, "North America"),
            UserSpec(rep, "North America"),
            UserSpec(rep, "North America", deactivated=True),
            UserSpec(rep, "Customer Success"),
            UserSpec(rep, "Customer Success"),
            UserSpec(rep, "Customer Success", extra_teams=("North America",)),
            UserSpec(rep, "Sales", seat=listener),
            UserSpec(rep, "EMEA", seat=listener, extra_teams=("Customer Success",)),
        ),
        staff_admin=True,
    )


def _second_spec(main_slug: str, seed: int, calls: int) -> OrgSpec:
    name, slug = ("Initech", "initech") if main_slug == "globex" else ("Globex", "globex")
    rep = RoleType.SALES_REP
    return OrgSpec(
        name=name,
        slug=slug,
        seed=seed + SECOND_ORG_SEED_OFFSET,
        calls=calls,
        teams=(("Sales", None), ("Enterprise", "Sales")),
        users=(
            UserSpec(RoleType.ADMIN, "Sales", demo_admin=True),
            UserSpec(RoleType.MANAGER, "Sales"),
            UserSpec(rep, "Enterprise"),
            UserSpec(rep, "Enterprise"),
            UserSpec(rep, "Sales"),
        ),
        staff_admin=False,
    )


# ---------------------------------------------------------------------------------------------
# In-memory state while one organisation is seeded


@dataclass(slots=True)
class Member:
    user_id: uuid.UUID
    person: dd.Person
    role: str
    team_id: uuid.UUID  # primary team
    team_name: str  # bare name ("EMEA")
    recording: bool
    active: bool


@dataclass(frozen=True, slots=True)
class DealPlan:
    id: uuid.UUID
    company_index: int
    owner: Member
    seats: int
    price_per_seat: int


@dataclass(slots=True)
class ScorecardPlan:
    scorecard_id: uuid.UUID
    kind: dd.CallKind
    items: list[ScorecardItem]


@dataclass(slots=True)
class OrgContext:
    spec: OrgSpec
    org: Organization
    anchor: datetime
    members: list[Member]
    owners: list[Member]
    owner_weights: list[float]
    managers: list[Member]
    companies: list[dd.Company]
    deals: list[DealPlan]
    call_type: tuple[uuid.UUID, dict[dd.CallKind, uuid.UUID]]  # (category id, {kind: option id})
    sentiment: tuple[uuid.UUID, dict[dd.Sentiment, uuid.UUID]]
    competitor: tuple[uuid.UUID, dict[str, uuid.UUID]]  # {"Yes": id, "No": id}
    scorecards: list[ScorecardPlan]
    share_codes: set[str]
    contacts: dict[int, list[dd.Person]] = field(default_factory=dict)
    days: dict[int, list[datetime]] = field(default_factory=dict)
    agent_refs: list[tuple[Call, str, str, float]] = field(default_factory=list)  # call, competitor, budget, t

    def db_uuid(self, value: uuid.UUID, conn: BaseDatabaseWrapper) -> Any:
        """A uuid as this database stores it (a native uuid on PostgreSQL, hex text on SQLite)."""
        return Call._meta.pk.get_db_prep_value(value, conn) if Call._meta.pk else value

    def business_days(self, min_days_ago: int) -> list[datetime]:
        if min_days_ago not in self.days:
            self.days[min_days_ago] = _business_days(self.anchor, min_days_ago=min_days_ago)
        return self.days[min_days_ago]

    def contacts_of(self, index: int) -> list[dd.Person]:
        """A company's people, the same whichever call asks first."""
        if index not in self.contacts:
            rng = random.Random(f"{self.spec.seed}/{self.spec.slug}/company/{index}")
            self.contacts[index] = dd.company_contacts(rng, self.companies[index], rng.randint(3, 6))
        return self.contacts[index]


SegmentRow = tuple[Any, int, str, float, float, str]  # call_id as the database takes it, position, ...


@dataclass(slots=True)
class Rows:
    calls: list[Call] = field(default_factory=list)
    participants: list[Participant] = field(default_factory=list)
    segments: list[SegmentRow] = field(default_factory=list)
    insights: list[Insight] = field(default_factory=list)
    labels: list[CallLabel] = field(default_factory=list)
    results: list[ScorecardResult] = field(default_factory=list)
    scores: list[ScorecardItemScore] = field(default_factory=list)
    snippets: list[Snippet] = field(default_factory=list)

    def save(self) -> None:
        Call.objects.bulk_create(self.calls, batch_size=BATCH)
        Participant.objects.bulk_create(self.participants, batch_size=BATCH)
        _insert_segments(self.segments)
        Insight.objects.bulk_create(self.insights, batch_size=BATCH)
        CallLabel.objects.bulk_create(self.labels, batch_size=BATCH)
        ScorecardResult.objects.bulk_create(self.results, batch_size=BATCH)
        ScorecardItemScore.objects.bulk_create(self.scores, batch_size=BATCH)
        Snippet.objects.bulk_create(self.snippets, batch_size=BATCH)


def _insert_segments(rows: list[SegmentRow]) -> None:
    """Insert transcript segments as plain parameterised INSERTs.

    Segments are ~85% of all rows; building a model instance and compiling SQL per value made
    `bulk_create` the slowest part of a large seed. Same table, same columns, same constraints.
    PostgreSQL gets COPY; SQLite's executemany is already a C loop inside the process.
    """
    if not rows:
        return
    qn = connection.ops.quote_name
    table = qn(TranscriptSegment._meta.db_table)
    columns = ", ".join(qn(name) for name in SEGMENT_COLUMNS)
    one_row = "(" + ", ".join(["%s"] * len(SEGMENT_COLUMNS)) + ")"
    # Identifiers come from the model's metadata, quoted; every value is a parameter.
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # psycopg 3's COPY: rows stream to the server with no SQL to parse per value.
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES {one_row}", rows)  # noqa: S608


# ---------------------------------------------------------------------------------------------


class Command(BaseCommand):
    help = "Create deterministic demo data (organisations, users, teams, calls with transcripts, ...)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org-name", default="Acme", help="Name of the demo organisation (default Acme).")
        parser.add_argument("--calls", type=int, default=300, help="Calls to create for it (default 300).")
        parser.add_argument("--seed", type=int, default=1, help="Random seed; same seed, same data (default 1).")
        parser.add_argument(
            "--password",
            default=None,
            help=f"Password of every demo user. Default: generated once and kept in VAR_DIR/{PASSWORD_FILE}.",
        )
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when any organisation already exists.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_empty"] and Organization.objects.exists():
            self.stdout.write("seed_demo: an organisation already exists; leaving the database as it is.")
            return
        calls: int = options["calls"]
        if calls < 0:
            raise CommandError("--calls must be 0 or more.")
        name: str = " ".join(str(options["org_name"]).split())
        slug = slugify(name)[:64]
        if not slug:
            raise CommandError("--org-name must contain letters or digits.")
        seed: int = options["seed"]
        verbose = int(options.get("verbosity", 1)) >= 1
        specs = [_main_spec(name, slug, seed, calls), _second_spec(slug, seed, min(SECOND_ORG_CALLS, calls))]
        to_seed = [s for s in specs if not Organization.objects.filter(slug=s.slug).exists()]

        password: str | None = options["password"] or _read_password_file()
        if password is None and to_seed:
            password = secrets.token_urlsafe(12)
            _write_password_file(password)

        anchor = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
        hashed = make_password(password) if to_seed else ""
        seeded: list[Organization] = []
        for spec in specs:
            if spec not in to_seed:
                self.stdout.write(f"Organisation {spec.slug!r} already exists; nothing changed.")
                continue
            started = time.monotonic()
            org = self._seed_org(spec, hashed=hashed, anchor=anchor, verbose=verbose)
            seeded.append(org)
            self.stdout.write(f"Seeded {org.name!r} ({spec.slug}) in {time.monotonic() - started:.1f}s.")
        if seeded and connection.vendor == "postgresql":
            # Until autovacuum gets to them, fresh bulk-loaded tables have no statistics (the planner then
            # walks the wrong indexes: seconds, not ms, on 50,000 calls), and every search document is a dead
            # row plus its live successor (written with the call, rewritten with its transcript), which
            # slowed searches by a fifth. VACUUM cannot run inside a transaction (tests run in one).
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE")
        for org in seeded:
            self.stdout.write(_summary(org))
        self.stdout.write(self._login_line(specs[0], password, fresh=specs[0] in to_seed))

    # -----------------------------------------------------------------------------------------

    def _login_line(self, spec: OrgSpec, password: str | None, *, fresh: bool) -> str:
        email = spec.admin_email
        if password is None:
            return (
                f"Admin login: {email} / (password unknown: VAR_DIR/{PASSWORD_FILE} is missing; "
                f"set one with `manage.py changepassword {email}`)"
            )
        if not fresh:
            admin = User.objects.filter(email=email).first()
            if admin is None or not admin.check_password(password):
                return (
                    f"Admin login: {email} / (not {password!r}: the existing demo data has another password; "
                    f"set one with `manage.py changepassword {email}`)"
                )
        return f"Admin login: {email} / {password}"

    def _seed_org(self, spec: OrgSpec, *, hashed: str, anchor: datetime, verbose: bool) -> Organization:
        rng = random.Random(f"{spec.seed}/{spec.slug}/org")
        with transaction.atomic():
            org = organization_create(name=spec.name, slug=spec.slug, email_domains=[spec.domain])
            ctx = _setup_org(rng, spec, org, hashed=hashed, anchor=anchor)
            done = 0
            for chunk in _chunks(spec.calls, CHUNK):
                rows = Rows()
                for index in chunk:
                    _build_call(ctx, index, rows)
                rows.save()
                done += len(chunk)
                if verbose and spec.calls > CHUNK:
                    self.stdout.write(f"  {spec.slug}: {done:,}/{spec.calls:,} calls")
            _agent_session(rng, ctx)
        return org


# ---------------------------------------------------------------------------------------------
# Password


def _password_path() -> Path:
    return Path(settings.VAR_DIR) / PASSWORD_FILE


def _read_password_file() -> str | None:
    try:
        value = _password_path().read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return value or None


def _write_password_file(password: str) -> None:
    path = _password_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(password + "\n")
    os.chmod(path, 0o600)  # also when the file existed with looser bits


# ---------------------------------------------------------------------------------------------
# Organisation skeleton: teams, users, labels, scorecards, forecast, deals


def _setup_org(rng: random.Random, spec: OrgSpec, org: Organization, *, hashed: str, anchor: datetime) -> OrgContext:
    actor = Actor.org_wide(org.pk, via="system")
    roles = {role.type: role for role in org.roles.all()}
    teams: dict[str, Team] = {}
    for team_name, parent in spec.teams:
        teams[team_name] = team_create(actor=actor, name=team_name, parent_team_id=teams[parent].pk if parent else None)

    persons = dd.people(rng, len(spec.users), domain=spec.domain, taken={spec.admin_email})
    members: list[Member] = []
    for user_spec, person in zip(spec.users, persons, strict=True):
        email = spec.admin_email if user_spec.demo_admin else person.email
        person = dd.Person(first_name=person.first_name, last_name=person.last_name, email=email)
        user = User.objects.create_user(
            email,
            None,
            id=dd.rng_uuid(rng),
            org=org,
            first_name=person.first_name,
            last_name=person.last_name,
            seat_type=user_spec.seat,
            bot_name=f"{spec.name} Notetaker",
            is_staff=user_spec.demo_admin and spec.staff_admin,
            is_superuser=user_spec.demo_admin and spec.staff_admin,
            date_joined=anchor - timedelta(days=rng.randint(120, 700)),
            deactivated_at=anchor - timedelta(days=20) if user_spec.deactivated else None,
        )
        # One hash for everyone: hashing per user would cost a second each with PBKDF2.
        user.password = hashed
        user.save(update_fields=["password"])
        user.roles.add(roles[user_spec.role])
        membership_add(actor=actor, team_id=teams[user_spec.team].pk, user_id=user.pk, primary=True)
        for extra in user_spec.extra_teams:
            membership_add(actor=actor, team_id=teams[extra].pk, user_id=user.pk, primary=False)
        members.append(
            Member(
                user_id=user.pk,
                person=person,
                role=user_spec.role,
                team_id=teams[user_spec.team].pk,
                team_name=user_spec.team,
                recording=user_spec.seat == SeatType.RECORDING,
                active=not user_spec.deactivated,
            )
        )

    owners = [m for m in members if m.recording and m.role != RoleType.ADMIN]
    owner_weights = [0.4 if m.role == RoleType.MANAGER else 1.0 for m in owners]
    managers = [m for m in members if m.role == RoleType.MANAGER]

    call_type = _label(
        rng, org, "Call Type", "What kind of conversation this was.", [dd.KIND_LABELS[k] for k in dd.KIND_LABELS]
    )
    sentiment = _label(rng, org, "Sentiment", "The customer's overall tone.", list(dd.SENTIMENT_LABELS.values()))
    competitor = _label(rng, org, "Competitor Mentioned", "A competing vendor came up.", ["Yes", "No"])
    kind_options = {kind: call_type[1][label] for kind, label in dd.KIND_LABELS.items()}
    sentiment_options = {key: sentiment[1][label] for key, label in dd.SENTIMENT_LABELS.items()}

    scorecards = [
        _scorecard(rng, org, "Discovery Excellence", "discovery", call_type[0], kind_options["discovery"]),
        _scorecard(rng, org, "Demo Quality", "demo", call_type[0], kind_options["demo"]),
    ]
    _forecast_categories(rng, org)

    company_pool = dd.companies(random.Random(f"{spec.seed}/{spec.slug}/companies"), spec.calls // 4 + 15)
    deals = _deals(rng, org, spec, owners, company_pool, anchor)
    return OrgContext(
        spec=spec,
        org=org,
        anchor=anchor,
        members=members,
        owners=owners,
        owner_weights=owner_weights,
        managers=managers,
        companies=company_pool,
        deals=deals,
        call_type=(call_type[0], kind_options),
        sentiment=(sentiment[0], sentiment_options),
        competitor=competitor,
        scorecards=scorecards,
        share_codes=set(),
    )


def _label(
    rng: random.Random, org: Organization, name: str, description: str, values: list[str]
) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    category = LabelCategory.objects.create(id=dd.rng_uuid(rng), org=org, name=name, description=description)
    options = LabelOption.objects.bulk_create(
        [
            LabelOption(id=dd.rng_uuid(rng), category=category, value=value, position=position)
            for position, value in enumerate(values)
        ]
    )
    return category.pk, {o.value: o.pk for o in options}


_SCORECARD_ITEMS: Final[dict[dd.CallKind, tuple[tuple[str, int, str, str, str], ...]]] = {
    "discovery": (
        ("Set the agenda", 1, "No agenda.", "Agenda stated but not confirmed.", "Agenda agreed with the customer."),
        ("Uncovered pain and impact", 3, "No pain found.", "Pain named, impact unclear.", "Pain quantified."),
        ("Decision process and timeline", 2, "Not asked.", "Partially mapped.", "Buyer, steps and date known."),
        ("Budget qualified", 2, "Not discussed.", "Range mentioned.", "Budget amount and owner confirmed."),
        ("Concrete next step", 2, "None.", "Vague follow-up.", "Dated meeting with the right people."),
    ),
    "demo": (
        ("Tailored to stated pains", 3, "Generic tour.", "Some tailoring.", "Every section tied to a pain."),
        ("Handled technical questions", 2, "Deflected.", "Answered partly.", "Answered with proof."),
        ("Covered integrations", 1, "Skipped.", "Mentioned.", "Showed the customer's own stack."),
        ("Confirmed value", 2, "No check-in.", "One check-in.", "Customer restated the value."),
        ("Secured next step", 2, "None.", "Vague follow-up.", "Dated next step agreed."),
    ),
}


def _scorecard(
    rng: random.Random,
    org: Organization,
    title: str,
    kind: dd.CallKind,
    category_id: uuid.UUID,
    option_id: uuid.UUID,
) -> ScorecardPlan:
    scorecard = Scorecard.objects.create(
        id=dd.rng_uuid(rng),
        org=org,
        title=title,
        interaction_type=InteractionType.EXTERNAL,
        criteria={"operator": "AND", "conditions": [{"label_id": str(category_id), "option_id": str(option_id)}]},
        prompt=f"Score how well the rep ran this {kind} call.",
        instructions="Quote the moment in the call that justifies each score.",
    )
    items = ScorecardItem.objects.bulk_create(
        [
            ScorecardItem(
                id=dd.rng_uuid(rng),
                scorecard=scorecard,
                title=item_title,
                weight=weight,
                min_score=1,
                middle_score=3,
                max_score=5,
                min_criteria=low,
                middle_criteria=mid,
                max_criteria=high,
                position=position,
            )
            for position, (item_title, weight, low, mid, high) in enumerate(_SCORECARD_ITEMS[kind])
        ]
    )
    return ScorecardPlan(scorecard_id=scorecard.pk, kind=kind, items=items)


def _forecast_categories(rng: random.Random, org: Organization) -> None:
    system, call = ForecastColumnType.SYSTEM, ForecastColumnType.CALL
    rows = (
        ("commit", "Commit", "Deals the rep is confident will close this period.", system, "#2e7d32"),
        ("best_case", "Best Case", "Could close this period if things go well.", system, "#f9a825"),
        ("pipeline", "Pipeline", "Qualified, not expected this period.", system, "#1565c0"),
        ("upside", "Upside", "Flagged on a call as possible upside.", call, "#6a1b9a"),
    )
    ForecastCategory.objects.bulk_create(
        [
            ForecastCategory(
                id=dd.rng_uuid(rng),
                org=org,
                column_key=key,
                label=label,
                description=description,
                column_type=column_type,
                display_order=order,
                color=color,
            )
            for order, (key, label, description, column_type, color) in enumerate(rows, start=1)
        ]
    )


def _deals(
    rng: random.Random,
    org: Organization,
    spec: OrgSpec,
    owners: list[Member],
    company_pool: list[dd.Company],
    anchor: datetime,
) -> list[DealPlan]:
    if spec.calls == 0:
        return []
    active = [m for m in owners if m.active] or owners
    plans: list[DealPlan] = []
    rows: list[Deal] = []
    for _ in range(max(1, round(spec.calls / 5))):
        index = rng.randrange(len(company_pool))
        comp = company_pool[index]
        regional = [m for m in active if TEAM_REGIONS.get(m.team_name) == comp.region]
        owner = rng.choice(regional or active)
        facts = dd.call_facts(rng, competitor_probability=0)
        stage = rng.choices(DEAL_STAGES, weights=(12, 18, 18, 16, 14, 12, 10))[0]
        deal_type = rng.choice(("New Business", "New Business", "Expansion", "Renewal"))
        forecast = {"Closed Won": "Closed", "Negotiation": "Commit", "Proposal": "Best Case"}.get(stage, "Pipeline")
        deal = Deal(
            id=dd.rng_uuid(rng),
            org=org,
            name=f"{comp.name} - {deal_type} ({facts.seats} seats)",
            stage=stage,
            amount=Decimal(facts.annual_total).quantize(Decimal("0.01")),
            owner_id=owner.user_id,
            crm_id="006" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(15)),
            crm_fields={
                "opportunity": {
                    "Region": comp.region,
                    "Type": deal_type,
                    "Forecast Category": forecast,
                    "Lead Source": rng.choice(("Inbound", "Outbound", "Partner", "Event")),
                },
                "account": {"Industry": comp.industry, "Country": comp.country, "Employees": comp.employees},
            },
            created_at=anchor - timedelta(days=rng.randint(91, 200)),
        )
        rows.append(deal)
        plans.append(DealPlan(deal.pk, index, owner, facts.seats, facts.price_per_seat))
    Deal.objects.bulk_create(rows, batch_size=BATCH)
    return plans


# ---------------------------------------------------------------------------------------------
# One call and everything hanging off it


def _chunks(total: int, size: int) -> Iterator[range]:
    for start in range(0, total, size):
        yield range(start, min(total, start + size))


def _business_days(anchor: datetime, *, min_days_ago: int) -> list[datetime]:
    """Weekdays from 90 days before `anchor` up to `min_days_ago` days before it, oldest first."""
    days = (anchor - timedelta(days=n) for n in range(90, min_days_ago - 1, -1))
    return [day for day in days if day.weekday() < 5]


def _started_at(rng: random.Random, ctx: OrgContext, *, min_days_ago: int) -> datetime:
    # One draw picks the position among the window's weekdays: which date that is depends on
    # today, but the draws (and so every call's content) do not.
    position, hour, minute = rng.random(), rng.randint(7, 17), rng.choice((0, 0, 15, 30, 30, 45))
    days = ctx.business_days(min_days_ago)
    return days[int(position * len(days))] + timedelta(hours=hour, minutes=minute)


def _build_call(ctx: OrgContext, index: int, rows: Rows) -> None:
    spec = ctx.spec
    rng = random.Random(f"{spec.seed}/{spec.slug}/call/{index}")
    call_id = dd.rng_uuid(rng)
    forced_kind = FORCED_KIND.get(index)
    internal = forced_kind == "internal" if forced_kind else rng.random() < 0.10

    deal: DealPlan | None = None
    if not internal and ctx.deals and rng.random() < 0.6:
        deal = ctx.deals[rng.randrange(len(ctx.deals))]
    if deal is not None and rng.random() < 0.8:
        owner = deal.owner
    else:
        owner = rng.choices(ctx.owners, weights=ctx.owner_weights)[0]
    company_index = deal.company_index if deal else rng.randrange(len(ctx.companies))
    comp = ctx.companies[company_index]

    kind: dd.CallKind
    if internal:
        kind = "internal"
    elif forced_kind:
        kind = forced_kind
    elif owner.team_name == "Customer Success":
        kind = rng.choices(dd.EXTERNAL_KINDS, weights=(5, 10, 15, 70))[0]
    else:
        kind = rng.choices(dd.EXTERNAL_KINDS, weights=(34, 32, 24, 10))[0]

    facts = dd.call_facts(
        rng,
        competitor_probability=0.3 if internal else 0.4,
        seats=deal.seats if deal else None,
        price_per_seat=deal.price_per_seat if deal else None,
    )
    others = [m for m in ctx.members if m.active and m.user_id != owner.user_id]
    if internal:
        n_colleagues = rng.choices((1, 2, 3, 4), weights=(45, 30, 15, 10))[0]
    elif kind == "demo":
        n_colleagues = rng.choices((0, 1, 2), weights=(30, 60, 10))[0]
    else:
        n_colleagues = rng.choices((0, 1, 2), weights=(67, 25, 8))[0]
    colleagues = rng.sample(others, k=min(n_colleagues, len(others)))
    contacts = ctx.contacts_of(company_index)
    n_prospects = rng.choices((1, 2, 3, 4), weights=(35, 35, 20, 10))[0]
    prospects = [] if internal else rng.sample(contacts, k=min(n_prospects, len(contacts)))

    slots = dd.call_slots(
        rng,
        kind=kind,
        org_name=spec.name,
        comp=comp,
        rep=owner.person,
        colleagues=[m.person for m in colleagues],
        # Internal meetings talk about the customer's people without them on the call.
        prospects=contacts[:2] if internal else prospects,
        facts=facts,
        team_name=owner.team_name,
    )
    title = dd.call_title(rng, kind=kind, slots=slots)
    script = dd.transcript(
        rng,
        kind=kind,
        slots=slots,
        facts=facts,
        rep=owner.person,
        colleagues=[m.person for m in colleagues],
        prospects=prospects,
    )
    notes = dd.insight(rng, kind=kind, slots=slots, facts=facts, topics=script.topics)

    started_at = _started_at(rng, ctx, min_days_ago=1 if owner.active else 21)
    private = index == FORCED_PRIVATE or rng.random() < 0.05
    archived = index == FORCED_ARCHIVED or rng.random() < 0.02
    media = rng.random() < 0.7
    call = Call(
        id=call_id,
        org_id=ctx.org.pk,
        owner_id=owner.user_id,
        team_id=owner.team_id,
        title=title[:500],
        started_at=started_at,
        duration_s=script.duration_s,
        private=private,
        archived=archived,
        is_internal=internal,
        deal_id=deal.id if deal else None,
        media_url=f"https://media.example/{spec.slug}/{call_id}.mp4" if media else "",
        created_at=started_at + timedelta(seconds=script.duration_s + 120),
    )
    rows.calls.append(call)

    internal_aff, external_aff = Affiliation.INTERNAL, Affiliation.EXTERNAL
    rows.participants.append(
        Participant(
            id=dd.rng_uuid(rng),
            call_id=call_id,
            name=owner.person.name,
            email=owner.person.email,
            affiliation=internal_aff,
            organizer=True,
            user_id=owner.user_id,
        )
    )
    for m in colleagues:
        rows.participants.append(
            Participant(
                id=dd.rng_uuid(rng),
                call_id=call_id,
                name=m.person.name,
                email=m.person.email,
                affiliation=internal_aff,
                user_id=m.user_id,
            )
        )
    for p in prospects:
        rows.participants.append(
            Participant(id=dd.rng_uuid(rng), call_id=call_id, name=p.name, email=p.email, affiliation=external_aff)
        )

    db_call_id = ctx.db_uuid(call_id, connection)
    rows.segments.extend(
        (db_call_id, position, seg.speaker, seg.start_s, seg.end_s, seg.text)
        for position, seg in enumerate(script.segments)
    )
    rows.insights.append(
        Insight(
            call_id=call_id,
            summary=notes.summary,
            action_items=notes.action_items,
            next_steps=notes.next_steps,
            topics=notes.topics,
        )
    )

    type_category, type_options = ctx.call_type
    sentiment_category, sentiment_options = ctx.sentiment
    competitor_category, competitor_options = ctx.competitor
    rows.labels.extend(
        [
            CallLabel(call_id=call_id, category_id=type_category, option_id=type_options[kind]),
            CallLabel(call_id=call_id, category_id=sentiment_category, option_id=sentiment_options[facts.sentiment]),
            CallLabel(
                call_id=call_id,
                category_id=competitor_category,
                option_id=competitor_options["Yes" if facts.competitor else "No"],
            ),
        ]
    )

    for plan in ctx.scorecards:
        if plan.kind == kind and (index in FORCED_SCORED or rng.random() < 0.4):
            _score(rng, ctx, plan, call, facts, slots, rows)

    if index in (FORCED_WHOLE_SNIPPET, FORCED_RANGE_SNIPPET) or rng.random() < 0.1:
        _snippet(rng, ctx, call, owner, script, comp, index, rows)

    if facts.competitor and len(ctx.agent_refs) < 3:
        first = ctx.agent_refs[0][1] if ctx.agent_refs else facts.competitor
        if facts.competitor == first:
            at = next((s.start_s for s in script.segments if facts.competitor in s.text), 0.0)
            ctx.agent_refs.append((call, facts.competitor, slots["budget"], at))


_SCORE_WEIGHTS: Final[dict[str, tuple[int, ...]]] = {
    "positive": (1, 3, 10, 20, 16),
    "neutral": (3, 10, 20, 12, 5),
    "negative": (14, 20, 12, 4, 1),
}
_SCORE_WORDS: Final[dict[int, str]] = {
    1: "Missing on this call.",
    2: "Attempted, but it did not land.",
    3: "Covered at a basic level.",
    4: "Done well, with one gap.",
    5: "Excellent; a good example for the team.",
}


def _score(
    rng: random.Random,
    ctx: OrgContext,
    plan: ScorecardPlan,
    call: Call,
    facts: dd.CallFacts,
    slots: dict[str, str],
    rows: Rows,
) -> None:
    creator = rng.choice(ctx.managers).user_id if ctx.managers and rng.random() < 0.3 else None
    result = ScorecardResult(
        id=dd.rng_uuid(rng),
        scorecard_id=plan.scorecard_id,
        call_id=call.pk,
        summary=f"{slots['r_full']} on the {slots['company']} call: {facts.sentiment} overall tone.",
        created_by_id=creator,
        created_at=call.started_at + timedelta(seconds=call.duration_s + 600),
    )
    rows.results.append(result)
    for item in plan.items:
        scale = list(range(item.min_score, item.max_score + 1))
        weights = _SCORE_WEIGHTS[facts.sentiment][: len(scale)]
        score = rng.choices(scale, weights=weights)[0]
        rows.scores.append(
            ScorecardItemScore(
                result_id=result.pk,
                item_id=item.pk,
                score=score,
                description=_SCORE_WORDS.get(score, ""),
            )
        )


def _snippet(
    rng: random.Random,
    ctx: OrgContext,
    call: Call,
    owner: Member,
    script: dd.Transcript,
    comp: dd.Company,
    index: int,
    rows: Rows,
) -> None:
    whole = index == FORCED_WHOLE_SNIPPET or (index != FORCED_RANGE_SNIPPET and rng.random() < 0.3)
    snippet_owner = owner.user_id
    if ctx.managers and rng.random() < 0.3:
        snippet_owner = rng.choice(ctx.managers).user_id
    code = dd.share_code(rng)
    while code in ctx.share_codes:
        code = dd.share_code(rng)
    ctx.share_codes.add(code)
    start: float | None = None
    end: float | None = None
    if whole or len(script.segments) < 2:
        title = f"{comp.name}: full call"
    else:
        first = rng.randrange(len(script.segments) - 1)
        last = min(len(script.segments) - 1, first + rng.randint(1, 6))
        start, end = script.segments[first].start_s, script.segments[last].end_s
        topic = dd.TOPIC_NAMES.get(script.segments[first].topic, "Highlight")
        title = f"{comp.name}: {topic.lower()}"
    in_library = rng.random() < 0.4
    rows.snippets.append(
        Snippet(
            id=dd.rng_uuid(rng),
            call_id=call.pk,
            owner_id=snippet_owner,
            start_s=start,
            end_s=end,
            title=title,
            notes=rng.choice(("", "Good example for onboarding.", "Share with the team.", "Listen to the ask.")),
            internal=rng.random() < 0.85,
            share_code=code,
            in_library=in_library,
            library_folder_path=rng.choice(("Objection handling", "Discovery/Great questions", "Pricing"))
            if in_library
            else "",
            my_library=rng.random() < 0.3,
            created_at=call.started_at + timedelta(seconds=call.duration_s + 3600),
        )
    )


# ---------------------------------------------------------------------------------------------
# Super agent session for the admin


def _agent_session(rng: random.Random, ctx: OrgContext) -> None:
    admin = next(m for m in ctx.members if m.role == RoleType.ADMIN)
    when = ctx.anchor - timedelta(hours=rng.randint(3, 20))
    session = SuperAgentSession.objects.create(
        id=dd.rng_uuid(rng),
        org=ctx.org,
        user_id=admin.user_id,
        title="Competitor mentions",
        status=AgentStatus.IDLE,
        created_at=when,
        updated_at=when + timedelta(minutes=2),
    )
    refs = ctx.agent_refs
    if refs:
        competitor = refs[0][1]
        question = f"Which recent calls mentioned {competitor}, and what did the customers say?"
        lines = [f'- "{c.title}": {competitor} came up at {int(t) // 60}:{int(t) % 60:02d}.' for c, _, _, t in refs]
        answer = f"{len(refs)} calls I looked at mention {competitor}:\n" + "\n".join(lines)
        follow_up = "What budgets did those customers mention?"
        budgets = "\n".join(f'- "{call.title}": {budget}' for call, _, budget, _ in refs)
        follow_answer = f"The budgets stated on those calls:\n{budgets}"
        references = [{"call_id": str(call.pk), "title": call.title, "start_s": t} for call, _, _, t in refs]
    else:
        question = "Did any competitor come up on recent calls?"
        answer = "No competitor was mentioned on the calls I can see."
        follow_up = "Thanks. Anything else worth my attention?"
        follow_answer = "Nothing stands out yet; there are no calls to review."
        references = []
    messages = [
        (AgentRole.USER, question, []),
        (AgentRole.ASSISTANT, answer, references),
        (AgentRole.USER, follow_up, []),
        (AgentRole.ASSISTANT, follow_answer, references),
    ]
    SuperAgentMessage.objects.bulk_create(
        [
            SuperAgentMessage(
                id=dd.rng_uuid(rng),
                session=session,
                role=role,
                content=content,
                references=refs_json,
                created_at=when + timedelta(seconds=30 * position),
            )
            for position, (role, content, refs_json) in enumerate(messages)
        ]
    )


# ---------------------------------------------------------------------------------------------
# Summary


def _summary(org: Organization) -> str:
    counts: list[tuple[str, type[models.Model], str]] = [
        ("users", User, "org"),
        ("teams", Team, "org"),
        ("memberships", Membership, "team__org"),
        ("deals", Deal, "org"),
        ("calls", Call, "org"),
        ("participants", Participant, "call__org"),
        ("transcript segments", TranscriptSegment, "call__org"),
        ("insights", Insight, "call__org"),
        ("label categories", LabelCategory, "org"),
        ("label options", LabelOption, "category__org"),
        ("call labels", CallLabel, "call__org"),
        ("scorecards", Scorecard, "org"),
        ("scorecard items", ScorecardItem, "scorecard__org"),
        ("scorecard results", ScorecardResult, "scorecard__org"),
        ("item scores", ScorecardItemScore, "result__scorecard__org"),
        ("snippets", Snippet, "call__org"),
        ("forecast categories", ForecastCategory, "org"),
        ("agent sessions", SuperAgentSession, "org"),
        ("agent messages", SuperAgentMessage, "session__org"),
    ]
    parts = [f"{model._default_manager.filter(**{lookup: org}).count():,} {name}" for name, model, lookup in counts]
    return f"{org.name} ({org.slug}): " + ", ".join(parts)
