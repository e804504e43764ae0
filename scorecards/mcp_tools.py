"""MCP tools of the scorecards app: definitions and items (admins), results (anyone who sees the call), summaries.

Each tool is one call to a selector or service (plus the selector that shapes what it wrote); the services
check the admin role, the organisation and the call's visibility.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from accounts.permissions import Actor
from mcpgateway.registry import tool
from scorecards.schemas import (
    DeletedScorecardItem,
    ScorecardDetail,
    ScorecardItemDetail,
    ScorecardList,
    ScorecardResultOut,
    ScorecardSummary,
)
from scorecards.selectors import (
    scorecard_detail,
    scorecard_item_detail,
    scorecard_list,
    scorecard_result_detail,
    scorecard_summary,
)
from scorecards.services import (
    CRITERIA_TEXT_MAX,
    MAX_CONDITIONS,
    MAX_ITEMS,
    MAX_TEAMS,
    SCORE_MAX,
    SCORE_MIN,
    SCORE_NOTE_MAX,
    TEXT_MAX,
    TITLE_MAX,
    WEIGHT_MAX,
    Condition,
    ItemScoreIn,
    scorecard_create,
    scorecard_item_create,
    scorecard_item_delete,
    scorecard_item_update,
    scorecard_items_reorder,
    scorecard_result_create,
    scorecard_update,
)

ScorecardId = Annotated[uuid.UUID, Field(description="The scorecard's id, from get_scorecards")]
ItemId = Annotated[uuid.UUID, Field(description="The item's id, from get_scorecard_details")]
InteractionTypeArg = Literal["any", "external", "internal"]
Score = Annotated[int, Field(ge=SCORE_MIN, le=SCORE_MAX)]
CriteriaText = Annotated[str, Field(max_length=CRITERIA_TEXT_MAX)]


class CriterionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(min_length=1, max_length=100, description='A label category, by name or id, e.g. "Call Type"')
    value: str = Field(min_length=1, max_length=100, description='One of its options, by value or id, e.g. "Demo"')


class CriteriaIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator: Literal["AND", "OR"] = Field(
        default="AND", description="AND: the call must match every condition; OR: at least one"
    )
    conditions: list[CriterionIn] = Field(
        max_length=MAX_CONDITIONS,
        description='Label conditions, e.g. [{"field": "Call Type", "value": "Demo"}]; [] matches every call',
    )

    def as_conditions(self) -> list[Condition]:
        return [Condition(field=c.field, value=c.value) for c in self.conditions]


class ItemScoreArg(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: uuid.UUID = Field(description="An item of this scorecard, from get_scorecard_details")
    score: int = Field(ge=SCORE_MIN, le=SCORE_MAX, description="Within the item's min_score..max_score, e.g. 4")
    description: str = Field(
        default="", max_length=SCORE_NOTE_MAX, description="Why this score, e.g. a quote from the call"
    )


TeamIds = Annotated[
    list[uuid.UUID] | None,
    Field(
        max_length=MAX_TEAMS,
        description="Apply only to calls of these teams (ids from list_teams; sub-teams included)",
    ),
]
AllTeams = Annotated[
    bool | None,
    Field(description="true: calls of every team; false: only team_ids. Omitted: true unless team_ids are given"),
]


@tool(title="List scorecards", access="read")
def get_scorecards(
    actor: Actor,
    page_size: Annotated[int, Field(ge=1, le=50, description="Scorecards per page")] = 20,
    cursor: Annotated[str | None, Field(description="next_cursor of the previous page", max_length=500)] = None,
) -> ScorecardList:
    """List the organisation's scorecards by title: whether each is enabled, which calls it applies to (teams,
    external/internal, label criteria), and its number of items and total weight. Use get_scorecard_details for
    the items and their scales, get_scorecard_summary for how calls scored. Page through with next_cursor."""
    return scorecard_list(actor=actor, page_size=page_size, cursor=cursor)


@tool(title="Get a scorecard", access="read")
def get_scorecard_details(actor: Actor, scorecard_id: ScorecardId) -> ScorecardDetail:
    """Get one scorecard with its items in scoring order: each item's weight, scale (min, middle and max score)
    and what earns each score, plus the prompt, instructions and which calls it applies to. Read this before
    create_scorecard_result: scores must use these item ids and lie within each item's scale."""
    return scorecard_detail(actor=actor, scorecard_id=scorecard_id)


