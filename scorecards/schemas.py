"""Output shapes of the scorecard tools (they become the tools' outputSchema)."""

from __future__ import annotations

from pydantic import BaseModel, Field

SUMMARY_FORMULA = (
    "A call's score is 100 * sum(weight * (score - min) / (max - min)) / sum(weight) over the items scored in the "
    "latest result for that call; an item's average_percent is the mean of 100 * (score - min) / (max - min); "
    "overall_score is the mean of the call scores (every call counts once)."
)


class Ref(BaseModel):
    id: str
    name: str


class PersonRef(BaseModel):
    id: str
    name: str
    email: str


class ConditionOut(BaseModel):
    label_id: str
    label: str | None = Field(description="The label category's name; null if it was deleted (never matches)")
    option_id: str
    option: str | None = Field(description="The option's value; null if it was deleted (never matches)")


class CriteriaOut(BaseModel):
    operator: str = Field(description="AND: every condition must hold; OR: at least one")
    conditions: list[ConditionOut] = Field(description="Label conditions on the call; empty: every call matches")


class ScorecardOut(BaseModel):
    id: str
    title: str
    enabled: bool = Field(description="Disabled scorecards keep their results but accept no new ones")
    interaction_type: str = Field(description="any, external (customer calls) or internal (internal meetings)")
    all_teams: bool = Field(description="true: applies to calls of every team; false: only of `teams`")
    teams: list[Ref] = Field(description="The teams it applies to (their sub-teams included) when all_teams is false")
    criteria: CriteriaOut
    item_count: int
    total_weight: int = Field(description="Sum of the items' weights")
    created_at: str


class ScorecardList(BaseModel):
    scorecards: list[ScorecardOut]
    next_cursor: str | None = Field(description="Pass as cursor to get the next page; null on the last page.")


class ScorecardItemOut(BaseModel):
    id: str
    title: str
    position: int = Field(description="0-based order within the scorecard")
    weight: int
    min_score: int
    middle_score: int
    max_score: int
    min_criteria: str = Field(description="What earns the minimum score")
    middle_criteria: str = Field(description="What earns the middle score")
    max_criteria: str = Field(description="What earns the maximum score")


class ScorecardItemDetail(ScorecardItemOut):
    scorecard_id: str


class ScorecardDetail(ScorecardOut):
    scorecard_prompt: str = Field(description="What the scorer is asked to judge")
    instructions: str
    expert_mode: bool
    items: list[ScorecardItemOut] = Field(description="In scoring order")


class DeletedScorecardItem(BaseModel):
    id: str
    scorecard_id: str
    deleted: bool
    scores_removed: int = Field(description="Scores of this item that existing results lose")


class ScoreOut(BaseModel):
    item_id: str
    title: str
    weight: int
    score: int
    min_score: int
    max_score: int
    description: str


class ScorecardResultOut(BaseModel):
    id: str
    scorecard: Ref
    conversation_id: str
    conversation_title: str
    conversation_url: str
    summary: str
    created_by: PersonRef | None = Field(description="Null when an org-level API key created it")
    created_at: str
    score: float | None = Field(description="Weighted score of this result, 0-100 (formula: get_scorecard_summary)")
    scores: list[ScoreOut] = Field(description="In the scorecard's item order")


class ItemSummary(BaseModel):
    item_id: str
    title: str
    weight: int
    min_score: int
    max_score: int
    calls_scored: int = Field(description="Calls whose latest result scores this item")
    average_score: float | None = Field(description="Mean raw score on the item's own scale; null if never scored")
    average_percent: float | None = Field(description="Mean score normalised to 0-100")


class RepSummary(BaseModel):
    user: PersonRef = Field(description="The owner of the scored calls")
    calls_scored: int
    overall_score: float | None = Field(description="Mean of this rep's call scores, 0-100")
    item_averages: list[float | None] = Field(
        description="Mean raw score per item, in the order of the summary's `items` (null: not scored for this rep)"
    )


class ScorecardSummary(BaseModel):
    scorecard: Ref
    from_date: str | None
    to_date: str | None
    formula: str = Field(description="How the scores are computed")
    calls_scored: int = Field(description="Visible calls with at least one result in the period")
    overall_score: float | None = Field(description="0-100; null when nothing was scored")
    items: list[ItemSummary]
    reps: list[RepSummary] = Field(description="Most-scored reps first, at most 50; narrow with user_ids or team_ids")
    reps_total: int = Field(description="How many reps have scored calls (reps lists at most 50 of them)")
