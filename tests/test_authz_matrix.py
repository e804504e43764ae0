"""The authorization matrix, the canary crawl and the coverage guard (SECURITY-TESTS.md, "Tenant isolation").

Two mirrored organisations (tests/conftest.py's world, plus labels, a scorecard, a forecast column, an
invitation, a spare API key and a super-agent session in each). Org A's personas act with REAL credentials,
resolved by the gateway's own authentication (`mcpgateway.auth`): OAuth access tokens and API keys.

For every registered tool, every persona and each target (an object of the persona's own organisation, and
the mirrored object of the other organisation), `test_matrix` asserts the exact outcome: `ok`, `not_found`,
`admin_required`, `insufficient_scope`, `user_required`, or `unauthenticated` (the deactivated user's token no
longer authenticates). Lists and searches are asserted by count. Every refusal leaves the database unchanged.

Canary: every text field of org B's objects that is not a name carries MARKER, and no response to an org-A
persona, success or error, may contain MARKER or the id of any org-B object the request did not name itself.
Names are not marked, so the two organisations keep identical names (a lookup by name must not cross over).

Mixed references (`test_mixed_reference`): otherwise valid arguments naming one object of the other
organisation give `not_found` and change nothing.

The world is built once per module inside a transaction that is rolled back at the end; each test runs in a
savepoint of its own (pytest-django's `django_db`), so writes by one case never reach another.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from accounts.models import Invitation, Role, RoleType, Team, User
from accounts.permissions import READ, WRITE, Actor
from apikeys.models import ApiKey
from apikeys.services import apikey_create
from calls import models as cm
from mcpgateway import auth as gateway_auth
from mcpgateway import registry
from oauth.models import Application
from tests.factories import OrgWorld, World, build_world
from tests.support.catalog import CATALOG_MARKS
from tests.test_visibility import EXPECTED as VISIBLE_CALLS

pytestmark = pytest.mark.django_db

MARKER = "CANARY-7Q2X"
RW = f"{READ} {WRITE}"


# --- personas ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Persona:
    name: str
    credential: str  # oauth | org_key | user_key
    user: str | None  # the world persona whose credential it is (None: org-level key)
    scope: str = RW

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    @property
    def is_admin(self) -> bool:
        return self.user in (None, "admin")


PERSONAS = {
    p.name: p
    for p in (
        Persona("admin", "oauth", "admin"),
        Persona("manager", "oauth", "manager"),
        Persona("rep", "oauth", "rep_sales"),
        Persona("listener", "oauth", "listener"),
        Persona("deactivated", "oauth", "deactivated"),
        Persona("org_key", "org_key", None),
        Persona("user_key", "user_key", "rep_sales"),
        Persona("oauth_read_only", "oauth", "admin", READ),
    )
}


# --- the world ------------------------------------------------------------------------------------------------------


@dataclass
class Side:
    """One organisation's objects, by role in the matrix."""

    w: OrgWorld
    label: cm.LabelCategory
    options: dict[str, cm.LabelOption]
    scorecard: cm.Scorecard
    items: list[cm.ScorecardItem]
    result: cm.ScorecardResult
    forecast: cm.ForecastCategory
    invitation: Invitation
    spare_key: ApiKey
    session: cm.SuperAgentSession
    roles: dict[str, Role]
    tokens: dict[str, str] = field(default_factory=dict)

    def team(self, name: str) -> str:
        return str(self.w.teams[name].pk)

    def user(self, name: str) -> str:
        return str(self.w.users[name].pk)

    def call(self, name: str = "rep_sales_public") -> str:
        return str(self.w.calls[name].pk)

    def snippet(self, name: str = "rep_sales_public") -> str:
        return str(self.w.snippets[name].pk)

    def deal(self) -> str:
        return str(self.w.deals["globex"].pk)


@dataclass
class Matrix:
    world: World
    a: Side
    b: Side
    b_ids: frozenset[str]


def _text(side_key: str, text: str) -> str:
    """Descriptive text: org B's carries the canary marker."""
    return f"{text} {MARKER}" if side_key == "b" else text


