"""The conversation-intelligence domain: calls, transcripts, labels, scorecards, snippets, deals.

UUID primary keys are the ids tools expose. Who may see or change any of this
is decided in calls/selectors.py and calls/services.py, never here.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Organization, Team


class Deal(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="deals")
    name = models.CharField(max_length=255)
    stage = models.CharField(max_length=64, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="deals"
    )
    crm_id = models.CharField("external CRM id", max_length=128, blank=True)
    # CRM fields by entity, e.g. {"opportunity": {"Region": "EMEA"}, "account": {"Industry": "Fintech"}}.
    crm_fields = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["org", "stage"]), models.Index(fields=["org", "crm_id"])]

    def __str__(self) -> str:
        return self.name


class Call(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="calls")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_calls")
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls")
    title = models.CharField(max_length=500)
    started_at = models.DateTimeField()
    duration_s = models.PositiveIntegerField(default=0)
    private = models.BooleanField(default=False)
    archived = models.BooleanField(default=False)
    # True when every participant is internal (a team meeting, not a customer call).
    is_internal = models.BooleanField(default=False)
    deal = models.ForeignKey(Deal, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls")
    media_url = models.URLField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["org", "-started_at"]),
            models.Index(fields=["owner", "-started_at"]),
            models.Index(fields=["team", "-started_at"]),
            models.Index(fields=["deal"]),
        ]
        constraints = [models.CheckConstraint(condition=Q(duration_s__gte=0), name="call_duration_nonnegative")]

    def __str__(self) -> str:
        return self.title


class Affiliation(models.TextChoices):
    INTERNAL = "internal", "Internal"
    EXTERNAL = "external", "External"


class Participant(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="participants")
    name = models.CharField(max_length=255)
    email = models.EmailField(blank=True)
    affiliation = models.CharField(max_length=16, choices=Affiliation.choices)
    organizer = models.BooleanField(default=False)
    # Set for internal participants who are users of the organisation; taking
    # part in a call lets that user see it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="participations"
    )

    class Meta:
        ordering = ["call", "-organizer", "name"]
        indexes = [models.Index(fields=["user", "call"]), models.Index(fields=["email"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=True) | Q(affiliation="internal"), name="participant_user_is_internal"
            )
        ]

    def __str__(self) -> str:
        return self.name


class TranscriptSegment(models.Model):
    # Segments are never addressed alone by clients, and there are many of
    # them: a compact integer key keeps the table and its indexes small.
    id = models.BigAutoField(primary_key=True)
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="segments")
    position = models.PositiveIntegerField()
    speaker = models.CharField(max_length=255)
    start_s = models.FloatField()
    end_s = models.FloatField()
    text = models.TextField()

    class Meta:
        ordering = ["call", "position"]
        constraints = [
            models.UniqueConstraint(fields=["call", "position"], name="segment_unique_position"),
            models.CheckConstraint(condition=Q(start_s__gte=0) & Q(end_s__gte=F("start_s")), name="segment_time_order"),
        ]

    def __str__(self) -> str:
        return f"{self.speaker} @ {self.start_s:.0f}s"


class Insight(models.Model):
    call = models.OneToOneField(Call, on_delete=models.CASCADE, related_name="insight", primary_key=True)
    summary = models.TextField(blank=True)
    action_items = models.JSONField(default=list, blank=True)
    next_steps = models.JSONField(default=list, blank=True)
    topics = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"Insight for {self.call_id}"


class LabelCategory(models.Model):
    """A label such as "Call Type" with its options (Discovery, Demo, ...)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="label_categories")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    # Applied automatically by the AI pipeline rather than only by people.
    ai_flow = models.BooleanField(default=True)
    all_teams = models.BooleanField(default=True)
    teams = models.ManyToManyField(Team, blank=True, related_name="label_categories")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "label categories"
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="label_unique_name_per_org")]

    def __str__(self) -> str:
        return self.name


