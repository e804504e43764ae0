"""Writes for scorecards: definitions and items (admins and org-level keys), results (anyone who sees the call).

Every write that touches several rows runs in one transaction and checks everything before it
writes, so a refused call changes nothing. Writes to one scorecard's items and results lock the
scorecard's row: a result is never checked against an item range that is changing under it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max, Q

from accounts.errors import Conflict, InvalidArgument, NotFound, parse_id
from accounts.models import Organization, Team
from accounts.permissions import Actor
from accounts.selectors import access_team
from calls.models import (
    InteractionType,
    LabelCategory,
    LabelOption,
    Scorecard,
    ScorecardItem,
    ScorecardItemScore,
    ScorecardResult,
)
from calls.selectors import access_call, access_scorecard
from scorecards.selectors import access_scorecard_item, scorecard_refusal

TITLE_MAX = 200
TEXT_MAX = 10_000
CRITERIA_TEXT_MAX = 2_000
# 50 scores of this size keep a result well under what assistants accept in one tool result.
SCORE_NOTE_MAX = 1_000
MAX_CONDITIONS = 20
MAX_TEAMS = 50
MAX_ITEMS = 50
WEIGHT_MAX = 100
SCORE_MIN, SCORE_MAX = 0, 100


@dataclass(frozen=True)
class Condition:
    """One label condition as a caller gave it: a category name or id, and an option value or id."""

    field: str
    value: str


@dataclass(frozen=True)
class ItemScoreIn:
    item_id: uuid.UUID | str
    score: int
    description: str = ""


def _lock(scorecard: Scorecard) -> Scorecard:
    return Scorecard.objects.select_for_update().get(pk=scorecard.pk)


def _clean_title(value: str, field: str = "title") -> str:
    title = " ".join(value.split())
    if not title or len(title) > TITLE_MAX:
        raise InvalidArgument(field, f"{field} must have 1 to {TITLE_MAX} characters.")
    return title


def _check_text(value: str, field: str, limit: int = TEXT_MAX) -> str:
    if len(value) > limit:
        raise InvalidArgument(field, f"{field} is at most {limit} characters.")
    return value


def _ensure_unique_title(*, actor: Actor, title: str, exclude: uuid.UUID | None = None) -> None:
    # Serialise title checks per organisation (no database constraint: titles differ only by convention).
    Organization.objects.select_for_update().filter(pk=actor.org_id).first()
    clash = Scorecard.objects.filter(org_id=actor.org_id, title__iexact=title)
    if exclude is not None:
        clash = clash.exclude(pk=exclude)
    if clash.exists():
        raise Conflict(f"A scorecard titled {title!r} already exists.", field="title")


def _find_label(*, actor: Actor, ref: str) -> LabelCategory:
    labels = LabelCategory.objects.filter(org_id=actor.org_id)
    try:
        found = labels.filter(pk=uuid.UUID(ref)).first()
    except ValueError:
        found = labels.filter(name=ref).first() or labels.filter(name__iexact=ref).first()
    if found is None:
        raise NotFound("label", ref[:100])
    return found


def _find_option(*, label: LabelCategory, ref: str, where: str) -> LabelOption:
    options = LabelOption.objects.filter(category=label)
    try:
        option_id = uuid.UUID(ref)
    except ValueError:
        found = options.filter(value=ref).first() or options.filter(value__iexact=ref).first()
        if found is None:
            values = ", ".join(options.values_list("value", flat=True)[:50])
            raise InvalidArgument(
                "criteria", f"{where}.value {ref[:100]!r} is not an option of label {label.name!r} (options: {values})."
            ) from None
        return found
    found = options.filter(pk=option_id).first()
    if found is None:
        raise NotFound("label option", ref)
    return found


def _normalise_criteria(*, actor: Actor, operator: str, conditions: Sequence[Condition]) -> dict[str, object]:
    """Stored criteria with ids (names change; ids do not), after checking every condition against the org's labels."""
    if operator not in ("AND", "OR"):
        raise InvalidArgument("criteria", "criteria.operator is AND or OR.")
    if len(conditions) > MAX_CONDITIONS:
        raise InvalidArgument("criteria", f"criteria has at most {MAX_CONDITIONS} conditions.")
    pairs: list[tuple[LabelCategory, LabelOption]] = []
    for index, condition in enumerate(conditions):
        where = f"criteria.conditions[{index}]"
        label = _find_label(actor=actor, ref=condition.field.strip())
        option = _find_option(label=label, ref=condition.value.strip(), where=where)
        if (label, option) in pairs:
            continue
        if operator == "AND" and any(seen.pk == label.pk for seen, _ in pairs):
            # A call carries one option per label, so two options of one label under AND never match.
            raise InvalidArgument(
                "criteria", f"{where}: label {label.name!r} appears twice; with AND a call can match only one option."
            )
        pairs.append((label, option))
    if not pairs:
        return {}
    return {
        "operator": operator,
        "conditions": [{"label_id": str(label.pk), "option_id": str(option.pk)} for label, option in pairs],
    }