def _extend(w: OrgWorld) -> Side:
    org, u = w.org, w.users
    mark = w.key
    roles = {r.type: r for r in Role.objects.filter(org=org)}

    cm.TranscriptSegment.objects.filter(call__org=org).update(
        text=_text(mark, "We compared pricing with the incumbent.")
    )
    cm.Insight.objects.create(
        call=w.calls["rep_sales_public"],
        summary=_text(mark, "Pricing discussion."),
        action_items=[_text(mark, "Send the quote")],
    )
    cm.Deal.objects.filter(org=org).update(crm_id=_text(mark, "opp-1"), crm_fields={"opportunity": {"Region": "EMEA"}})
    cm.Snippet.objects.filter(call__org=org).update(notes=_text(mark, "Good objection handling."))

    label = cm.LabelCategory.objects.create(org=org, name="Call Type", description=_text(mark, "Kind of call"))
    options = {
        v: cm.LabelOption.objects.create(category=label, value=v, description=_text(mark, v), position=i)
        for i, v in enumerate(("Discovery", "Demo"))
    }
    cm.CallLabel.objects.create(call=w.calls["rep_sales_public"], category=label, option=options["Discovery"])

    scorecard = cm.Scorecard.objects.create(
        org=org, title="Discovery quality", prompt=_text(mark, "Score discovery"), instructions=_text(mark, "Be fair")
    )
    items = [
        cm.ScorecardItem.objects.create(
            scorecard=scorecard,
            title=title,
            position=i,
            min_criteria=_text(mark, "weak"),
            max_criteria=_text(mark, "x"),
        )
        for i, title in enumerate(("Asked about budget", "Agreed next step"))
    ]
    result = cm.ScorecardResult.objects.create(
        scorecard=scorecard, call=w.calls["rep_sales_public"], summary=_text(mark, "Solid"), created_by=u["manager"]
    )
    for item in items:
        cm.ScorecardItemScore.objects.create(result=result, item=item, score=4, description=_text(mark, "ok"))

    forecast = cm.ForecastCategory.objects.create(
        org=org, column_key="upside", label="Upside", description=_text(mark, "Might close"), display_order=5
    )
    invitation = Invitation.objects.create(
        org=org,
        email=f"new.hire@{org.slug}.example",
        team=w.teams["sales"],
        role=roles[RoleType.SALES_REP],
        invited_by=u["admin"],
        expires_at=timezone.now() + timedelta(days=7),
    )
    operator = Actor.org_wide(org.pk, via="operator")
    spare_key, _ = apikey_create(actor=operator, name="spare key")
    session = cm.SuperAgentSession.objects.create(org=org, user=u["rep_sales"], title="Pipeline review")
    cm.SuperAgentMessage.objects.create(session=session, role="user", content=_text(mark, "How is the pipeline?"))
    cm.SuperAgentMessage.objects.create(session=session, role="assistant", content=_text(mark, "Healthy."))
    return Side(
        w=w,
        label=label,
        options=options,
        scorecard=scorecard,
        items=items,
        result=result,
        forecast=forecast,
        invitation=invitation,
        spare_key=spare_key,
        session=session,
        roles=roles,
    )


def _issue_tokens(side: Side) -> None:
    """Real credentials for every persona of one organisation."""
    org, users = side.w.org, side.w.users
    operator = Actor.org_wide(org.pk, via="operator")
    app = Application.objects.create(
        name="Matrix client",
        redirect_uris="http://127.0.0.1/callback",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
    )
    AccessToken = get_access_token_model()
    for persona in PERSONAS.values():
        if persona.credential == "org_key":
            _, token = apikey_create(actor=operator, name="matrix org key")
        elif persona.credential == "user_key":
            assert persona.user is not None
            _, token = apikey_create(
                actor=operator, name="matrix user key", org_level=False, user_id=users[persona.user].pk
            )
        else:
            assert persona.user is not None
            token = secrets.token_urlsafe(32)
            AccessToken.objects.create(
                user=users[persona.user],
                application=app,
                token=token,
                scope=persona.scope,
                expires=timezone.now() + timedelta(hours=1),
                resource=[settings.MCP_RESOURCE_URL],
            )
        side.tokens[persona.name] = token


