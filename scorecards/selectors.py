"""Reads for scorecards: definitions (org objects, readable by every member), results and summaries.

Results and summaries only ever count calls the actor can see (`calls_visible_to`), so a summary
never reveals anything about a call that search_calls would not return.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import (
    Avg,
    Count,
    Exists,
    F,
    FloatField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Cast

from accounts.errors import InvalidArgument, NotFound, parse_id
from accounts.models import Team, User
from accounts.permissions import Actor
from accounts.selectors import access_team, access_user
from attention_mcp.pagination import decode_text_id_cursor, encode_cursor
from calls.models import (
    Call,
    CallLabel,
    InteractionType,
    LabelCategory,
    LabelOption,
    Scorecard,
    ScorecardItem,
    ScorecardItemScore,
    ScorecardResult,
)
from calls.selectors import access_scorecard, calls_visible_to
from scorecards.schemas import (
    SUMMARY_FORMULA,
    ConditionOut,
    CriteriaOut,
    ItemSummary,
    PersonRef,
    Ref,
    RepSummary,
    ScorecardDetail,
    ScorecardItemDetail,
    ScorecardItemOut,
    ScorecardList,
    ScorecardOut,
    ScorecardResultOut,
    ScorecardSummary,
    ScoreOut,
)

# A summary names at most this many reps; narrower filters show the others.
SUMMARY_MAX_REPS = 50


def scorecards_of_org(*, actor: Actor) -> QuerySet[Scorecard]:
    return Scorecard.objects.filter(org_id=actor.org_id)


def access_scorecard_item(*, actor: Actor, scorecard: Scorecard, item_id: uuid.UUID | str) -> ScorecardItem:
    """An item of `scorecard` (which the caller already reached through access_scorecard); NotFound otherwise."""
    item = ScorecardItem.objects.filter(
        scorecard_id=scorecard.pk, scorecard__org_id=actor.org_id, pk=parse_id("scorecard item", item_id)
    ).first()
    if item is None:
        raise NotFound("scorecard item", item_id)
    return item


# --- criteria as stored: {"operator": "AND"|"OR", "conditions": [{"label_id": ..., "option_id": ...}]} ----------


def stored_conditions(criteria: Any) -> tuple[str, list[tuple[str, str]]]:
    """The operator and (label_id, option_id) pairs of stored criteria, tolerating rows edited by hand."""
    if not isinstance(criteria, dict):
        return "AND", []
    operator = "OR" if criteria.get("operator") == "OR" else "AND"
    pairs: list[tuple[str, str]] = []
    for condition in criteria.get("conditions") or []:
        if isinstance(condition, dict):
            pairs.append((str(condition.get("label_id", "")), str(condition.get("option_id", ""))))
    return operator, pairs


def _as_uuids(values: Iterable[str]) -> list[uuid.UUID]:
    out: list[uuid.UUID] = []
    for value in values:
        try:
            out.append(uuid.UUID(value))
        except ValueError:
            continue
    return out


def _label_names(org_id: uuid.UUID, scorecards: Iterable[Scorecard]) -> tuple[dict[str, str], dict[str, str]]:
    """Names of every label and option the scorecards' criteria mention, in two queries."""
    label_ids: set[str] = set()
    option_ids: set[str] = set()
    for scorecard in scorecards:
        for label_id, option_id in stored_conditions(scorecard.criteria)[1]:
            label_ids.add(label_id)
            option_ids.add(option_id)
    labels = {
        str(pk): name
        for pk, name in LabelCategory.objects.filter(org_id=org_id, pk__in=_as_uuids(label_ids)).values_list(
            "pk", "name"
        )
    }
    options = {
        str(pk): value
        for pk, value in LabelOption.objects.filter(category__org_id=org_id, pk__in=_as_uuids(option_ids)).values_list(
            "pk", "value"
        )
    }
    return labels, options


def _criteria_out(scorecard: Scorecard, labels: dict[str, str], options: dict[str, str]) -> CriteriaOut:
    operator, pairs = stored_conditions(scorecard.criteria)
    return CriteriaOut(
        operator=operator,
        conditions=[
            ConditionOut(
                label_id=label_id, label=labels.get(label_id), option_id=option_id, option=options.get(option_id)
            )
            for label_id, option_id in pairs
        ],
    )