@tool(title="Create a scorecard", access="write", admin=True)
def create_scorecard(
    actor: Actor,
    title: Annotated[
        str, Field(min_length=1, max_length=TITLE_MAX, description='Unique in the organisation, e.g. "Demo Quality"')
    ],
    all_teams: AllTeams = None,
    team_ids: TeamIds = None,
    interaction_type: Annotated[
        InteractionTypeArg,
        Field(description="any, external (calls with customers) or internal (internal meetings only)"),
    ] = "any",
    criteria: Annotated[
        CriteriaIn | None, Field(description="Apply only to calls with these labels; omit for every call")
    ] = None,
    scorecard_prompt: Annotated[
        str, Field(max_length=TEXT_MAX, description='What to judge, e.g. "Score how well the rep ran the demo."')
    ] = "",
    instructions: Annotated[
        str, Field(max_length=TEXT_MAX, description='Guidance for scorers, e.g. "Quote the moment behind each score."')
    ] = "",
    expert_mode: Annotated[
        bool, Field(description="Expert mode: scoring follows scorecard_prompt and instructions as written")
    ] = False,
) -> ScorecardDetail:
    """Create an enabled scorecard with no items (admins only); add items with create_scorecard_item. Say which
    calls it applies to: all teams or team_ids (sub-teams included), interaction_type, and label criteria whose
    labels and options are checked against the organisation's labels (see list_labels). A title already used
    is a conflict."""
    scorecard = scorecard_create(
        actor=actor,
        title=title,
        all_teams=all_teams,
        team_ids=team_ids,
        interaction_type=interaction_type,
        operator=criteria.operator if criteria else "AND",
        conditions=criteria.as_conditions() if criteria else (),
        prompt=scorecard_prompt,
        instructions=instructions,
        expert_mode=expert_mode,
    )
    return scorecard_detail(actor=actor, scorecard_id=scorecard.pk)


@tool(title="Update a scorecard", access="write", admin=True, idempotent=True)
def update_scorecard(
    actor: Actor,
    scorecard_id: ScorecardId,
    title: Annotated[
        str | None, Field(min_length=1, max_length=TITLE_MAX, description='e.g. "Demo Quality v2"; omit to keep')
    ] = None,
    all_teams: Annotated[
        bool | None, Field(description="true: every team (clears team_ids); false: only its teams; omit to keep")
    ] = None,
    team_ids: Annotated[
        list[uuid.UUID] | None,
        Field(max_length=MAX_TEAMS, description="Replace its teams (ids from list_teams); omit to keep"),
    ] = None,
    interaction_type: Annotated[
        InteractionTypeArg | None, Field(description="any, external or internal; omit to keep")
    ] = None,
    criteria: Annotated[
        CriteriaIn | None, Field(description="Replaces the label criteria (conditions [] clears them); omit to keep")
    ] = None,
    scorecard_prompt: Annotated[str | None, Field(max_length=TEXT_MAX, description="omit to keep")] = None,
    instructions: Annotated[str | None, Field(max_length=TEXT_MAX, description="omit to keep")] = None,
    expert_mode: Annotated[bool | None, Field(description="omit to keep")] = None,
    enabled: Annotated[
        bool | None, Field(description="false stops new results (existing ones stay); omit to keep")
    ] = None,
) -> ScorecardDetail:
    """Change a scorecard's title, teams, interaction type, label criteria, prompt, instructions, expert mode or
    enabled flag (admins only); omitted fields are kept. Existing results are kept as they were scored. Use the
    item tools to change its items."""
    scorecard_update(
        actor=actor,
        scorecard_id=scorecard_id,
        title=title,
        all_teams=all_teams,
        team_ids=team_ids,
        interaction_type=interaction_type,
        operator=criteria.operator if criteria else None,
        conditions=criteria.as_conditions() if criteria else None,
        prompt=scorecard_prompt,
        instructions=instructions,
        expert_mode=expert_mode,
        enabled=enabled,
    )
    return scorecard_detail(actor=actor, scorecard_id=scorecard_id)