def _ids_of_org(org_id: uuid.UUID) -> frozenset[str]:
    """Every id of an organisation's objects (a response to the other organisation must contain none of them)."""
    sets: list[Any] = [
        User.objects.filter(org_id=org_id),
        Team.objects.filter(org_id=org_id),
        Role.objects.filter(org_id=org_id),
        Invitation.objects.filter(org_id=org_id),
        ApiKey.objects.filter(org_id=org_id),
        cm.Call.objects.filter(org_id=org_id),
        cm.Participant.objects.filter(call__org_id=org_id),
        cm.Deal.objects.filter(org_id=org_id),
        cm.LabelCategory.objects.filter(org_id=org_id),
        cm.LabelOption.objects.filter(category__org_id=org_id),
        cm.Scorecard.objects.filter(org_id=org_id),
        cm.ScorecardItem.objects.filter(scorecard__org_id=org_id),
        cm.ScorecardResult.objects.filter(scorecard__org_id=org_id),
        cm.Snippet.objects.filter(call__org_id=org_id),
        cm.ForecastCategory.objects.filter(org_id=org_id),
        cm.SuperAgentSession.objects.filter(org_id=org_id),
        cm.SuperAgentMessage.objects.filter(session__org_id=org_id),
    ]
    ids = {str(pk) for qs in sets for pk in qs.values_list("pk", flat=True)}
    ids.add(str(org_id))
    return frozenset(ids)


@pytest.fixture(scope="module")
def matrix(django_db_setup: None, django_db_blocker: Any) -> Iterator[Matrix]:
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            world = build_world()
            a, b = _extend(world.a), _extend(world.b)
            _issue_tokens(a)
            _issue_tokens(b)
            yield Matrix(world=world, a=a, b=b, b_ids=_ids_of_org(world.b.org.pk))
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


# --- the cases ------------------------------------------------------------------------------------------------------

Args = Callable[[Side], dict[str, Any]]


@dataclass(frozen=True)
class Case:
    """How to call one tool on one organisation's objects, and what to expect beyond the marks.

    `args(side)` names objects of `side`; `targets=False` for tools that take no object (the other-org variant is
    then replaced by the counts and the canary). `expect(persona)` is the own-org outcome for a persona whose
    credential passes the tool's marks (default ok). `count` and `counts` assert list sizes per persona.
    `mixed` builds arguments naming objects of (own, other): each must give not_found. `hidden(side)` names an
    object of the persona's own organisation that only admins may see (the private call of a teammate): it adds
    a third target, `not_found` for everyone else.
    """

    args: Args
    targets: bool = True
    hidden: Args | None = None
    expect: Callable[[Persona], str] | None = None
    count: Callable[[dict[str, Any]], int] | None = None
    counts: Callable[[Persona], int] | None = None
    mixed: tuple[Callable[[Side, Side], dict[str, Any]], ...] = ()


def no_args(side: Side) -> dict[str, Any]:
    return {}


def owner_or_admin(owner: str) -> Callable[[Persona], str]:
    return lambda p: "ok" if p.is_admin or p.user == owner else "admin_required"


def session(side: Side) -> str:
    return str(side.session.pk)


def agent_owner(p: Persona) -> str:
    """Super-agent sessions are private to their person, admins included."""
    return "ok" if p.user == "rep_sales" else "not_found"


def sc(side: Side) -> str:
    return str(side.scorecard.pk)


def score_args(side: Side, call_id: str) -> dict[str, Any]:
    """A valid scorecard result for `call_id` on `side`'s scorecard."""
    return {
        "conversation_id": call_id,
        "scorecard_id": sc(side),
        "items": [{"item_id": str(side.items[0].pk), "score": 3}],
    }


def visible_calls(p: Persona) -> int:
    return len(VISIBLE_CALLS["admin" if p.user is None else p.user])


PRIVATE = "private_owner_private"  # seen by its owner, its internal participant and admins: no other persona
ACTIVE_USERS = 8  # the world's nine people, less the deactivated one
API_KEYS_OF_ORG = 3  # the matrix org key, the matrix user key and the spare key


