"""Reads for deals and the usage report.

Deals are CRM objects shared by the whole organisation: everyone in it may list and open every
deal (as `calls.selectors.access_deal` already decides for search_calls' deal_id), but the calls
linked to a deal, and every count or date derived from them, only ever cover the calls the caller
can see (`calls_visible_to`). A rep therefore learns that a deal exists, never what was said on a
call that is hidden from them, nor how many such calls there are.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.errors import InvalidArgument, PermissionDenied
from accounts.models import User
from accounts.permissions import Actor
from accounts.selectors import access_team, access_user
from attention_mcp.pagination import decode_cursor, decode_text_id_cursor, encode_cursor
from calls.models import Deal
from calls.schemas import PersonRef, Ref
from calls.selectors import access_deal, call_search, calls_visible_to
from deals.schemas import DealDetail, DealOut, DealPage, RepUsage, UsageReport, UsageTotals

USAGE_DEFAULT_DAYS = 30
USAGE_MAX_DAYS = 366


def deal_url(deal_id: uuid.UUID) -> str:
    return f"{settings.WEB_APP_BASE_URL}/deals/{deal_id}"


def _bad_cursor() -> InvalidArgument:
    return InvalidArgument("cursor", "The cursor is not one this server issued.")


def _person(user: User | None) -> PersonRef | None:
    return PersonRef(id=str(user.pk), name=user.full_name, email=user.email) if user is not None else None


def _visible_call_stats(*, actor: Actor, deal_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, tuple[int, datetime]]:
    """Per deal: how many of its calls the actor can see and when the latest started (one grouped query)."""
    rows = (
        calls_visible_to(actor=actor)
        .filter(deal_id__in=list(deal_ids))
        .order_by()
        .values("deal_id")
        .annotate(n=Count("pk"), last=Max("started_at"))
    )
    return {row["deal_id"]: (row["n"], row["last"]) for row in rows}


def _deal_out(deal: Deal, stats: dict[uuid.UUID, tuple[int, datetime]]) -> DealOut:
    count, last = stats.get(deal.pk, (0, None))
    return DealOut(
        id=str(deal.pk),
        name=deal.name,
        stage=deal.stage,
        amount=str(deal.amount) if deal.amount is not None else None,
        owner=_person(deal.owner),
        crm_id=deal.crm_id,
        call_count=count,
        last_call_at=last.isoformat() if last is not None else None,
        url=deal_url(deal.pk),
    )


def deals_page(
    *,
    actor: Actor,
    query: str | None = None,
    owner_id: uuid.UUID | str | None = None,
    stage: str | None = None,
    page_size: int = 20,
    cursor: str | None = None,
) -> DealPage:
    """The organisation's deals by name (every member may list them), with counts of the actor's visible calls.

    An `owner_id` of another organisation is NotFound, as everywhere.
    """
    qs = Deal.objects.filter(org_id=actor.org_id)
    text = " ".join((query or "").split())
    if text:
        qs = qs.filter(Q(name__icontains=text) | Q(crm_id__icontains=text))
    if owner_id is not None:
        qs = qs.filter(owner_id=access_user(actor=actor, user_id=owner_id).pk)
    wanted_stage = " ".join((stage or "").split())
    if wanted_stage:
        qs = qs.filter(stage__iexact=wanted_stage)
    position = decode_text_id_cursor(cursor, kind="deals", text_key="n")
    if position is not None:
        after_name, after_uuid = position
        qs = qs.filter(Q(name__gt=after_name) | Q(name=after_name, id__gt=after_uuid))
    page = list(qs.select_related("owner").order_by("name", "id")[: page_size + 1])
    more = len(page) > page_size
    page = page[:page_size]
    stats = _visible_call_stats(actor=actor, deal_ids=[d.pk for d in page])
    next_cursor = None
    if more and page:
        next_cursor = encode_cursor({"k": "deals", "n": page[-1].name, "i": str(page[-1].pk)})
    return DealPage(deals=[_deal_out(d, stats) for d in page], next_cursor=next_cursor)


def deal_detail(
    *, actor: Actor, deal_id: uuid.UUID | str, page_size: int = 20, cursor: str | None = None
) -> DealDetail:
    """One deal of the organisation with a page of its calls the actor can see (search_calls' shape)."""
    deal = access_deal(actor=actor, deal_id=deal_id)
    stats = _visible_call_stats(actor=actor, deal_ids=[deal.pk])
    calls = call_search(actor=actor, deal_id=deal.pk, page_size=page_size, cursor=cursor)
    return DealDetail(
        **_deal_out(deal, stats).model_dump(),
        crm_fields=dict(deal.crm_fields) if isinstance(deal.crm_fields, dict) else {},
        created_at=deal.created_at.isoformat(),
        calls=calls.calls,
        next_cursor=calls.next_cursor,
    )


# --- the usage report ----------------------------------------------------------------------------------------------


def _shift(day: date, days: int) -> date:
    """`day` moved by `days`, pinned to the calendar's ends instead of overflowing."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def _report_window(from_date: date | None, to_date: date | None) -> tuple[date, date]:
    today = timezone.now().astimezone(UTC).date()
    if to_date is None:
        # An open end runs to today, but never past the longest window nor before the start.
        to_date = today if from_date is None else max(from_date, min(today, _shift(from_date, USAGE_MAX_DAYS - 1)))
    if from_date is None:
        from_date = _shift(to_date, -(USAGE_DEFAULT_DAYS - 1))
    if from_date > to_date:
        raise InvalidArgument("from_date", "from_date must not be after to_date.")
    if (to_date - from_date).days + 1 > USAGE_MAX_DAYS:
        raise InvalidArgument("from_date", f"The report covers at most {USAGE_MAX_DAYS} days; narrow the dates.")
    return from_date, to_date


def usage_report(
    *,
    actor: Actor,
    from_date: date | None = None,
    to_date: date | None = None,
    team_id: uuid.UUID | str | None = None,
    page_size: int = 20,
    cursor: str | None = None,
) -> UsageReport:
    """Calls and recorded minutes per call owner, for managers, admins and org-wide credentials.

    Counts only calls the actor can see (a manager: essentially his teams' and sub-teams' calls),
    archived ones included since archiving hides a call, it does not undo the recording.
    Days are UTC; `team_id` keeps calls recorded under that team or its sub-teams.
    """
    if not (actor.is_admin or actor.is_manager):
        raise PermissionDenied("admin_required", "The usage report is only for managers and admins.")
    start_day, end_day = _report_window(from_date, to_date)
    qs = calls_visible_to(actor=actor, include_archived=True).filter(
        started_at__gte=datetime.combine(start_day, time.min, tzinfo=UTC)
    )
    if end_day < date.max:
        qs = qs.filter(started_at__lt=datetime.combine(end_day + timedelta(days=1), time.min, tzinfo=UTC))
    team = None
    if team_id is not None:
        team = access_team(actor=actor, team_id=team_id)
        qs = qs.filter(team__path__startswith=team.path)

    position = decode_cursor(cursor, kind="usage")
    offset = 0
    if position is not None:
        offset = position.get("o", -1)
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise _bad_cursor()

    external = Count("pk", filter=Q(is_internal=False))
    totals = qs.order_by().aggregate(
        calls=Count("pk"),
        external=external,
        seconds=Coalesce(Sum("duration_s"), 0),
        reps=Count("owner_id", distinct=True),
    )
    rows = list(
        qs.order_by()
        .values("owner_id")
        .annotate(calls=Count("pk"), external=external, seconds=Coalesce(Sum("duration_s"), 0))
        .order_by("-calls", "-seconds", "owner_id")[offset : offset + page_size + 1]
    )
    more = len(rows) > page_size
    rows = rows[:page_size]
    owners = User.objects.in_bulk([row["owner_id"] for row in rows])
    reps = []
    for row in rows:
        person = _person(owners[row["owner_id"]])
        assert person is not None  # calls always have an owner (PROTECT)
        reps.append(
            RepUsage(
                rep=person,
                calls=row["calls"],
                external_calls=row["external"],
                duration_s=row["seconds"],
                minutes=round(row["seconds"] / 60, 1),
            )
        )
    return UsageReport(
        from_date=start_day.isoformat(),
        to_date=end_day.isoformat(),
        team=Ref(id=str(team.pk), name=team.name) if team is not None else None,
        totals=UsageTotals(
            calls=totals["calls"],
            external_calls=totals["external"],
            duration_s=totals["seconds"],
            minutes=round(totals["seconds"] / 60, 1),
            reps=totals["reps"],
        ),
        reps=reps,
        next_cursor=encode_cursor({"k": "usage", "o": offset + len(rows)}) if more and rows else None,
    )
