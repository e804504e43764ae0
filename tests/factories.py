# factory_boy's declarations (Sequence, SubFactory, ...) have unannotated constructors.
# mypy: disable-error-code="no-untyped-call"
"""factory_boy factories and the two-organisation persona world shared by the test suite.

Factories go through the services wherever the services maintain something the
model alone does not (an organisation's roles, a team's "[Org] Name" and
materialised path, exactly one primary membership), so test data always has
the shape production data has.

`build_world()` builds the personas described in tests/conftest.py; it lives
here so that tests can import `World` and `OrgWorld` for type hints.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db.models import QuerySet
from factory.declarations import (
    LazyAttribute,
    LazyAttributeSequence,
    LazyFunction,
    Maybe,
    SelfAttribute,
    Sequence,
    SubFactory,
)
from factory.django import DjangoModelFactory

from accounts.models import Membership, Organization, Role, RoleType, SeatType, Team, User
from accounts.permissions import Actor
from accounts.services import membership_add, organization_create, team_create, user_deactivate, user_role_set
from calls.models import Affiliation, Call, Deal, Participant, Snippet, TranscriptSegment

TEST_PASSWORD = "pw-for-tests"
# Every call of the worlds starts from here, one hour apart, so orderings are deterministic.
BASE_TIME = dt.datetime(2025, 1, 6, 9, 0, tzinfo=dt.UTC)


@functools.cache
def _test_password_hash() -> str:
    # Hashing with the production hasher costs ~0.2 s; every test user shares one
    # hash (same salt) so logging in with TEST_PASSWORD still works everywhere.
    return make_password(TEST_PASSWORD)


def system_actor(org: Organization | uuid.UUID) -> Actor:
    """The org-wide actor factories use to call admin services."""
    return Actor.org_wide(org if isinstance(org, uuid.UUID) else org.pk, via="system")


# --------------------------------------------------------------------------- factories


class OrganizationFactory(DjangoModelFactory[Organization]):
    class Meta:
        model = Organization

    name = Sequence(lambda n: f"Org {n}")
    slug = Sequence(lambda n: f"org-{n}")
    email_domains = LazyAttribute(lambda o: [f"{o.slug}.example"])

    @classmethod
    def _create(cls, model_class: type[Organization], *args: Any, **kwargs: Any) -> Organization:
        # Through the service so the three roles exist.
        return organization_create(name=kwargs["name"], slug=kwargs["slug"], email_domains=kwargs["email_domains"])


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User

    org = SubFactory(OrganizationFactory)
    email = LazyAttributeSequence(
        lambda o, n: f"user{n}@{o.org.email_domains[0] if o.org and o.org.email_domains else 'example.com'}"
    )
    first_name = Sequence(lambda n: f"First{n}")
    last_name = "Tester"
    seat_type = SeatType.RECORDING

    @classmethod
    def _create(cls, model_class: type[User], *args: Any, **kwargs: Any) -> User:
        email = kwargs.pop("email")
        user = model_class.objects.create_user(email, password=None, **kwargs)
        # The password is TEST_PASSWORD, hashed once per session (see _test_password_hash).
        user.password = _test_password_hash()
        user.save(update_fields=["password"])
        return user


class TeamFactory(DjangoModelFactory[Team]):
    """`name` is the bare name; the service stores it as "[Org] name"."""

    class Meta:
        model = Team

    parent = None
    org = Maybe(
        "parent",
        yes_declaration=SelfAttribute("parent.org"),
        no_declaration=SubFactory(OrganizationFactory),
    )
    name = Sequence(lambda n: f"Team {n}")

    @classmethod
    def _create(cls, model_class: type[Team], *args: Any, **kwargs: Any) -> Team:
        org: Organization = kwargs["org"]
        parent: Team | None = kwargs.get("parent")
        return team_create(
            actor=system_actor(org), name=kwargs["name"], parent_team_id=parent.pk if parent is not None else None
        )


class DealFactory(DjangoModelFactory[Deal]):
    class Meta:
        model = Deal

    org = SubFactory(OrganizationFactory)
    name = Sequence(lambda n: f"Deal {n}")
    stage = "discovery"


class CallFactory(DjangoModelFactory[Call]):
    class Meta:
        model = Call

    owner = SubFactory(UserFactory)
    org = SelfAttribute("owner.org")
    team = None
    title = Sequence(lambda n: f"Call {n}")
    started_at = Sequence(lambda n: BASE_TIME + dt.timedelta(hours=n))
    duration_s = 1800


class ParticipantFactory(DjangoModelFactory[Participant]):
    """With `user`, an internal participant linked to that user; without, an external guest."""

    class Meta:
        model = Participant

    call = SubFactory(CallFactory)
    user = None
    name = LazyAttributeSequence(lambda o, n: o.user.full_name if o.user else f"Guest {n}")
    email = LazyAttributeSequence(lambda o, n: o.user.email if o.user else f"guest{n}@globex.example")
    affiliation = LazyAttribute(lambda o: Affiliation.INTERNAL if o.user else Affiliation.EXTERNAL)
    organizer = False


class TranscriptSegmentFactory(DjangoModelFactory[TranscriptSegment]):
    class Meta:
        model = TranscriptSegment

    call = SubFactory(CallFactory)
    position = Sequence(lambda n: n)
    speaker = "Speaker"
    start_s = LazyAttribute(lambda o: float(o.position * 10))
    end_s = LazyAttribute(lambda o: o.start_s + 9.5)
    text = Sequence(lambda n: f"Transcript segment {n}.")


class SnippetFactory(DjangoModelFactory[Snippet]):
    class Meta:
        model = Snippet

    call = SubFactory(CallFactory)
    owner = SelfAttribute("call.owner")
    title = Sequence(lambda n: f"Snippet {n}")
    share_code = LazyFunction(lambda: uuid.uuid4().hex)
    start_s = 0.0
    end_s = 30.0


# --------------------------------------------------------------------------- helpers


def make_member(user: User, team: Team, primary: bool = False) -> Membership:
    """Add `user` to `team` through the service (a user's first team becomes primary)."""
    return membership_add(actor=system_actor(team.org_id), team_id=team.pk, user_id=user.pk, primary=primary)


def give_role(user: User, role_type: str) -> User:
    """Grant one of the org's roles ("admin", "manager", "sales_rep") through the service."""
    assert user.org_id is not None
    role = Role.objects.get(org_id=user.org_id, type=role_type)
    return user_role_set(actor=system_actor(user.org_id), user_id=user.pk, role_id=role.pk)


# --------------------------------------------------------------------------- the persona world

# persona -> (role, seat, teams; the first team is primary)
PERSONAS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "admin": (RoleType.ADMIN, SeatType.RECORDING, ()),
    "manager": (RoleType.MANAGER, SeatType.RECORDING, ("sales",)),
    "rep_sales": (RoleType.SALES_REP, SeatType.RECORDING, ("sales",)),
    "rep_emea": (RoleType.SALES_REP, SeatType.RECORDING, ("emea",)),
    "listener": (RoleType.SALES_REP, SeatType.LISTENER, ("sales",)),
    "outsider_rep": (RoleType.SALES_REP, SeatType.RECORDING, ("support",)),
    "private_owner": (RoleType.SALES_REP, SeatType.RECORDING, ("sales",)),
    "internal_participant": (RoleType.SALES_REP, SeatType.RECORDING, ("support",)),
    "deactivated": (RoleType.SALES_REP, SeatType.RECORDING, ("sales",)),
}