CASES: dict[str, Case] = {
    # identity
    "get_me": Case(no_args, targets=False),
    # teams
    "list_teams": Case(no_args, targets=False, count=lambda r: len(r["teams"]), counts=lambda p: 3),
    "get_team": Case(lambda s: {"id": s.team("sales")}),
    "get_team_members": Case(lambda s: {"id": s.team("sales")}),
    "create_team": Case(lambda s: {"name": "Matrix team", "parent_team_id": s.team("sales")}),
    "update_team": Case(lambda s: {"team_id": s.team("support"), "name": "Support two"}),
    "archive_team": Case(lambda s: {"team_id": s.team("support"), "archived": True}),
    "change_team_parent": Case(
        lambda s: {"team_id": s.team("support"), "parent_team_id": s.team("sales")},
        mixed=(lambda a, b: {"team_id": a.team("support"), "parent_team_id": b.team("sales")},),
    ),
    "add_team_member": Case(
        lambda s: {"team_id": s.team("support"), "user_id": s.user("rep_sales")},
        mixed=(
            lambda a, b: {"team_id": a.team("support"), "user_id": b.user("rep_sales")},
            lambda a, b: {"team_id": b.team("support"), "user_id": a.user("rep_sales")},
            lambda a, b: {
                "team_id": a.team("support"),
                "user_id": a.user("rep_sales"),
                "role_id": str(b.roles[RoleType.MANAGER].pk),
            },
        ),
    ),
    "remove_team_member": Case(
        lambda s: {"team_id": s.team("sales"), "user_id": s.user("listener")},
        mixed=(lambda a, b: {"team_id": a.team("sales"), "user_id": b.user("listener")},),
    ),
    # users and roles
    "list_reps": Case(no_args, targets=False, count=lambda r: len(r["reps"]), counts=lambda p: ACTIVE_USERS),
    "list_roles": Case(no_args, targets=False, count=lambda r: len(r["roles"]), counts=lambda p: 3),
    "update_user": Case(
        lambda s: {"user_id": s.user("listener"), "first_name": "Lee"},
        mixed=(lambda a, b: {"user_id": a.user("listener"), "role_id": str(b.roles[RoleType.MANAGER].pk)},),
    ),
    "update_user_teams": Case(
        lambda s: {"user_id": s.user("listener"), "teams_to_add": [{"team_id": s.team("support"), "primary": False}]},
        mixed=(
            lambda a, b: {
                "user_id": a.user("listener"),
                "teams_to_add": [{"team_id": b.team("support"), "primary": False}],
            },
            lambda a, b: {"user_id": a.user("listener"), "team_ids_to_remove": [b.team("sales")]},
        ),
    ),
    "manage_user_role": Case(
        lambda s: {"action": "set", "user_id": s.user("listener"), "role_id": str(s.roles[RoleType.MANAGER].pk)},
        mixed=(
            lambda a, b: {
                "action": "set",
                "user_id": a.user("listener"),
                "role_id": str(b.roles[RoleType.MANAGER].pk),
            },
        ),
    ),
    "delete_user": Case(lambda s: {"user_id": s.user("outsider_rep")}),
    "reactivate_user": Case(lambda s: {"user_id": s.user("deactivated")}),
    # invitations
    "list_invitations": Case(no_args, targets=False, count=lambda r: len(r["invitations"]), counts=lambda p: 1),
    "invite_user": Case(
        lambda s: {"email": f"someone.new@{s.w.org.slug}.example", "team_id": s.team("sales")},
        mixed=(
            lambda a, b: {
                "email": f"someone.new@{a.w.org.slug}.example",
                "role_id": str(b.roles[RoleType.MANAGER].pk),
            },
        ),
    ),
    "update_invitation": Case(
        lambda s: {"invitation_id": str(s.invitation.pk), "seat_type": "listener"},
        mixed=(lambda a, b: {"invitation_id": str(a.invitation.pk), "team_id": b.team("support")},),
    ),
    "delete_invitation": Case(lambda s: {"invitation_id": str(s.invitation.pk)}),
    # API keys
    "list_api_keys": Case(
        no_args,
        targets=False,
        count=lambda r: len(r["api_keys"]),
        # Admins see the organisation's keys; anyone else only keys bound to themselves.
        counts=lambda p: API_KEYS_OF_ORG if p.is_admin else (1 if p.user == "rep_sales" else 0),
    ),
    "create_api_key": Case(lambda s: {"name": "matrix made"}, targets=False),
    "delete_api_key": Case(lambda s: {"api_key_id": str(s.spare_key.pk)}),
    # calls
    "search_calls": Case(
        no_args,
        targets=False,
        count=lambda r: len(r["calls"]),
        counts=visible_calls,
        mixed=(
            lambda a, b: {"team_ids": [b.team("sales")]},
            lambda a, b: {"deal_id": b.deal()},
            lambda a, b: {"rep_ids": [b.user("rep_sales")]},
        ),
    ),
    "get_call_details": Case(lambda s: {"call_id": s.call()}, hidden=lambda s: {"call_id": s.call(PRIVATE)}),
    "get_call_transcript": Case(lambda s: {"call_id": s.call()}, hidden=lambda s: {"call_id": s.call(PRIVATE)}),
    "update_call": Case(
        lambda s: {"call_id": s.call(), "title": "Renamed"},
        hidden=lambda s: {"call_id": s.call(PRIVATE), "title": "Renamed"},
        expect=owner_or_admin("rep_sales"),
    ),
    "archive_call": Case(
        lambda s: {"call_id": s.call(), "archived": True},
        hidden=lambda s: {"call_id": s.call(PRIVATE), "archived": True},
        expect=owner_or_admin("rep_sales"),
    ),
    "change_conversation_labels": Case(
        lambda s: {"conversation_id": s.call(), "labels": {"Call Type": "Demo"}},
        hidden=lambda s: {"conversation_id": s.call(PRIVATE), "labels": {"Call Type": "Demo"}},
        mixed=(lambda a, b: {"conversation_id": a.call(), "labels": {str(b.label.pk): "Demo"}},),
    ),
    # labels
    "list_labels": Case(
        no_args,
        targets=False,
        count=lambda r: len(r["labels"]),
        counts=lambda p: 1,
        mixed=(lambda a, b: {"team_id": b.team("sales")},),
    ),
    "create_label": Case(
        lambda s: {"label": "Matrix label", "options": [{"value": "One"}], "team_ids": [s.team("sales")]},
        mixed=(lambda a, b: {"label": "Matrix label", "options": [{"value": "One"}], "team_ids": [b.team("sales")]},),
    ),
    "update_label": Case(
        lambda s: {"label_id": str(s.label.pk), "description": "Changed"},
        mixed=(lambda a, b: {"label_id": str(a.label.pk), "team_ids": [b.team("sales")]},),
    ),
    "delete_label": Case(lambda s: {"label_id": str(s.label.pk)}),
    # snippets
    "create_snippet": Case(
        lambda s: {"conversation_id": s.call(), "user_uuid": s.user("rep_sales"), "start_time": 0, "end_time": 10},
        hidden=lambda s: {"conversation_id": s.call(PRIVATE), "user_uuid": s.user("private_owner")},
        expect=owner_or_admin("rep_sales"),
        mixed=(lambda a, b: {"conversation_id": a.call(), "user_uuid": b.user("rep_sales")},),
    ),
    "list_snippets": Case(
        no_args,
        targets=False,
        count=lambda r: len(r["snippets"]),
        # One snippet on rep_sales' public call, one on the private call only admins see among the personas.
        counts=lambda p: 2 if p.is_admin else 1,
        mixed=(lambda a, b: {"conversation_id": b.call()}, lambda a, b: {"owner_id": b.user("rep_sales")}),
    ),
    "delete_snippet": Case(
        lambda s: {"snippet_id": s.snippet()},
        hidden=lambda s: {"snippet_id": s.snippet(PRIVATE)},
        expect=owner_or_admin("rep_sales"),
    ),
    # deals and reports
    "list_deals": Case(no_args, targets=False, count=lambda r: len(r["deals"]), counts=lambda p: 1),
    "get_deal": Case(lambda s: {"deal_id": s.deal()}),
    "get_usage_report": Case(
        no_args,
        targets=False,
        expect=lambda p: "ok" if p.is_admin or p.user == "manager" else "admin_required",
        mixed=(lambda a, b: {"team_id": b.team("sales")},),
    ),
    # forecasting
    "get_forecast_config": Case(no_args, targets=False),
    "create_forecast_category": Case(lambda s: {"column_key": "matrix_col", "label": "Matrix"}, targets=False),
    "update_forecast_category": Case(lambda s: {"category_id": str(s.forecast.pk), "label": "Upside two"}),
    # scorecards
    "get_scorecards": Case(no_args, targets=False, count=lambda r: len(r["scorecards"]), counts=lambda p: 1),
    "get_scorecard_details": Case(lambda s: {"scorecard_id": sc(s)}),
    "create_scorecard": Case(
        lambda s: {"title": "Matrix card", "team_ids": [s.team("sales")]},
        targets=False,
        mixed=(
            lambda a, b: {"title": "M", "team_ids": [b.team("sales")]},
            lambda a, b: {"title": "M", "criteria": {"conditions": [{"field": str(b.label.pk), "value": "Demo"}]}},
        ),
    ),
    "update_scorecard": Case(
        lambda s: {"scorecard_id": sc(s), "enabled": False},
        mixed=(lambda a, b: {"scorecard_id": sc(a), "team_ids": [b.team("sales")]},),
    ),
    "create_scorecard_item": Case(lambda s: {"scorecard_id": sc(s), "title": "Matrix item"}),
    "update_scorecard_item": Case(
        lambda s: {"scorecard_id": sc(s), "item_id": str(s.items[0].pk), "weight": 2},
        mixed=(lambda a, b: {"scorecard_id": sc(a), "item_id": str(b.items[0].pk), "weight": 2},),
    ),
    "delete_scorecard_item": Case(
        lambda s: {"scorecard_id": sc(s), "item_id": str(s.items[0].pk)},
        mixed=(lambda a, b: {"scorecard_id": sc(a), "item_id": str(b.items[0].pk)},),
    ),
    "reorder_scorecard_items": Case(
        lambda s: {"scorecard_id": sc(s), "item_ids": [str(i.pk) for i in reversed(s.items)]},
        mixed=(lambda a, b: {"scorecard_id": sc(a), "item_ids": [str(a.items[1].pk), str(b.items[0].pk)]},),
    ),
    "create_scorecard_result": Case(
        lambda s: score_args(s, s.call()),
        hidden=lambda s: score_args(s, s.call(PRIVATE)),
        mixed=(
            lambda a, b: score_args(a, b.call()),
            lambda a, b: {**score_args(a, a.call()), "items": [{"item_id": str(b.items[0].pk), "score": 3}]},
        ),
    ),
    "get_scorecard_summary": Case(
        lambda s: {"scorecard_id": sc(s)},
        mixed=(
            lambda a, b: {"scorecard_id": sc(a), "team_ids": [b.team("sales")]},
            lambda a, b: {"scorecard_id": sc(a), "user_ids": [b.user("rep_sales")]},
        ),
    ),
    # the super agent (the session belongs to rep_sales: every other person gets not_found)
    "send_super_agent_message": Case(
        lambda s: {"content": "How is the pipeline?", "session_id": session(s)}, expect=agent_owner
    ),
    "list_super_agent_sessions": Case(
        no_args,
        targets=False,
        count=lambda r: len(r["sessions"]),
        counts=lambda p: 1 if p.user == "rep_sales" else 0,
    ),
    "get_super_agent_session_history": Case(lambda s: {"session_id": session(s)}, expect=agent_owner),
    "cancel_super_agent_processing": Case(lambda s: {"session_id": session(s)}, expect=agent_owner),
    "rename_super_agent_session": Case(lambda s: {"session_id": session(s), "title": "Renamed"}, expect=agent_owner),
    "delete_super_agent_session": Case(lambda s: {"session_id": session(s)}, expect=agent_owner),
    # AI analysis (by deal: named call ids are answered one by one, each with its own not_found)
    "ask_attention": Case(lambda s: {"prompt": "What did the customer say about pricing?", "deal_id": s.deal()}),
}