class LabelOption(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    category = models.ForeignKey(LabelCategory, on_delete=models.CASCADE, related_name="options")
    value = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["category", "position", "value"]
        constraints = [models.UniqueConstraint(fields=["category", "value"], name="label_option_unique_value")]

    def __str__(self) -> str:
        return self.value


class CallLabel(models.Model):
    """One option of one category on one call (a call has at most one option per category)."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="call_labels")
    category = models.ForeignKey(LabelCategory, on_delete=models.CASCADE, related_name="call_labels")
    option = models.ForeignKey(LabelOption, on_delete=models.CASCADE, related_name="call_labels")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["call", "category"], name="call_label_one_per_category")]
        indexes = [models.Index(fields=["option", "call"])]

    def __str__(self) -> str:
        return f"{self.category_id}={self.option_id}"


class InteractionType(models.TextChoices):
    ANY = "any", "Any"
    EXTERNAL = "external", "External calls"
    INTERNAL = "internal", "Internal meetings"


class Scorecard(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="scorecards")
    title = models.CharField(max_length=200)
    all_teams = models.BooleanField(default=True)
    teams = models.ManyToManyField(Team, blank=True, related_name="scorecards")
    interaction_type = models.CharField(max_length=16, choices=InteractionType.choices, default=InteractionType.ANY)
    # Which calls the scorecard applies to: {"operator": "AND"|"OR", "conditions":
    # [{"label_id": <category uuid>, "option_id": <option uuid>}]}; validated by services.
    criteria = models.JSONField(default=dict, blank=True)
    prompt = models.TextField(blank=True)
    instructions = models.TextField(blank=True)
    expert_mode = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class ScorecardItem(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="items")
    title = models.CharField(max_length=200)
    weight = models.PositiveIntegerField(default=1)
    min_score = models.IntegerField(default=1)
    middle_score = models.IntegerField(default=3)
    max_score = models.IntegerField(default=5)
    min_criteria = models.TextField(blank=True)
    middle_criteria = models.TextField(blank=True)
    max_criteria = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["scorecard", "position"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_score__lte=F("middle_score"))
                & Q(middle_score__lte=F("max_score"))
                & Q(min_score__lt=F("max_score")),
                name="scorecard_item_scale_order",
            )
        ]

    def __str__(self) -> str:
        return self.title


class ScorecardResult(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scorecard = models.ForeignKey(Scorecard, on_delete=models.CASCADE, related_name="results")
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="scorecard_results")
    summary = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["scorecard", "call"])]

    def __str__(self) -> str:
        return f"{self.scorecard} on {self.call_id}"


class ScorecardItemScore(models.Model):
    """An item's score within a result; services check it lies inside the item's range."""

    result = models.ForeignKey(ScorecardResult, on_delete=models.CASCADE, related_name="scores")
    item = models.ForeignKey(ScorecardItem, on_delete=models.CASCADE, related_name="scores")
    score = models.IntegerField()
    description = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["result", "item"], name="item_score_once_per_result")]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.score}"


class Snippet(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="snippets")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="snippets")
    # Both null: the whole call.
    start_s = models.FloatField(null=True, blank=True)
    end_s = models.FloatField(null=True, blank=True)
    title = models.CharField(max_length=255)
    notes = models.TextField(blank=True)
    internal = models.BooleanField(default=True)
    share_code = models.CharField(max_length=32, unique=True)
    in_library = models.BooleanField(default=False)
    library_folder_path = models.CharField(max_length=500, blank=True)
    my_library = models.BooleanField(default=False)
    # Tell the owner when someone watches the snippet.
    notify_views = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(start_s__isnull=True) & Q(end_s__isnull=True))
                | (Q(start_s__gte=0) & Q(end_s__gt=F("start_s"))),
                name="snippet_range_valid",
            )
        ]

    def __str__(self) -> str:
        return self.title


class ForecastColumnType(models.TextChoices):
    SYSTEM = "system", "System"
    CALL = "call", "Call"
    DEAL_ROLLUP = "deal_rollup", "Deal roll-up"


class ForecastCategory(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="forecast_categories")
    column_key = models.SlugField(max_length=64)
    label = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    column_type = models.CharField(max_length=16, choices=ForecastColumnType.choices, default=ForecastColumnType.CALL)
    display_order = models.PositiveIntegerField(default=0)
    color = models.CharField(max_length=7, blank=True, help_text="#rrggbb")
    include_in_call = models.BooleanField(default=True)

    class Meta:
        ordering = ["org", "display_order"]
        verbose_name_plural = "forecast categories"
        constraints = [models.UniqueConstraint(fields=["org", "column_key"], name="forecast_unique_key_per_org")]

    def __str__(self) -> str:
        return self.label

    @property
    def is_system(self) -> bool:
        return self.column_type == ForecastColumnType.SYSTEM


class AgentStatus(models.TextChoices):
    IDLE = "idle", "Idle"
    PROCESSING = "processing", "Processing"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class SuperAgentSession(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="agent_sessions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_sessions")
    title = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=AgentStatus.choices, default=AgentStatus.IDLE)
    tz_name = models.CharField("time zone", max_length=64, default="UTC")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["user", "-updated_at"])]

    def __str__(self) -> str:
        return self.title or str(self.id)


class AgentRole(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"


class SuperAgentMessage(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(SuperAgentSession, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=AgentRole.choices)
    content = models.TextField()
    # Calls the answer drew on: [{"call_id": ..., "title": ..., "start_s": ...}].
    references = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["session", "created_at"]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"
