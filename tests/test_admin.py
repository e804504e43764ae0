"""The operators' admin: every page renders, and writes go through the services."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.db import connection
from django.db.models import Model
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership, Organization, Role, RoleType, Team, User
from accounts.permissions import Actor
from accounts.services import membership_add, organization_create, team_create
from calls.models import (
    Call,
    CallLabel,
    Deal,
    ForecastCategory,
    Insight,
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

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashers")]
pytest_plugins = ["tests.support.oauth_fixtures"]  # fast_hashers: no live server here verifies these hashes


@dataclass
class Acme:
    org: Organization
    operator: User
    admin: User
    rep: User
    sales: Team
    emea: Team
    call: Call
    other_call: Call


def _role(org: Organization, role_type: str) -> Role:
    return Role.objects.get(org=org, type=role_type)


@pytest.fixture
def acme() -> Acme:
    """One organisation with a row in every table the admin shows, and an operator (superuser, no org)."""
    org = organization_create(name="Acme", slug="acme", email_domains=["acme.example"])
    actor = Actor.org_wide(org.pk, via="system")
    sales = team_create(actor=actor, name="Sales")
    emea = team_create(actor=actor, name="EMEA", parent_team_id=sales.pk)
    operator = User.objects.create_superuser("operator@ops.example", "operator-pass")
    ada = User.objects.create_user("ada@acme.example", "pw", org=org, first_name="Ada", last_name="Admin")
    ada.roles.add(_role(org, RoleType.ADMIN))
    rex = User.objects.create_user("rex@acme.example", "pw", org=org, first_name="Rex", last_name="Rep")
    rex.roles.add(_role(org, RoleType.SALES_REP))
    membership_add(actor=actor, team_id=emea.pk, user_id=rex.pk)

    deal = Deal.objects.create(org=org, name="Globex renewal", stage="proposal", owner=rex)
    now = timezone.now()
    call = Call.objects.create(
        org=org, owner=rex, team=emea, title="Discovery with Globex", started_at=now, duration_s=1800, deal=deal
    )
    other_call = Call.objects.create(
        org=org, owner=rex, team=emea, title="Pricing review", started_at=now - dt.timedelta(days=1), duration_s=600
    )
    Participant.objects.create(call=call, name="Rex Rep", email=rex.email, affiliation="internal", user=rex)
    Participant.objects.create(call=call, name="Casey", email="casey@globex.example", affiliation="external")
    TranscriptSegment.objects.bulk_create(
        TranscriptSegment(
            call=call,
            position=i,
            speaker="Rex" if i % 2 else "Casey",
            start_s=i * 10,
            end_s=i * 10 + 9,
            text=f"line {i}",
        )
        for i in range(25)
    )
    Insight.objects.create(call=call, summary="Globex wants a discount.", topics=["pricing"])
    category = LabelCategory.objects.create(org=org, name="Call Type")
    category.teams.add(sales)
    option = LabelOption.objects.create(category=category, value="Discovery")
    CallLabel.objects.create(call=call, category=category, option=option)
    scorecard = Scorecard.objects.create(org=org, title="Discovery quality")
    item = ScorecardItem.objects.create(scorecard=scorecard, title="Asked about budget")
    result = ScorecardResult.objects.create(scorecard=scorecard, call=call, created_by=ada)
    ScorecardItemScore.objects.create(result=result, item=item, score=4)
    Snippet.objects.create(call=call, owner=rex, title="The discount ask", share_code="share-1", start_s=10, end_s=30)
    ForecastCategory.objects.create(org=org, column_key="commit", label="Commit")
    session = SuperAgentSession.objects.create(org=org, user=rex, title="Globex prep")
    SuperAgentMessage.objects.create(session=session, role="user", content="What did Globex ask for?")
    Invitation.objects.create(
        org=org,
        email="new@acme.example",
        team=sales,
        role=_role(org, RoleType.SALES_REP),
        invited_by=ada,
        expires_at=now + dt.timedelta(days=7),
    )
    return Acme(
        org=org, operator=operator, admin=ada, rep=rex, sales=sales, emea=emea, call=call, other_call=other_call
    )


@pytest.fixture
def operator_client(client: Client, acme: Acme) -> Client:
    client.force_login(acme.operator)
    return client


def _url(model: type[Model], view: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _form_data(response: Any) -> dict[str, Any]:
    """The POST a browser would send for the change form in `response`, unchanged."""
    forms = [response.context["adminform"].form]
    data: dict[str, Any] = {}
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        forms.extend(inline.formset.forms)
    for form in forms:
        for name, field in form.fields.items():
            value = form[name].value()
            if field.disabled or value is None or value is False:
                continue
            if value is True:
                data[form.add_prefix(name)] = "on"
            elif isinstance(value, list | tuple):
                data[form.add_prefix(name)] = [str(v) for v in value]
            else:
                data[form.add_prefix(name)] = str(value)
    return data


def _messages(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- every page renders -----------------------------------------------------------------------


def test_every_registered_model_renders_its_changelist_search_add_and_change_pages(
    operator_client: Client, acme: Acme
) -> None:
    without_rows = []
    for model, model_admin in admin.site._registry.items():
        changelist = _url(model, "changelist")
        assert operator_client.get(changelist).status_code == 200, changelist
        # Search fields are only resolved when a search runs: try text and an id.
        for term in ("acme", str(uuid.uuid4())):
            response = operator_client.get(changelist, {"q": term})
            assert response.status_code == 200, (changelist, term)
        add = operator_client.get(_url(model, "add"))
        assert add.status_code == (200 if model_admin.has_add_permission(add.wsgi_request) else 403), model
        obj = model._default_manager.first()
        if obj is None:
            without_rows.append(model._meta.label)
            continue
        change = _url(model, "change", obj.pk)
        assert operator_client.get(change).status_code == 200, change
    ours = [label for label in without_rows if label.split(".")[0] in {"accounts", "calls"}]
    assert ours == []


def test_every_model_of_accounts_and_calls_is_registered() -> None:
    from django.apps import apps

    for app_label in ("accounts", "calls"):
        for model in apps.get_app_config(app_label).get_models():
            assert admin.site.is_registered(model), model


def test_site_header_names_the_operators_admin(operator_client: Client) -> None:
    assert "Attention MCP — operators" in operator_client.get(reverse("admin:index")).content.decode()


def test_non_staff_user_is_redirected_to_login(client: Client, acme: Acme) -> None:
    client.force_login(acme.rep)
    response = client.get(_url(Call, "changelist"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# --- search -----------------------------------------------------------------------------------


def test_call_search_finds_by_title_and_by_id(operator_client: Client, acme: Acme) -> None:
    by_title = operator_client.get(_url(Call, "changelist"), {"q": "globex"})
    assert list(by_title.context["cl"].result_list) == [acme.call]
    by_id = operator_client.get(_url(Call, "changelist"), {"q": str(acme.other_call.pk)})
    assert list(by_id.context["cl"].result_list) == [acme.other_call]


def test_user_search_finds_by_email(operator_client: Client, acme: Acme) -> None:
    response = operator_client.get(_url(User, "changelist"), {"q": "rex@acme"})
    assert list(response.context["cl"].result_list) == [acme.rep]


def test_segments_list_filters_by_call_in_transcript_order(operator_client: Client, acme: Acme) -> None:
    response = operator_client.get(_url(TranscriptSegment, "changelist"), {"call": str(acme.call.pk)})
    assert [s.position for s in response.context["cl"].result_list] == list(range(25))
    assert operator_client.get(_url(TranscriptSegment, "changelist"), {"call": "junk"}).status_code == 200


def test_call_change_page_previews_the_transcript_instead_of_inlining_it(operator_client: Client, acme: Acme) -> None:
    content = operator_client.get(_url(Call, "change", acme.call.pk)).content.decode()
    assert "25 segments" in content
    assert "line 19" in content
    assert "line 20" not in content


def test_big_lists_issue_the_same_queries_however_many_rows_they_show(operator_client: Client, acme: Acme) -> None:
    pages = [_url(m, "changelist") for m in (Call, Participant, TranscriptSegment, User, Membership, Team, Snippet)]

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert operator_client.get(url).status_code == 200
        return len(captured)

    before = {url: queries(url) for url in pages}
    actor = Actor.org_wide(acme.org.pk, via="system")
    for i in range(5):
        team = team_create(actor=actor, name=f"Team {i}", parent_team_id=acme.sales.pk)
        owner = User.objects.create_user(f"owner{i}@acme.example", "pw", org=acme.org)
        membership_add(actor=actor, team_id=team.pk, user_id=owner.pk)
        call = Call.objects.create(org=acme.org, owner=owner, team=team, title=f"Call {i}", started_at=timezone.now())
        Participant.objects.create(call=call, name=f"Owner {i}", affiliation="internal", user=owner)
        TranscriptSegment.objects.create(call=call, position=0, speaker="Owner", start_s=0, end_s=1, text="hi")
        Snippet.objects.create(call=call, owner=owner, title=f"Snippet {i}", share_code=f"code-{i}")

    assert {url: queries(url) for url in pages} == before


def test_adding_an_organisation_creates_its_roles(operator_client: Client) -> None:
    response = operator_client.post(
        _url(Organization, "add"), {"name": "Globex", "slug": "globex", "email_domains": '["Globex.example"]'}
    )
    assert response.status_code == 302
    globex = Organization.objects.get(slug="globex")
    assert globex.email_domains == ["globex.example"]
    assert set(globex.roles.values_list("type", flat=True)) == set(RoleType)


# --- teams ------------------------------------------------------------------------------------


def test_adding_a_team_prefixes_the_org_name_and_computes_its_path(operator_client: Client, acme: Acme) -> None:
    response = operator_client.post(
        _url(Team, "add"), {"org": str(acme.org.pk), "name": "  Benelux ", "parent": str(acme.emea.pk)}
    )
    assert response.status_code == 302
    team = Team.objects.get(org=acme.org, name="[Acme] Benelux")
    assert team.parent == acme.emea
    assert team.path == f"{acme.emea.path}{team.pk.hex}/"


def test_moving_a_team_under_its_own_child_is_a_form_error_and_changes_nothing(
    operator_client: Client, acme: Acme
) -> None:
    change = _url(Team, "change", acme.sales.pk)
    data = _form_data(operator_client.get(change))
    data["parent"] = str(acme.emea.pk)

    response = operator_client.post(change, data)

    assert response.status_code == 200
    assert "parent" in response.context["adminform"].form.errors
    acme.sales.refresh_from_db()
    acme.emea.refresh_from_db()
    assert acme.sales.parent is None
    assert acme.sales.path == f"/{acme.sales.pk.hex}/"
    assert acme.emea.path == f"/{acme.sales.pk.hex}/{acme.emea.pk.hex}/"


def test_renaming_a_team_goes_through_the_service(operator_client: Client, acme: Acme) -> None:
    change = _url(Team, "change", acme.emea.pk)
    data = _form_data(operator_client.get(change))
    data["name"] = "Europe"
    data["parent"] = ""

    assert operator_client.post(change, data).status_code == 302

    acme.emea.refresh_from_db()
    assert acme.emea.name == "[Acme] Europe"
    assert acme.emea.parent is None
    assert acme.emea.path == f"/{acme.emea.pk.hex}/"


def test_a_team_name_taken_in_the_org_is_a_form_error(operator_client: Client, acme: Acme) -> None:
    response = operator_client.post(_url(Team, "add"), {"org": str(acme.org.pk), "name": "Sales", "parent": ""})
    assert response.status_code == 200
    assert "name" in response.context["adminform"].form.errors
    assert Team.objects.filter(org=acme.org).count() == 2


def test_a_parent_team_from_another_org_is_a_form_error(operator_client: Client, acme: Acme) -> None:
    other = organization_create(name="Globex", slug="globex", email_domains=[])
    foreign = team_create(actor=Actor.org_wide(other.pk, via="system"), name="Ops")
    response = operator_client.post(
        _url(Team, "add"), {"org": str(acme.org.pk), "name": "Ops", "parent": str(foreign.pk)}
    )
    assert response.status_code == 200
    assert "parent" in response.context["adminform"].form.errors
    assert not Team.objects.filter(org=acme.org, name="[Acme] Ops").exists()


def test_archive_action_archives_teams(operator_client: Client, acme: Acme) -> None:
    response = operator_client.post(
        _url(Team, "changelist"), {"action": "archive_teams", "_selected_action": [str(acme.emea.pk)]}
    )
    assert response.status_code == 302
    acme.emea.refresh_from_db()
    assert acme.emea.archived


# --- users ------------------------------------------------------------------------------------


def test_deactivate_action_deactivates_a_user(operator_client: Client, acme: Acme) -> None:
    changelist = _url(User, "changelist")
    response = operator_client.post(changelist, {"action": "deactivate_users", "_selected_action": [str(acme.rep.pk)]})
    assert response.status_code == 302
    acme.rep.refresh_from_db()
    assert acme.rep.deactivated_at is not None

    operator_client.post(changelist, {"action": "reactivate_users", "_selected_action": [str(acme.rep.pk)]})
    acme.rep.refresh_from_db()
    assert acme.rep.deactivated_at is None


def test_deactivate_action_refuses_the_orgs_last_admin(operator_client: Client, acme: Acme) -> None:
    response = operator_client.post(
        _url(User, "changelist"),
        {"action": "deactivate_users", "_selected_action": [str(acme.admin.pk), str(acme.operator.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    text = " ".join(_messages(response))
    assert "last active admin" in text
    assert "without an organisation" in text
    acme.admin.refresh_from_db()
    acme.operator.refresh_from_db()
    assert acme.admin.deactivated_at is None
    assert acme.operator.deactivated_at is None


def test_taking_the_last_admins_role_away_is_a_form_error(operator_client: Client, acme: Acme) -> None:
    change = _url(User, "change", acme.admin.pk)
    data = _form_data(operator_client.get(change))
    data["roles"] = []

    response = operator_client.post(change, data)

    assert response.status_code == 200
    assert "roles" in response.context["adminform"].form.errors
    assert acme.admin.roles.filter(type=RoleType.ADMIN).exists()


def test_granting_a_role_goes_through_the_service(operator_client: Client, acme: Acme) -> None:
    change = _url(User, "change", acme.rep.pk)
    data = _form_data(operator_client.get(change))
    data["roles"] = [str(_role(acme.org, RoleType.SALES_REP).pk), str(_role(acme.org, RoleType.MANAGER).pk)]

    assert operator_client.post(change, data).status_code == 302

    assert set(acme.rep.roles.values_list("type", flat=True)) == {RoleType.SALES_REP, RoleType.MANAGER}


def test_adding_a_user_hashes_the_password_and_lowercases_the_email(operator_client: Client, acme: Acme) -> None:
    response = operator_client.post(
        _url(User, "add"),
        {
            "email": "Nina@Acme.example",
            "org": str(acme.org.pk),
            "first_name": "Nina",
            "last_name": "New",
            "seat_type": "listener",
            "usable_password": "true",
            "password1": "a-long-Passphrase-42",
            "password2": "a-long-Passphrase-42",
        },
    )
    assert response.status_code == 302
    nina = User.objects.get(email="nina@acme.example")
    assert nina.org == acme.org
    assert nina.seat_type == "listener"
    assert nina.check_password("a-long-Passphrase-42")


def test_user_change_page_links_to_the_password_form(operator_client: Client, acme: Acme) -> None:
    content = operator_client.get(_url(User, "change", acme.rep.pk)).content.decode()
    assert "../password/" in content
    assert operator_client.get(reverse("admin:auth_user_password_change", args=[acme.rep.pk])).status_code == 200


# --- memberships ------------------------------------------------------------------------------


def test_a_second_primary_membership_leaves_exactly_one_primary(operator_client: Client, acme: Acme) -> None:
    response = operator_client.post(
        _url(Membership, "add"), {"user": str(acme.rep.pk), "team": str(acme.sales.pk), "make_primary": "on"}
    )
    assert response.status_code == 302
    memberships = Membership.objects.filter(user=acme.rep)
    assert memberships.count() == 2
    assert list(memberships.filter(primary=True).values_list("team_id", flat=True)) == [acme.sales.pk]


def test_a_membership_in_another_orgs_team_is_a_form_error(operator_client: Client, acme: Acme) -> None:
    other = organization_create(name="Globex", slug="globex", email_domains=[])
    foreign = team_create(actor=Actor.org_wide(other.pk, via="system"), name="Ops")
    response = operator_client.post(_url(Membership, "add"), {"user": str(acme.rep.pk), "team": str(foreign.pk)})
    assert response.status_code == 200
    assert "user" in response.context["adminform"].form.errors
    assert not Membership.objects.filter(team=foreign).exists()


def test_deleting_the_primary_membership_promotes_another(operator_client: Client, acme: Acme) -> None:
    operator_client.post(_url(Membership, "add"), {"user": str(acme.rep.pk), "team": str(acme.sales.pk)})
    primary = Membership.objects.get(user=acme.rep, primary=True)
    assert primary.team == acme.emea

    response = operator_client.post(_url(Membership, "delete", primary.pk), {"post": "yes"})

    assert response.status_code == 302
    remaining = Membership.objects.get(user=acme.rep)
    assert remaining.team == acme.sales
    assert remaining.primary


def test_making_a_membership_primary_on_its_change_page(operator_client: Client, acme: Acme) -> None:
    operator_client.post(_url(Membership, "add"), {"user": str(acme.rep.pk), "team": str(acme.sales.pk)})
    second = Membership.objects.get(user=acme.rep, team=acme.sales)
    assert not second.primary

    response = operator_client.post(_url(Membership, "change", second.pk), {"make_primary": "on"})

    assert response.status_code == 302
    assert list(Membership.objects.filter(user=acme.rep, primary=True)) == [second]


# --- calls ------------------------------------------------------------------------------------


def test_calls_cannot_be_added_in_the_admin(operator_client: Client) -> None:
    assert operator_client.get(_url(Call, "add")).status_code == 403


def test_call_archive_and_restore_actions(operator_client: Client, acme: Acme) -> None:
    changelist = _url(Call, "changelist")
    selected = [str(acme.call.pk), str(acme.other_call.pk)]

    response = operator_client.post(changelist, {"action": "archive_calls", "_selected_action": selected})
    assert response.status_code == 302
    assert Call.objects.filter(archived=True).count() == 2

    operator_client.post(changelist, {"action": "restore_calls", "_selected_action": [str(acme.call.pk)]})
    assert list(Call.objects.filter(archived=True)) == [acme.other_call]


def test_changing_a_calls_title_goes_through_the_service(operator_client: Client, acme: Acme) -> None:
    change = _url(Call, "change", acme.call.pk)
    data = _form_data(operator_client.get(change))
    data["title"] = "Discovery   call with   Globex"
    data["private"] = "on"

    assert operator_client.post(change, data).status_code == 302

    acme.call.refresh_from_db()
    assert acme.call.title == "Discovery call with Globex"
    assert acme.call.private
    assert acme.call.duration_s == 1800