@tool(title="Add a scorecard item", access="write", admin=True)
def create_scorecard_item(
    actor: Actor,
    scorecard_id: ScorecardId,
    title: Annotated[
        str, Field(min_length=1, max_length=TITLE_MAX, description='What is judged, e.g. "Uncovered pain and impact"')
    ],
    weight: Annotated[
        int, Field(ge=1, le=WEIGHT_MAX, description="Relative importance in the overall score, e.g. 2")
    ] = 1,
    min: Annotated[Score, Field(description="Lowest score of the scale, e.g. 1")] = 1,
    middle: Annotated[
        Score | None, Field(description="Middle score, between min and max; omitted: their midpoint rounded down")
    ] = None,
    max: Annotated[Score, Field(description="Highest score, greater than min, e.g. 5")] = 5,
    min_criteria: Annotated[CriteriaText, Field(description='What earns min, e.g. "No pain found."')] = "",
    middle_criteria: Annotated[CriteriaText, Field(description='What earns middle, e.g. "Pain named."')] = "",
    max_criteria: Annotated[CriteriaText, Field(description='What earns max, e.g. "Pain quantified."')] = "",
) -> ScorecardItemDetail:
    """Add an item (a question scored on a scale) at the end of a scorecard (admins only). Scales run from min
    to max (0 to 100, min < max, min <= middle <= max); weight sets its share of the overall score. A scorecard
    holds at most 50 items; change the order with reorder_scorecard_items."""
    item = scorecard_item_create(
        actor=actor,
        scorecard_id=scorecard_id,
        title=title,
        weight=weight,
        min_score=min,
        middle_score=middle,
        max_score=max,
        min_criteria=min_criteria,
        middle_criteria=middle_criteria,
        max_criteria=max_criteria,
    )
    return scorecard_item_detail(actor=actor, scorecard_id=scorecard_id, item_id=item.pk)


@tool(title="Update a scorecard item", access="write", admin=True, idempotent=True)
def update_scorecard_item(
    actor: Actor,
    scorecard_id: ScorecardId,
    item_id: ItemId,
    title: Annotated[
        str | None, Field(min_length=1, max_length=TITLE_MAX, description='e.g. "Quantified pain"; omit to keep')
    ] = None,
    weight: Annotated[int | None, Field(ge=1, le=WEIGHT_MAX, description="e.g. 3; omit to keep")] = None,
    min: Annotated[Score | None, Field(description="omit to keep")] = None,
    middle: Annotated[Score | None, Field(description="omit to keep")] = None,
    max: Annotated[Score | None, Field(description="omit to keep")] = None,
    min_criteria: Annotated[CriteriaText | None, Field(description="omit to keep")] = None,
    middle_criteria: Annotated[CriteriaText | None, Field(description="omit to keep")] = None,
    max_criteria: Annotated[CriteriaText | None, Field(description="omit to keep")] = None,
) -> ScorecardItemDetail:
    """Change one item of a scorecard (admins only); omitted fields are kept. The resulting scale must satisfy
    min < max and min <= middle <= max, and must still contain every score already given to the item (conflict
    otherwise, so past results stay meaningful)."""
    scorecard_item_update(
        actor=actor,
        scorecard_id=scorecard_id,
        item_id=item_id,
        title=title,
        weight=weight,
        min_score=min,
        middle_score=middle,
        max_score=max,
        min_criteria=min_criteria,
        middle_criteria=middle_criteria,
        max_criteria=max_criteria,
    )
    return scorecard_item_detail(actor=actor, scorecard_id=scorecard_id, item_id=item_id)