# --- running one case -----------------------------------------------------------------------------------------------

# Tables whose rows only authentication touches (last use); a refused tool call must leave the others alone.
_VOLATILE = frozenset({"apikeys_apikey", "oauth_connection"})


_FINGERPRINT_SQL: list[str] = []


def fingerprint() -> dict[str, str]:
    """One hash per table of the database's contents, in one statement (PostgreSQL: the suite runs on it)."""
    if not _FINGERPRINT_SQL:
        tables = [
            t
            for t in sorted(connection.introspection.table_names())
            if t not in _VOLATILE and not t.startswith("django_")
        ]
        parts = [
            f"SELECT '{t}', (SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) "  # noqa: S608
            f"FROM {connection.ops.quote_name(t)} x)"
            for t in tables
        ]
        _FINGERPRINT_SQL.append(" UNION ALL ".join(parts))
    with connection.cursor() as cursor:
        cursor.execute(_FINGERPRINT_SQL[0])
        return dict(cursor.fetchall())


def authenticate(token: str) -> Actor | None:
    """The gateway's own two-stage authentication; None when it refuses the token."""
    try:
        return gateway_auth.resolve_actor(gateway_auth.precheck({"authorization": f"Bearer {token}"}))
    except gateway_auth.AuthFailure:
        return None