def _resolve_teams(
    *,
    actor: Actor,
    all_teams: bool | None,
    team_ids: Sequence[uuid.UUID | str] | None,
    has_teams: bool,
    creating: bool,
) -> tuple[bool | None, list[Team] | None]:
    """(all_teams, teams) to store; None keeps the current value. team_ids alone imply all_teams=false."""
    if team_ids is not None and not team_ids and all_teams is not True and not creating:
        raise InvalidArgument("team_ids", "team_ids cannot be empty: pass all_teams=true to apply to every team.")
    if team_ids:
        if all_teams:
            raise InvalidArgument("all_teams", "Give all_teams=true or team_ids, not both.")
        if len(team_ids) > MAX_TEAMS:
            raise InvalidArgument("team_ids", f"team_ids has at most {MAX_TEAMS} teams.")
        teams: dict[uuid.UUID, Team] = {}
        for team_id in team_ids:
            team = access_team(actor=actor, team_id=team_id)
            teams[team.pk] = team
        return False, list(teams.values())
    if all_teams is True or (all_teams is None and creating):
        return True, []
    if all_teams is False:
        if creating or not has_teams:
            raise InvalidArgument("team_ids", "Name at least one team in team_ids when all_teams is false.")
        return False, None
    return None, None


def _check_interaction_type(value: str) -> str:
    if value not in InteractionType.values:
        raise InvalidArgument("interaction_type", f"interaction_type is one of {', '.join(InteractionType.values)}.")
    return value


def scorecard_create(
    *,
    actor: Actor,
    title: str,
    all_teams: bool | None = None,
    team_ids: Sequence[uuid.UUID | str] | None = None,
    interaction_type: str = InteractionType.ANY,
    operator: str = "AND",
    conditions: Sequence[Condition] = (),
    prompt: str = "",
    instructions: str = "",
    expert_mode: bool = False,
) -> Scorecard:
    """Admins (and org-level keys) create an enabled scorecard with no items. Titles are unique per org."""
    actor.require_admin()
    title = _clean_title(title)
    interaction_type = _check_interaction_type(interaction_type)
    prompt = _check_text(prompt, "scorecard_prompt")
    instructions = _check_text(instructions, "instructions")
    with transaction.atomic():
        store_all, teams = _resolve_teams(
            actor=actor, all_teams=all_teams, team_ids=team_ids, has_teams=False, creating=True
        )
        criteria = _normalise_criteria(actor=actor, operator=operator, conditions=conditions)
        _ensure_unique_title(actor=actor, title=title)
        scorecard = Scorecard.objects.create(
            org_id=actor.org_id,
            title=title,
            all_teams=bool(store_all),
            interaction_type=interaction_type,
            criteria=criteria,
            prompt=prompt,
            instructions=instructions,
            expert_mode=expert_mode,
        )
        if teams:
            scorecard.teams.set(teams)
    return scorecard


def scorecard_update(
    *,
    actor: Actor,
    scorecard_id: uuid.UUID | str,
    title: str | None = None,
    all_teams: bool | None = None,
    team_ids: Sequence[uuid.UUID | str] | None = None,
    interaction_type: str | None = None,
    operator: str | None = None,
    conditions: Sequence[Condition] | None = None,
    prompt: str | None = None,
    instructions: str | None = None,
    expert_mode: bool | None = None,
    enabled: bool | None = None,
) -> Scorecard:
    """Admins change a scorecard; None keeps a field. `conditions` replaces the criteria ([] clears them).

    Existing results are kept whatever changes: they record how a call was scored at the time.
    """
    actor.require_admin()
    with transaction.atomic():
        scorecard = _lock(access_scorecard(actor=actor, scorecard_id=scorecard_id))
        changed: list[str] = []
        store_all, teams = _resolve_teams(
            actor=actor,
            all_teams=all_teams,
            team_ids=team_ids,
            has_teams=scorecard.teams.exists(),
            creating=False,
        )
        if title is not None:
            scorecard.title = _clean_title(title)
            _ensure_unique_title(actor=actor, title=scorecard.title, exclude=scorecard.pk)
            changed.append("title")
        if interaction_type is not None:
            scorecard.interaction_type = _check_interaction_type(interaction_type)
            changed.append("interaction_type")
        if conditions is not None:
            scorecard.criteria = _normalise_criteria(actor=actor, operator=operator or "AND", conditions=conditions)
            changed.append("criteria")
        elif operator is not None:
            raise InvalidArgument("criteria", "Give criteria with its conditions (they replace the current ones).")
        if prompt is not None:
            scorecard.prompt = _check_text(prompt, "scorecard_prompt")
            changed.append("prompt")
        if instructions is not None:
            scorecard.instructions = _check_text(instructions, "instructions")
            changed.append("instructions")
        if expert_mode is not None:
            scorecard.expert_mode = expert_mode
            changed.append("expert_mode")
        if enabled is not None:
            scorecard.enabled = enabled
            changed.append("enabled")
        if store_all is not None:
            scorecard.all_teams = store_all
            changed.append("all_teams")
        if changed:
            scorecard.save(update_fields=changed)
        if teams is not None:
            scorecard.teams.set(teams)
    return scorecard