# Team of each persona's own call (None: the admin's call belongs to no team).
_CALL_TEAM = {"admin": None, "rep_emea": "emea", "outsider_rep": "support", "internal_participant": "support"}


@dataclass
class OrgWorld:
    """One organisation of the world; everything keyed by the names documented in conftest.py."""

    key: str  # "a" or "b"
    org: Organization
    teams: dict[str, Team] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    calls: dict[str, Call] = field(default_factory=dict)
    deals: dict[str, Deal] = field(default_factory=dict)
    snippets: dict[str, Snippet] = field(default_factory=dict)

    @property
    def org_key_actor(self) -> Actor:
        return Actor.org_wide(self.org.pk, via="org_key")

    def call_ids(self, *names: str) -> set[uuid.UUID]:
        return {self.calls[n].pk for n in names}


@dataclass
class World:
    """Two mirrored organisations: `a` ("Acme", slug acme) and `b` ("Acme", slug acme-mirror)."""

    a: OrgWorld
    b: OrgWorld

    def labels(self, calls: Iterable[Call] | QuerySet[Call]) -> set[str]:
        """Calls as "a:<name>" / "b:<name>", so assertions read well and show which org leaked.

        Titles are identical in both organisations, so comparing titles would hide a
        cross-org leak; labels are derived from ids.
        """
        by_id = {c.pk: f"{w.key}:{name}" for w in (self.a, self.b) for name, c in w.calls.items()}
        return {by_id.get(c.pk, f"?:{c.pk}") for c in calls}