@dataclass
class Outcome:
    code: str
    body: dict[str, Any] | None
    text: str


def run(side: Side, persona: Persona, tool: str, args: dict[str, Any]) -> Outcome:
    actor = authenticate(side.tokens[persona.name])
    if actor is None:
        return Outcome("unauthenticated", None, "")
    result = registry.call_tool(registry.tools()[tool], actor, args)
    body = result["structuredContent"]
    text = json.dumps(result, ensure_ascii=False)
    return Outcome(body["error"] if result["isError"] else "ok", body, text)


def marks_outcome(tool: str, persona: Persona) -> str | None:
    """The outcome the tool's marks alone decide, checked before any object is looked at."""
    spec = registry.tools()[tool]
    if persona.name == "deactivated":
        return "unauthenticated"
    if spec.scope not in persona.scopes:
        return "insufficient_scope"
    if spec.user_required and persona.credential == "org_key":
        return "user_required"
    if spec.admin and not persona.is_admin:
        return "admin_required"
    return None


def expected(tool: str, persona: Persona, target: str) -> str:
    decided = marks_outcome(tool, persona)
    if decided is not None:
        return decided
    if target == "other" or (target == "hidden" and not persona.is_admin):
        return "not_found"
    case = CASES[tool]
    return case.expect(persona) if case.expect else "ok"