def _with_relations(qs: QuerySet[Scorecard]) -> QuerySet[Scorecard]:
    return qs.prefetch_related(
        Prefetch("teams", queryset=Team.objects.order_by("path")),
        Prefetch("items", queryset=ScorecardItem.objects.order_by("position", "id")),
    )


def _scorecard_fields(scorecard: Scorecard, labels: dict[str, str], options: dict[str, str]) -> dict[str, Any]:
    items = list(scorecard.items.all())
    return {
        "id": str(scorecard.pk),
        "title": scorecard.title,
        "enabled": scorecard.enabled,
        "interaction_type": scorecard.interaction_type,
        "all_teams": scorecard.all_teams,
        "teams": [Ref(id=str(t.pk), name=t.name) for t in scorecard.teams.all()],
        "criteria": _criteria_out(scorecard, labels, options),
        "item_count": len(items),
        "total_weight": sum(i.weight for i in items),
        "created_at": scorecard.created_at.isoformat(),
    }


def _item_out(item: ScorecardItem) -> ScorecardItemOut:
    return ScorecardItemOut(
        id=str(item.pk),
        title=item.title,
        position=item.position,
        weight=item.weight,
        min_score=item.min_score,
        middle_score=item.middle_score,
        max_score=item.max_score,
        min_criteria=item.min_criteria,
        middle_criteria=item.middle_criteria,
        max_criteria=item.max_criteria,
    )


def scorecard_list(*, actor: Actor, page_size: int = 20, cursor: str | None = None) -> ScorecardList:
    """The organisation's scorecards by title (every member may read them), a page at a time."""
    qs = scorecards_of_org(actor=actor)
    position = decode_text_id_cursor(cursor, kind="scorecards", text_key="t")
    if position is not None:
        title, after_id = position
        qs = qs.filter(Q(title__gt=title) | Q(title=title, id__gt=after_id))
    page = list(_with_relations(qs.order_by("title", "id"))[: page_size + 1])
    more = len(page) > page_size
    page = page[:page_size]
    labels, options = _label_names(actor.org_id, page)
    next_cursor = None
    if more and page:
        next_cursor = encode_cursor({"k": "scorecards", "t": page[-1].title, "i": str(page[-1].pk)})
    return ScorecardList(
        scorecards=[ScorecardOut(**_scorecard_fields(s, labels, options)) for s in page], next_cursor=next_cursor
    )


def scorecard_detail(*, actor: Actor, scorecard_id: uuid.UUID | str) -> ScorecardDetail:
    """One scorecard of the actor's organisation with its items in order; NotFound for any other id."""
    found = access_scorecard(actor=actor, scorecard_id=scorecard_id)
    scorecard = _with_relations(Scorecard.objects.filter(pk=found.pk)).get()
    labels, options = _label_names(actor.org_id, [scorecard])
    return ScorecardDetail(
        **_scorecard_fields(scorecard, labels, options),
        scorecard_prompt=scorecard.prompt,
        instructions=scorecard.instructions,
        expert_mode=scorecard.expert_mode,
        items=[_item_out(i) for i in scorecard.items.all()],
    )


def scorecard_item_detail(
    *, actor: Actor, scorecard_id: uuid.UUID | str, item_id: uuid.UUID | str
) -> ScorecardItemDetail:
    item = access_scorecard_item(
        actor=actor, scorecard=access_scorecard(actor=actor, scorecard_id=scorecard_id), item_id=item_id
    )
    return ScorecardItemDetail(**_item_out(item).model_dump(), scorecard_id=str(item.scorecard_id))


# --- which calls a scorecard applies to ---------------------------------------------------------------------------