def _check_scale(*, min_score: int, middle_score: int, max_score: int, weight: int) -> None:
    """What the database constraint would refuse, as invalid_argument naming the field instead of an IntegrityError."""
    if not 1 <= weight <= WEIGHT_MAX:
        raise InvalidArgument("weight", f"weight is 1 to {WEIGHT_MAX}.")
    for field, value in (("min", min_score), ("middle", middle_score), ("max", max_score)):
        if not SCORE_MIN <= value <= SCORE_MAX:
            raise InvalidArgument(field, f"{field} is {SCORE_MIN} to {SCORE_MAX}.")
    if min_score >= max_score:
        raise InvalidArgument("max", f"max ({max_score}) must be greater than min ({min_score}).")
    if not min_score <= middle_score <= max_score:
        raise InvalidArgument(
            "middle", f"middle ({middle_score}) must lie between min ({min_score}) and max ({max_score})."
        )


def scorecard_item_create(
    *,
    actor: Actor,
    scorecard_id: uuid.UUID | str,
    title: str,
    weight: int = 1,
    min_score: int = 1,
    middle_score: int | None = None,
    max_score: int = 5,
    min_criteria: str = "",
    middle_criteria: str = "",
    max_criteria: str = "",
) -> ScorecardItem:
    """Admins append an item to a scorecard. `middle_score` defaults to the midpoint of the scale (rounded down)."""
    actor.require_admin()
    title = _clean_title(title)
    if middle_score is None:
        middle_score = (min_score + max_score) // 2
    _check_scale(min_score=min_score, middle_score=middle_score, max_score=max_score, weight=weight)
    texts = {"min_criteria": min_criteria, "middle_criteria": middle_criteria, "max_criteria": max_criteria}
    for field, text in texts.items():
        _check_text(text, field, CRITERIA_TEXT_MAX)
    with transaction.atomic():
        scorecard = _lock(access_scorecard(actor=actor, scorecard_id=scorecard_id))
        existing = ScorecardItem.objects.filter(scorecard=scorecard)
        if existing.count() >= MAX_ITEMS:
            raise InvalidArgument("scorecard_id", f"A scorecard holds at most {MAX_ITEMS} items.")
        last = existing.aggregate(last=Max("position"))["last"]
        return ScorecardItem.objects.create(
            scorecard=scorecard,
            title=title,
            weight=weight,
            min_score=min_score,
            middle_score=middle_score,
            max_score=max_score,
            position=0 if last is None else last + 1,
            **texts,
        )


def scorecard_item_update(
    *,
    actor: Actor,
    scorecard_id: uuid.UUID | str,
    item_id: uuid.UUID | str,
    title: str | None = None,
    weight: int | None = None,
    min_score: int | None = None,
    middle_score: int | None = None,
    max_score: int | None = None,
    min_criteria: str | None = None,
    middle_criteria: str | None = None,
    max_criteria: str | None = None,
) -> ScorecardItem:
    """Admins change an item; None keeps a field. A new scale must still hold every score already given (conflict)."""
    actor.require_admin()
    with transaction.atomic():
        scorecard = _lock(access_scorecard(actor=actor, scorecard_id=scorecard_id))
        item = access_scorecard_item(actor=actor, scorecard=scorecard, item_id=item_id)
        if title is not None:
            item.title = _clean_title(title)
        for field, text in (
            ("min_criteria", min_criteria),
            ("middle_criteria", middle_criteria),
            ("max_criteria", max_criteria),
        ):
            if text is not None:
                setattr(item, field, _check_text(text, field, CRITERIA_TEXT_MAX))
        item.weight = item.weight if weight is None else weight
        item.min_score = item.min_score if min_score is None else min_score
        item.max_score = item.max_score if max_score is None else max_score
        item.middle_score = item.middle_score if middle_score is None else middle_score
        _check_scale(
            min_score=item.min_score, middle_score=item.middle_score, max_score=item.max_score, weight=item.weight
        )
        outside = ScorecardItemScore.objects.filter(item=item).filter(
            Q(score__lt=item.min_score) | Q(score__gt=item.max_score)
        )
        count = outside.count()
        if count:
            raise Conflict(
                f"{count} existing score(s) of this item lie outside {item.min_score}-{item.max_score}; "
                "keep a scale that contains them.",
                field="min" if outside.filter(score__lt=item.min_score).exists() else "max",
            )
        item.save()
    return item