def assert_no_canary(matrix: Matrix, outcome: Outcome, args: dict[str, Any]) -> None:
    assert MARKER.lower() not in outcome.text.lower(), outcome.text
    named = json.dumps(args)
    leaked = sorted(i for i in matrix.b_ids if i in outcome.text and i not in named)
    assert not leaked, f"ids of the other organisation in the response: {leaked}: {outcome.text}"


def _params() -> list[Any]:
    out = []
    for tool in sorted(CASES):
        case = CASES[tool]
        targets = (("own", "other") if case.targets else ("own",)) + (("hidden",) if case.hidden else ())
        for persona in PERSONAS:
            for target in targets:
                out.append(pytest.param(tool, persona, target, id=f"{tool}-{persona}-{target}"))
    return out


@pytest.mark.parametrize(("tool", "persona_name", "target"), _params())
def test_matrix(matrix: Matrix, tool: str, persona_name: str, target: str) -> None:
    persona = PERSONAS[persona_name]
    case = CASES[tool]
    if target == "hidden":
        assert case.hidden is not None
        args = case.hidden(matrix.a)
    else:
        args = case.args(matrix.a if target == "own" else matrix.b)
    before = fingerprint()
    outcome = run(matrix.a, persona, tool, args)
    want = expected(tool, persona, target)
    assert outcome.code == want, f"{tool} as {persona_name} on {target}: {outcome.text}"
    assert_no_canary(matrix, outcome, args)
    if want != "ok":
        assert fingerprint() == before, f"{tool} as {persona_name} refused ({want}) but changed the database"
    elif case.count is not None and case.counts is not None:
        assert outcome.body is not None
        assert case.count(outcome.body) == case.counts(persona), outcome.text


def _mixed_params() -> list[Any]:
    return [pytest.param(tool, i, id=f"{tool}-{i}") for tool in sorted(CASES) for i in range(len(CASES[tool].mixed))]


@pytest.mark.parametrize(("tool", "index"), _mixed_params())
def test_mixed_reference(matrix: Matrix, tool: str, index: int) -> None:
    """An admin of org A (who may do everything in A) names one object of org B inside valid arguments."""
    args = CASES[tool].mixed[index](matrix.a, matrix.b)
    before = fingerprint()
    outcome = run(matrix.a, PERSONAS["admin"], tool, args)
    assert outcome.code == "not_found", outcome.text
    assert_no_canary(matrix, outcome, args)
    assert fingerprint() == before


def test_the_mirror_org_answers_the_same_for_its_own_objects(matrix: Matrix) -> None:
    """Org B's admin gets ok on its own objects: the matrix's not_found is about the org, not the data."""
    for tool in ("get_team", "get_call_details", "get_call_transcript", "update_invitation"):
        outcome = run(matrix.b, PERSONAS["admin"], tool, CASES[tool].args(matrix.b))
        assert outcome.code == "ok", outcome.text


def test_the_canary_is_really_in_org_b(matrix: Matrix) -> None:
    """The crawl could pass by having nothing to find: org B's admin does see the marker and org B's ids."""
    outcome = run(matrix.b, PERSONAS["admin"], "get_call_details", {"call_id": matrix.b.call()})
    assert MARKER in outcome.text
    with pytest.raises(AssertionError):
        assert_no_canary(matrix, outcome, {})


# --- the coverage guard -----------------------------------------------------------------------------------------------