def _build_org_world(*, key: str, slug: str) -> OrgWorld:
    org = OrganizationFactory.create(name="Acme", slug=slug, email_domains=[f"{slug}.example"])
    w = OrgWorld(key=key, org=org)
    w.teams["sales"] = TeamFactory.create(org=org, name="Sales")
    w.teams["emea"] = TeamFactory.create(org=org, name="EMEA", parent=w.teams["sales"])
    w.teams["support"] = TeamFactory.create(org=org, name="Support")

    for persona, (_, seat, _) in PERSONAS.items():
        user = UserFactory.create(
            org=org,
            email=f"{persona.replace('_', '.')}@{slug}.example",
            first_name=persona.replace("_", " ").title(),
            last_name="Acme",
            seat_type=seat,
        )
        w.users[persona] = user
    # Roles and memberships in bulk: the world is rebuilt for every test, and its
    # shape is trivial (one role, the first team primary). Tests that add roles or
    # memberships later use give_role / make_member, which go through the services.
    roles = {r.type: r for r in Role.objects.filter(org=org)}
    for persona, (role_type, _, _) in PERSONAS.items():
        w.users[persona].roles.add(roles[role_type])
    Membership.objects.bulk_create(
        Membership(user=w.users[p], team=w.teams[team_name], primary=i == 0)
        for p, (_, _, team_names) in PERSONAS.items()
        for i, team_name in enumerate(team_names)
    )

    u, t = w.users, w.teams
    # Calls, participants and segments are built by the factories and saved in bulk:
    # the world is rebuilt for every test, so its insert count matters.
    deal = DealFactory.create(org=org, name="Globex renewal", owner=u["rep_sales"])
    w.deals["globex"] = deal
    for persona in PERSONAS:
        team_name = _CALL_TEAM.get(persona, "sales")
        w.calls[f"{persona}_public"] = CallFactory.build(
            owner=u[persona], team=t[team_name] if team_name else None, title=f"{persona} public call"
        )
    w.calls["private_owner_private"] = CallFactory.build(
        owner=u["private_owner"], team=t["sales"], title="private_owner private call", private=True
    )
    w.calls["rep_sales_archived"] = CallFactory.build(
        owner=u["rep_sales"], team=t["sales"], title="rep_sales archived call", archived=True
    )
    w.calls["rep_sales_public"].deal = deal
    w.calls["private_owner_private"].deal = deal
    Call.objects.bulk_create(w.calls.values())

    participants: list[Participant] = []
    segments: list[TranscriptSegment] = []
    for name, call in w.calls.items():
        participants.append(ParticipantFactory.build(call=call, user=call.owner, organizer=True))
        participants.append(ParticipantFactory.build(call=call, name="Casey Customer", email="casey@globex.example"))
        if name == "private_owner_private":
            participants.append(ParticipantFactory.build(call=call, user=u["internal_participant"]))
        segments.append(TranscriptSegmentFactory.build(call=call, position=0, speaker=call.owner.full_name))
        segments.append(TranscriptSegmentFactory.build(call=call, position=1, speaker="Casey Customer"))
    Participant.objects.bulk_create(participants)
    TranscriptSegment.objects.bulk_create(segments)

    for name in ("rep_sales_public", "private_owner_private"):
        w.snippets[name] = SnippetFactory.create(call=w.calls[name], title=f"{name} snippet")

    # Deactivated last, through the service, after the user has a call and memberships.
    w.users["deactivated"] = user_deactivate(actor=system_actor(org), user_id=u["deactivated"].pk)
    return w


def build_world() -> World:
    world = World(a=_build_org_world(key="a", slug="acme"), b=_build_org_world(key="b", slug="acme-mirror"))
    # Each org names the other org's rep_sales (same display name, other address) as an
    # external participant of its rep_sales call: a name or email grants nothing.
    for here, there in ((world.a, world.b), (world.b, world.a)):
        other = there.users["rep_sales"]
        ParticipantFactory.create(call=here.calls["rep_sales_public"], name=other.full_name, email=other.email)
    return world