def scorecard_refusal(*, scorecard: Scorecard, call: Call) -> str | None:
    """Why `scorecard` does not apply to `call` (a sentence for the caller), or None when it applies.

    Teams include their sub-teams; label criteria compare the call's current labels.
    """
    if scorecard.interaction_type == InteractionType.EXTERNAL and call.is_internal:
        return "The scorecard applies to external calls only, and this call is an internal meeting."
    if scorecard.interaction_type == InteractionType.INTERNAL and not call.is_internal:
        return "The scorecard applies to internal meetings only, and this call has external participants."
    if not scorecard.all_teams:
        paths = list(scorecard.teams.values_list("path", flat=True))
        team_path = (
            Team.objects.filter(pk=call.team_id).values_list("path", flat=True).first() if call.team_id else None
        )
        if team_path is None or not any(team_path.startswith(p) for p in paths):
            return "The scorecard applies only to calls of its teams (and their sub-teams), and this call is not one."
    operator, pairs = stored_conditions(scorecard.criteria)
    if pairs:
        on_call = {(str(c), str(o)) for c, o in CallLabel.objects.filter(call=call).values_list("category", "option")}
        hits = [pair in on_call for pair in pairs]
        if not (any(hits) if operator == "OR" else all(hits)):
            how = "any" if operator == "OR" else "all"
            return f"The scorecard applies only to calls matching {how} of its label criteria, and this call does not."
    return None


# --- results ------------------------------------------------------------------------------------------------------


def _normalised() -> Any:
    """An item score's place on its item's scale, 0.0 (min) to 1.0 (max); max > min is a database constraint."""
    return Cast(F("score") - F("item__min_score"), FloatField()) / Cast(
        F("item__max_score") - F("item__min_score"), FloatField()
    )


def _result_score() -> Subquery:
    """A result's weighted score, 0-100, as a subquery on the outer result's pk (null with no item scored)."""
    weighted = (
        ScorecardItemScore.objects.filter(result_id=OuterRef("pk"))
        .values("result_id")
        .annotate(
            value=100.0
            * Sum(Cast(F("item__weight"), FloatField()) * _normalised())
            / Cast(Sum("item__weight"), FloatField())
        )
        .values("value")
    )
    return Subquery(weighted, output_field=FloatField())


def _person(user: User) -> PersonRef:
    return PersonRef(id=str(user.pk), name=user.full_name, email=user.email)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _call_url(call_id: uuid.UUID) -> str:
    return f"{settings.WEB_APP_BASE_URL}/calls/{call_id}"


def scorecard_result_detail(*, actor: Actor, result_id: uuid.UUID | str) -> ScorecardResultOut:
    """One result on a call the actor can see; NotFound otherwise."""
    visible = calls_visible_to(actor=actor, include_archived=True)
    result = (
        ScorecardResult.objects.filter(pk=parse_id("scorecard result", result_id), call__in=visible.values("pk"))
        .select_related("scorecard", "call", "created_by")
        .annotate(weighted_score=_result_score())
        .prefetch_related(
            Prefetch(
                "scores", queryset=ScorecardItemScore.objects.select_related("item").order_by("item__position", "id")
            )
        )
        .first()
    )
    if result is None:
        raise NotFound("scorecard result", result_id)
    return ScorecardResultOut(
        id=str(result.pk),
        scorecard=Ref(id=str(result.scorecard.pk), name=result.scorecard.title),
        conversation_id=str(result.call.pk),
        conversation_title=result.call.title,
        conversation_url=_call_url(result.call.pk),
        summary=result.summary,
        created_by=_person(result.created_by) if result.created_by else None,
        created_at=result.created_at.isoformat(),
        score=_round(result.weighted_score),
        scores=[
            ScoreOut(
                item_id=str(s.item.pk),
                title=s.item.title,
                weight=s.item.weight,
                score=s.score,
                min_score=s.item.min_score,
                max_score=s.item.max_score,
                description=s.description,
            )
            for s in result.scores.all()
        ],
    )


# --- summary ------------------------------------------------------------------------------------------------------


def _latest_results(*, scorecard: Scorecard, calls: QuerySet[Call]) -> QuerySet[ScorecardResult]:
    """The newest result per call of `calls` (a later rescoring replaces an earlier one; ties go to the larger id)."""
    newer = ScorecardResult.objects.filter(scorecard_id=OuterRef("scorecard_id"), call_id=OuterRef("call_id")).filter(
        Q(created_at__gt=OuterRef("created_at")) | Q(created_at=OuterRef("created_at"), id__gt=OuterRef("id"))
    )
    return ScorecardResult.objects.filter(scorecard=scorecard, call__in=calls.values("pk")).exclude(Exists(newer))