def scorecard_item_delete(*, actor: Actor, scorecard_id: uuid.UUID | str, item_id: uuid.UUID | str) -> int:
    """Admins delete an item and, with it, its scores in existing results; returns how many scores went.

    The remaining items keep their order, renumbered from 0.
    """
    actor.require_admin()
    with transaction.atomic():
        scorecard = _lock(access_scorecard(actor=actor, scorecard_id=scorecard_id))
        item = access_scorecard_item(actor=actor, scorecard=scorecard, item_id=item_id)
        scores = ScorecardItemScore.objects.filter(item=item).count()
        item.delete()
        _renumber(list(ScorecardItem.objects.filter(scorecard=scorecard).order_by("position", "id")))
    return scores


def _renumber(items: list[ScorecardItem]) -> None:
    moved = []
    for position, item in enumerate(items):
        if item.position != position:
            item.position = position
            moved.append(item)
    ScorecardItem.objects.bulk_update(moved, ["position"])


def scorecard_items_reorder(
    *, actor: Actor, scorecard_id: uuid.UUID | str, item_ids: Sequence[uuid.UUID | str]
) -> Scorecard:
    """Admins put a scorecard's items in the given order; `item_ids` must list each of its items exactly once.

    An id that is not one of its items is NotFound; a missing or repeated item is an invalid argument.
    """
    actor.require_admin()
    with transaction.atomic():
        scorecard = _lock(access_scorecard(actor=actor, scorecard_id=scorecard_id))
        items = {i.pk: i for i in ScorecardItem.objects.filter(scorecard=scorecard)}
        wanted: list[uuid.UUID] = []
        for raw in item_ids:
            item_id = parse_id("scorecard item", raw)
            if item_id not in items:
                # Like every other id that is not this scorecard's: another org's item must not look different.
                raise NotFound("scorecard item", raw)
            wanted.append(item_id)
        if len(set(wanted)) != len(wanted):
            raise InvalidArgument("item_ids", "An item is listed twice.")
        missing = [str(i) for i in items if i not in set(wanted)]
        if missing:
            raise InvalidArgument(
                "item_ids", f"List every item of the scorecard exactly once; missing: {', '.join(missing[:5])}."
            )
        _renumber([items[i] for i in wanted])
    return scorecard


def scorecard_result_create(
    *,
    actor: Actor,
    call_id: uuid.UUID | str,
    scorecard_id: uuid.UUID | str,
    scores: Sequence[ItemScoreIn],
    summary: str = "",
) -> ScorecardResult:
    """Anyone who can see the call records a result of an enabled scorecard that applies to it (all or nothing).

    Each score names an item of this scorecard at most once and lies within the item's range; items left
    out stay unscored. The result is attributed to the caller's user (none for org-level keys).
    """
    summary = _check_text(summary, "summary")
    if not scores:
        raise InvalidArgument("items", "Score at least one item.")
    with transaction.atomic():
        call = access_call(actor=actor, call_id=call_id)
        scorecard = _lock(access_scorecard(actor=actor, scorecard_id=scorecard_id))
        if not scorecard.enabled:
            raise InvalidArgument(
                "scorecard_id", "The scorecard is disabled; an admin can enable it with update_scorecard."
            )
        refusal = scorecard_refusal(scorecard=scorecard, call=call)
        if refusal:
            raise InvalidArgument("conversation_id", refusal)
        items = {i.pk: i for i in ScorecardItem.objects.filter(scorecard=scorecard)}
        rows: list[ScorecardItemScore] = []
        seen: set[uuid.UUID] = set()
        for index, given in enumerate(scores):
            item = items.get(parse_id("scorecard item", given.item_id))
            if item is None:
                # Any id that is not one of this scorecard's items, whatever it is elsewhere.
                raise NotFound("scorecard item", given.item_id)
            if item.pk in seen:
                raise InvalidArgument("items", f"items[{index}]: item {item.pk} is scored twice.")
            seen.add(item.pk)
            if not item.min_score <= given.score <= item.max_score:
                raise InvalidArgument(
                    "items",
                    f"items[{index}].score {given.score} is outside {item.title!r}'s range "
                    f"{item.min_score}-{item.max_score}.",
                )
            rows.append(
                ScorecardItemScore(
                    item=item, score=given.score, description=_check_text(given.description, "items", SCORE_NOTE_MAX)
                )
            )
        result = ScorecardResult.objects.create(
            scorecard=scorecard, call=call, summary=summary, created_by_id=actor.user_id
        )
        for row in rows:
            row.result = result
        ScorecardItemScore.objects.bulk_create(rows)
    return result