def test_every_tool_has_a_matrix_row() -> None:
    missing = sorted(set(registry.tools()) - set(CASES))
    stale = sorted(set(CASES) - set(registry.tools()))
    assert not missing, f"tools without an authorization-matrix row: {missing}"
    assert not stale, f"matrix rows for tools that do not exist: {stale}"


def test_every_tool_has_its_catalog_marks_and_every_mark_a_tool() -> None:
    assert set(CATALOG_MARKS) == set(registry.tools())


@pytest.mark.parametrize("name", sorted(registry.tools()))
def test_every_tool_is_described_annotated_and_typed(name: str) -> None:
    spec = registry.tools()[name]
    access, admin, user_required, destructive = CATALOG_MARKS[name]
    assert spec.scope == (READ if access == "read" else WRITE)
    assert (spec.admin, spec.user_required, spec.destructive) == (admin, user_required, destructive)
    definition = spec.definition()
    assert len(definition["description"]) >= 80, "a description the model can act on"
    assert definition["title"]
    annotations = definition["annotations"]
    assert annotations["readOnlyHint"] is (access == "read")
    assert annotations["destructiveHint"] is destructive
    assert definition["outputSchema"].get("type") == "object"
    assert definition["outputSchema"].get("properties")
    assert definition["inputSchema"]["additionalProperties"] is False
    for arg, schema in definition["inputSchema"].get("properties", {}).items():
        assert schema.get("description"), f"{name}.{arg} has no description"


# --- lifecycle --------------------------------------------------------------------------------------------------------


def call(actor: Actor, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    result = registry.call_tool(registry.tools()[tool], actor, args)
    assert not result["isError"], result
    body: dict[str, Any] = result["structuredContent"]
    return body


def test_delete_user_ends_oauth_tokens_and_keys_at_the_next_request_and_reactivation_does_not_revive_them(
    matrix: Matrix,
) -> None:
    a = matrix.a
    admin = authenticate(a.tokens["admin"])
    assert admin is not None
    assert authenticate(a.tokens["rep"]) is not None
    assert authenticate(a.tokens["user_key"]) is not None

    call(admin, "delete_user", {"user_id": a.user("rep_sales")})
    assert authenticate(a.tokens["rep"]) is None
    assert authenticate(a.tokens["user_key"]) is None

    call(admin, "reactivate_user", {"user_id": a.user("rep_sales")})
    assert authenticate(a.tokens["rep"]) is None
    assert authenticate(a.tokens["user_key"]) is None


def test_a_role_change_applies_to_the_very_next_request(matrix: Matrix) -> None:
    a = matrix.a
    admin, manager = authenticate(a.tokens["admin"]), authenticate(a.tokens["manager"])
    assert admin is not None
    assert manager is not None
    assert len(call(manager, "search_calls", {})["calls"]) == len(VISIBLE_CALLS["manager"])

    rep_role, manager_role = str(a.roles[RoleType.SALES_REP].pk), str(a.roles[RoleType.MANAGER].pk)
    call(admin, "manage_user_role", {"action": "set", "user_id": a.user("manager"), "role_id": rep_role})
    call(admin, "manage_user_role", {"action": "remove", "user_id": a.user("manager"), "role_id": manager_role})
    again = authenticate(a.tokens["manager"])
    assert again is not None
    assert again.roles == frozenset({"sales_rep"})
    # Now a plain member of Sales: the EMEA sub-team's call is out of reach.
    assert len(call(again, "search_calls", {})["calls"]) == len(VISIBLE_CALLS["manager"]) - 1
    refused = registry.call_tool(registry.tools()["get_call_details"], again, {"call_id": a.call("rep_emea_public")})
    assert refused["structuredContent"]["error"] == "not_found"


def test_ask_attention_answers_another_orgs_call_id_with_that_calls_not_found_only(matrix: Matrix) -> None:
    admin = authenticate(matrix.a.tokens["admin"])
    assert admin is not None
    args = {"prompt": "What did they say about pricing?", "conversation_ids": [matrix.a.call(), matrix.b.call()]}
    before = fingerprint()
    outcome = run(matrix.a, PERSONAS["admin"], "ask_attention", args)
    assert outcome.code == "ok"
    assert outcome.body is not None
    errors = {r["conversation_id"]: r["error"] for r in outcome.body["results"]}
    assert errors == {matrix.a.call(): None, matrix.b.call(): "not_found"}
    assert_no_canary(matrix, outcome, args)
    assert fingerprint() == before