@tool(title="Delete a scorecard item", access="write", admin=True, destructive=True, idempotent=True)
def delete_scorecard_item(actor: Actor, scorecard_id: ScorecardId, item_id: ItemId) -> DeletedScorecardItem:
    """Delete one item of a scorecard (admins only). Irreversible: the item's scores are removed from every
    existing result (the count is returned) and summaries no longer include it. The other items keep their
    order."""
    removed = scorecard_item_delete(actor=actor, scorecard_id=scorecard_id, item_id=item_id)
    return DeletedScorecardItem(id=str(item_id), scorecard_id=str(scorecard_id), deleted=True, scores_removed=removed)


@tool(title="Reorder scorecard items", access="write", admin=True, idempotent=True)
def reorder_scorecard_items(
    actor: Actor,
    scorecard_id: ScorecardId,
    item_ids: Annotated[
        list[uuid.UUID],
        Field(
            min_length=1,
            max_length=MAX_ITEMS,
            description="Every item id of the scorecard exactly once, in the new order (from get_scorecard_details)",
        ),
    ],
) -> ScorecardDetail:
    """Put a scorecard's items in a new order (admins only). item_ids must list each of its items exactly once:
    a missing or repeated item is invalid_argument, an id that is not one of its items not_found, and either way
    nothing changes. Returns the scorecard in the new order."""
    scorecard_items_reorder(actor=actor, scorecard_id=scorecard_id, item_ids=item_ids)
    return scorecard_detail(actor=actor, scorecard_id=scorecard_id)


@tool(title="Score a call", access="write")
def create_scorecard_result(
    actor: Actor,
    conversation_id: Annotated[uuid.UUID, Field(description="The call's id, from search_calls")],
    scorecard_id: ScorecardId,
    items: Annotated[
        list[ItemScoreArg],
        Field(
            min_length=1,
            max_length=MAX_ITEMS,
            description='Scores, each item at most once, e.g. [{"item_id": "...", "score": 4, "description": "..."}]',
        ),
    ],
    summary: Annotated[
        str, Field(max_length=TEXT_MAX, description='Overall assessment, e.g. "Strong discovery, weak close."')
    ] = "",
) -> ScorecardResultOut:
    """Record a scorecard result for one call you can see: a summary and a score per item (items left out stay
    unscored). The scorecard must be enabled and apply to the call (its teams, external/internal, label
    criteria); each score must lie within its item's scale (get_scorecard_details). Rescoring a call adds a new
    result; summaries use the latest. Returns the result with its weighted 0-100 score."""
    result = scorecard_result_create(
        actor=actor,
        call_id=conversation_id,
        scorecard_id=scorecard_id,
        scores=[ItemScoreIn(item_id=i.item_id, score=i.score, description=i.description) for i in items],
        summary=summary,
    )
    return scorecard_result_detail(actor=actor, result_id=result.pk)


@tool(title="Summarise scorecard results", access="read")
def get_scorecard_summary(
    actor: Actor,
    scorecard_id: ScorecardId,
    from_date: Annotated[date | None, Field(description="Earliest call date, inclusive (YYYY-MM-DD)")] = None,
    to_date: Annotated[date | None, Field(description="Latest call date, inclusive (YYYY-MM-DD)")] = None,
    user_ids: Annotated[
        list[uuid.UUID] | None, Field(max_length=50, description="Only calls owned by these reps (ids from list_reps)")
    ] = None,
    team_ids: Annotated[
        list[uuid.UUID] | None, Field(max_length=50, description="Only calls of these teams, sub-teams included")
    ] = None,
    include_archived: Annotated[bool, Field(description="Also count archived calls")] = False,
) -> ScorecardSummary:
    """Summarise how calls scored on one scorecard: average per item (raw and 0-100), per rep (the call owner:
    calls scored, overall 0-100 score, item averages) and overall, over the calls you can see, optionally
    narrowed by call date, reps and teams. Each call counts once, with its latest result; the formula is in
    the result. Use it for coaching questions such as "who struggles with discovery?"."""
    return scorecard_summary(
        actor=actor,
        scorecard_id=scorecard_id,
        from_date=from_date,
        to_date=to_date,
        user_ids=user_ids,
        team_ids=team_ids,
        include_archived=include_archived,
    )