def scorecard_summary(
    *,
    actor: Actor,
    scorecard_id: uuid.UUID | str,
    from_date: date | None = None,
    to_date: date | None = None,
    user_ids: list[uuid.UUID] | None = None,
    team_ids: list[uuid.UUID] | None = None,
    include_archived: bool = False,
) -> ScorecardSummary:
    """Averages per item and per rep over the latest result of every call the actor can see (SQL aggregates).

    Filters: call date (UTC, inclusive), call owners, call teams (sub-teams included). Ids of other
    organisations are NotFound.
    """
    scorecard = access_scorecard(actor=actor, scorecard_id=scorecard_id)
    if from_date and to_date and from_date > to_date:
        raise InvalidArgument("from_date", "from_date must not be after to_date.")
    calls = calls_visible_to(actor=actor, include_archived=include_archived)
    if from_date:
        calls = calls.filter(started_at__gte=datetime.combine(from_date, time.min, tzinfo=UTC))
    if to_date and to_date < date.max:
        calls = calls.filter(started_at__lt=datetime.combine(to_date + timedelta(days=1), time.min, tzinfo=UTC))
    if user_ids:
        calls = calls.filter(owner_id__in=[access_user(actor=actor, user_id=u).pk for u in user_ids])
    if team_ids:
        scope = Q()
        for team_id in team_ids:
            scope |= Q(team__path__startswith=access_team(actor=actor, team_id=team_id).path)
        calls = calls.filter(scope)

    latest = _latest_results(scorecard=scorecard, calls=calls).annotate(weighted_score=_result_score())
    totals = latest.aggregate(calls=Count("id"), overall=Avg("weighted_score"))

    scores = ScorecardItemScore.objects.filter(result__in=latest.values("pk"))
    per_item = {
        row["item_id"]: row
        for row in scores.values("item_id").annotate(n=Count("id"), avg=Avg("score"), pct=Avg(_normalised()) * 100.0)
    }
    items = list(ScorecardItem.objects.filter(scorecard=scorecard).order_by("position", "id"))

    rep_rows = list(
        latest.values("call__owner_id")
        .annotate(n=Count("id"), overall=Avg("weighted_score"))
        .order_by("-n", "call__owner_id")[:SUMMARY_MAX_REPS]
    )
    reps_total = (
        latest.values("call__owner_id").distinct().count() if len(rep_rows) >= SUMMARY_MAX_REPS else len(rep_rows)
    )
    owner_ids = [row["call__owner_id"] for row in rep_rows]
    users = User.objects.in_bulk(owner_ids)
    rep_item: dict[tuple[uuid.UUID, uuid.UUID], float] = {
        (row["result__call__owner_id"], row["item_id"]): row["avg"]
        for row in scores.filter(result__call__owner_id__in=owner_ids)
        .values("result__call__owner_id", "item_id")
        .annotate(avg=Avg("score"))
    }

    return ScorecardSummary(
        scorecard=Ref(id=str(scorecard.pk), name=scorecard.title),
        from_date=from_date.isoformat() if from_date else None,
        to_date=to_date.isoformat() if to_date else None,
        formula=SUMMARY_FORMULA,
        calls_scored=totals["calls"],
        overall_score=_round(totals["overall"]),
        items=[
            ItemSummary(
                item_id=str(item.pk),
                title=item.title,
                weight=item.weight,
                min_score=item.min_score,
                max_score=item.max_score,
                calls_scored=per_item[item.pk]["n"] if item.pk in per_item else 0,
                average_score=_round(per_item[item.pk]["avg"]) if item.pk in per_item else None,
                average_percent=_round(per_item[item.pk]["pct"]) if item.pk in per_item else None,
            )
            for item in items
        ],
        reps=[
            RepSummary(
                user=_person(users[row["call__owner_id"]]),
                calls_scored=row["n"],
                overall_score=_round(row["overall"]),
                item_averages=[_round(rep_item.get((row["call__owner_id"], item.pk))) for item in items],
            )
            for row in rep_rows
        ],
        reps_total=reps_total,
    )
