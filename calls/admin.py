"""The operators' admin for calls, transcripts, labels, scorecards, snippets, deals and agent sessions.

Calls are changed only through calls.services (title, privacy, archiving), and
so are call labels, new snippets and deletions of snippets and label categories.
Everything else the admin can write has no service yet and saves plainly.
The tables that grow with every call (calls, participants, segments) avoid
counting and joining in their lists: no full result count, no per-row counts,
orderings that need no join.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from accounts.admin import (
    ModelAdmin,
    ModelForm,
    OperatorAdmin,
    StackedInline,
    TabularInline,
    add_domain_error,
    adopt,
    dry_run,
    operator_actor,
    report_outcome,
)
from accounts.errors import DomainError
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
from calls.services import (
    call_archive,
    call_labels_change,
    call_update,
    label_delete,
    snippet_create,
    snippet_delete,
)

PREVIEW_SEGMENTS = 20


def _short(text: str, length: int = 80) -> str:
    return Truncator(" ".join(text.split())).chars(length)


class CallFilter(admin.SimpleListFilter):
    """Narrow a list to one call without listing every call: the id comes from a link or the URL."""

    title = "call"
    parameter_name = "call"

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> list[tuple[str, str]]:
        value = self.value()
        if not value:
            return []
        try:
            call = Call.objects.filter(pk=uuid.UUID(value)).only("title").first()
        except ValueError:
            return []
        return [(value, call.title if call is not None else value)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if not value:
            return queryset
        try:
            return queryset.filter(call_id=uuid.UUID(value))
        except ValueError:
            return queryset.none()


# --- deals ------------------------------------------------------------------------------------


@admin.register(Deal)
class DealAdmin(OperatorAdmin[Deal]):
    list_display = ("name", "org", "stage", "amount", "owner", "crm_id", "created_at")
    list_filter = ("org", "stage", "created_at")
    search_fields = ("name", "crm_id", "owner__email")
    uuid_search_fields = ("pk", "owner_id")
    autocomplete_fields = ("org", "owner")
    readonly_fields = ("id", "created_at")
    list_select_related = ("org", "owner")
    ordering = ("name",)


# --- calls ------------------------------------------------------------------------------------


class ParticipantInline(TabularInline[Participant, Call]):
    model = Participant
    extra = 0
    fields = ("name", "email", "affiliation", "organizer", "user")
    autocomplete_fields = ("user",)


class InsightInline(StackedInline[Insight, Call]):
    model = Insight
    extra = 0
    max_num = 1


class CallLabelInline(TabularInline[CallLabel, Call]):
    """Read-only: call labels are set and cleared under Call labels, which calls call_labels_change."""

    model = CallLabel
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("category", "option")
    readonly_fields = ("category", "option")
    verbose_name_plural = "call labels (change them under Call labels)"

    def has_add_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Call | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[CallLabel]:
        return super().get_queryset(request).select_related("category", "option")


_CALL_FIELDS = {"title": "title", "private": "private"}


class CallForm(ModelForm[Call]):
    class Meta:
        model = Call
        fields = ("title", "private", "archived")

    def update_kwargs(self) -> dict[str, Any]:
        """What the form asks call_update to change."""
        return {name: self.cleaned_data[name] for name in ("title", "private") if name in self.changed_data}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors or self.instance._state.adding:
            return cleaned
        call, kwargs = self.instance, self.update_kwargs()
        if kwargs:
            error = dry_run(lambda: call_update(actor=operator_actor(call.org_id), call_id=call.pk, **kwargs))
            if error is not None:
                add_domain_error(self, error, _CALL_FIELDS)
        return cleaned


@admin.register(Call)
class CallAdmin(OperatorAdmin[Call]):
    """Operators correct calls, they do not make them: no add, and only title, privacy and archiving change."""

    form = CallForm
    list_display = ("title", "org", "owner", "started_at", "duration", "private", "archived", "is_internal")
    list_filter = ("archived", "private", "is_internal", "org", "started_at")
    search_fields = ("title", "owner__email")
    search_help_text = "Title or owner email; or paste a call, owner or deal id."
    uuid_search_fields = ("pk", "owner_id", "deal_id")
    autocomplete_fields = ("org", "owner", "team", "deal")
    list_select_related = ("org", "owner")
    date_hierarchy = "started_at"
    show_full_result_count = False
    ordering = ("-started_at",)
    fieldsets = (
        (None, {"fields": ("id", "title", "private", "archived")}),
        (
            "Recording",
            {"fields": ("org", "owner", "team", "deal", "started_at", "duration_s", "is_internal", "media_url")},
        ),
        ("Transcript", {"fields": ("segment_count", "transcript_preview")}),
        (None, {"fields": ("created_at",)}),
    )
    readonly_fields = (
        "id",
        "org",
        "owner",
        "team",
        "deal",
        "started_at",
        "duration_s",
        "is_internal",
        "media_url",
        "created_at",
        "segment_count",
        "transcript_preview",
    )
    # Segments are not an inline: a long call has thousands of them.
    inlines = (ParticipantInline, InsightInline, CallLabelInline)
    actions = ("archive_calls", "restore_calls")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="duration", ordering="duration_s")
    def duration(self, obj: Call) -> str:
        minutes, seconds = divmod(obj.duration_s, 60)
        return f"{minutes}:{seconds:02d}"

    @admin.display(description="segments")
    def segment_count(self, obj: Call) -> SafeString:
        url = reverse("admin:calls_transcriptsegment_changelist")
        return format_html('<a href="{}?call={}">{} segments</a>', url, obj.pk, obj.segments.count())

    @admin.display(description=f"first {PREVIEW_SEGMENTS} segments")
    def transcript_preview(self, obj: Call) -> SafeString | str:
        segments = list(obj.segments.order_by("position")[:PREVIEW_SEGMENTS])
        if not segments:
            return "—"
        rows = format_html_join(
            "\n",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((f"{s.start_s:.0f}s", s.speaker, _short(s.text, 300)) for s in segments),
        )
        return format_html("<table>{}</table>", rows)

    def save_model(self, request: HttpRequest, obj: Call, form: Any, change: Any) -> None:
        actor = operator_actor(obj.org_id)
        kwargs = form.update_kwargs()
        if kwargs:
            call_update(actor=actor, call_id=obj.pk, **kwargs)
        if "archived" in form.changed_data:
            call_archive(actor=actor, call_id=obj.pk, archived=obj.archived)
        # The service normalises the title; show what it stored.
        obj.refresh_from_db(fields=["title", "private", "archived"])

    def _set_archived(self, request: HttpRequest, queryset: QuerySet[Call], archived: bool) -> None:
        done, errors = 0, []
        for call in queryset.select_related(None).only("pk", "org_id", "title"):
            try:
                call_archive(actor=operator_actor(call.org_id), call_id=call.pk, archived=archived)
            except DomainError as exc:
                errors.append(f"{call}: {exc.message}")
            else:
                done += 1
        report_outcome(self, request, done, "Archived" if archived else "Restored", errors)

    @admin.action(description="Archive selected calls")
    def archive_calls(self, request: HttpRequest, queryset: QuerySet[Call]) -> None:
        self._set_archived(request, queryset, True)

    @admin.action(description="Restore selected calls")
    def restore_calls(self, request: HttpRequest, queryset: QuerySet[Call]) -> None:
        self._set_archived(request, queryset, False)


@admin.register(Participant)
class ParticipantAdmin(OperatorAdmin[Participant]):
    list_display = ("name", "email", "affiliation", "organizer", "call", "user")
    list_filter = (CallFilter, "affiliation", "organizer")
    search_fields = ("name", "email")
    uuid_search_fields = ("pk", "call_id", "user_id")
    autocomplete_fields = ("call", "user")
    readonly_fields = ("id",)
    list_select_related = ("call", "user")
    show_full_result_count = False
    # Grouped by call without joining calls to sort.
    ordering = ("call_id", "-organizer", "name")


@admin.register(TranscriptSegment)
class TranscriptSegmentAdmin(OperatorAdmin[TranscriptSegment]):
    list_display = ("call", "position", "speaker", "start_s", "end_s", "text_preview")
    list_filter = (CallFilter,)
    search_fields = ("speaker", "text")
    search_help_text = "Speaker or text; or paste a call id to list its transcript."
    uuid_search_fields = ("call_id",)
    autocomplete_fields = ("call",)
    readonly_fields = ("id",)
    list_select_related = ("call",)
    show_full_result_count = False

    def get_ordering(self, request: HttpRequest) -> tuple[str, ...]:
        # One call's transcript reads in order (the (call, position) index); the whole table
        # shows newest first by primary key rather than sorting millions of rows by call.
        return ("position",) if request.GET.get(CallFilter.parameter_name or "call") else ("-id",)

    @admin.display(description="text")
    def text_preview(self, obj: TranscriptSegment) -> str:
        return _short(obj.text)


@admin.register(Insight)
class InsightAdmin(OperatorAdmin[Insight]):
    list_display = ("call", "summary_preview")
    search_fields = ("call__title", "summary")
    autocomplete_fields = ("call",)
    list_select_related = ("call",)

    def get_readonly_fields(self, request: HttpRequest, obj: Insight | None = None) -> tuple[str, ...]:
        # The call is the primary key: changing it would copy the insight, not move it.
        return ("call",) if obj is not None else ()

    @admin.display(description="summary")
    def summary_preview(self, obj: Insight) -> str:
        return _short(obj.summary)


# --- labels -----------------------------------------------------------------------------------


class LabelOptionInline(TabularInline[LabelOption, LabelCategory]):
    model = LabelOption
    extra = 0
    fields = ("value", "description", "position")


@admin.register(LabelCategory)
class LabelCategoryAdmin(OperatorAdmin[LabelCategory]):
    list_display = ("name", "org", "ai_flow", "all_teams", "created_at")
    list_filter = ("ai_flow", "all_teams", "org", "created_at")
    search_fields = ("name", "org__name")
    autocomplete_fields = ("org", "teams")
    readonly_fields = ("id", "created_at")
    list_select_related = ("org",)
    inlines = (LabelOptionInline,)
    ordering = ("org__name", "name")

    # Adding and changing a category (with its inline options and teams) still saves plainly: label_create and
    # label_update take the whole option list at once, which the admin only has after saving the inline.

    def delete_model(self, request: HttpRequest, obj: LabelCategory) -> None:
        try:
            label_delete(actor=operator_actor(obj.org_id), label_id=obj.pk)
        except DomainError as exc:
            self.message_user(request, f"{obj}: {exc.message}", messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[LabelCategory]) -> None:
        for label in queryset:
            self.delete_model(request, label)


@admin.register(LabelOption)
class LabelOptionAdmin(OperatorAdmin[LabelOption]):
    list_display = ("value", "category", "position")
    list_filter = ("category__org",)
    search_fields = ("value", "category__name")
    uuid_search_fields = ("pk", "category_id")
    autocomplete_fields = ("category",)
    readonly_fields = ("id",)
    list_select_related = ("category",)
    ordering = ("category__name", "position", "value")


_CALL_LABEL_FIELDS = {"call": "call", "label": "category", "labels": "option"}


def _set_call_label(call: Call, category: LabelCategory, option: LabelOption) -> None:
    call_labels_change(actor=operator_actor(call.org_id), call_id=call.pk, labels={str(category.pk): option.value})


class CallLabelForm(ModelForm[CallLabel]):
    """Checked by call_labels_change: one organisation, an option of the label, a label for the call's team."""

    class Meta:
        model = CallLabel
        fields = ("call", "category", "option")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        adding = self.instance._state.adding
        # On change only the option is editable: moving a label to another call or category is a clear and a set.
        call = cleaned["call"] if adding else self.instance.call
        category = cleaned["category"] if adding else self.instance.category
        option = cleaned["option"]
        if option.category_id != category.pk:
            self.add_error("option", "Choose an option of this label.")
            return cleaned
        error = dry_run(lambda: _set_call_label(call, category, option))
        if error is not None:
            add_domain_error(self, error, _CALL_LABEL_FIELDS)
        return cleaned


@admin.register(CallLabel)
class CallLabelAdmin(OperatorAdmin[CallLabel]):
    form = CallLabelForm
    list_display = ("call", "category", "option")
    list_filter = (CallFilter, "category__org")
    search_fields = ("category__name", "option__value")
    uuid_search_fields = ("call_id", "category_id", "option_id")
    autocomplete_fields = ("call", "category", "option")
    list_select_related = ("call", "category", "option")

    def get_readonly_fields(self, request: HttpRequest, obj: CallLabel | None = None) -> tuple[str, ...]:
        return ("id", "call", "category") if obj is not None else ("id",)

    def save_model(self, request: HttpRequest, obj: CallLabel, form: Any, change: Any) -> None:
        _set_call_label(obj.call, obj.category, obj.option)
        adopt(obj, CallLabel.objects.get(call_id=obj.call_id, category_id=obj.category_id))

    def delete_model(self, request: HttpRequest, obj: CallLabel) -> None:
        call_labels_change(
            actor=operator_actor(obj.call.org_id), call_id=obj.call_id, labels={str(obj.category_id): None}
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[CallLabel]) -> None:
        for call_label in queryset.select_related("call"):
            self.delete_model(request, call_label)


# --- scorecards -------------------------------------------------------------------------------


class ScorecardItemInline(StackedInline[ScorecardItem, Scorecard]):
    model = ScorecardItem
    extra = 0
    fields = (
        ("title", "weight", "position"),
        ("min_score", "middle_score", "max_score"),
        "min_criteria",
        "middle_criteria",
        "max_criteria",
    )


@admin.register(Scorecard)
class ScorecardAdmin(OperatorAdmin[Scorecard]):
    list_display = ("title", "org", "enabled", "interaction_type", "all_teams", "expert_mode", "created_at")
    list_filter = ("enabled", "interaction_type", "expert_mode", "all_teams", "org", "created_at")
    search_fields = ("title", "org__name")
    autocomplete_fields = ("org", "teams")
    readonly_fields = ("id", "created_at")
    list_select_related = ("org",)
    inlines = (ScorecardItemInline,)
    ordering = ("org__name", "title")


@admin.register(ScorecardItem)
class ScorecardItemAdmin(OperatorAdmin[ScorecardItem]):
    list_display = ("title", "scorecard", "weight", "min_score", "middle_score", "max_score", "position")
    list_filter = ("scorecard__org",)
    search_fields = ("title", "scorecard__title")
    uuid_search_fields = ("pk", "scorecard_id")
    autocomplete_fields = ("scorecard",)
    readonly_fields = ("id",)
    list_select_related = ("scorecard",)
    ordering = ("scorecard__title", "position")


class ScorecardItemScoreInline(TabularInline[ScorecardItemScore, ScorecardResult]):
    model = ScorecardItemScore
    extra = 0
    autocomplete_fields = ("item",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ScorecardItemScore]:
        return super().get_queryset(request).select_related("item")


@admin.register(ScorecardResult)
class ScorecardResultAdmin(OperatorAdmin[ScorecardResult]):
    list_display = ("scorecard", "call", "created_by", "created_at")
    list_filter = (CallFilter, "scorecard__org", "created_at")
    search_fields = ("scorecard__title", "call__title")
    uuid_search_fields = ("pk", "call_id", "scorecard_id")
    autocomplete_fields = ("scorecard", "call", "created_by")
    readonly_fields = ("id", "created_at")
    list_select_related = ("scorecard", "call", "created_by")
    date_hierarchy = "created_at"
    inlines = (ScorecardItemScoreInline,)
    ordering = ("-created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ScorecardResult]:
        # str(result) names the scorecard; autocomplete lists render it too.
        return super().get_queryset(request).select_related("scorecard")


@admin.register(ScorecardItemScore)
class ScorecardItemScoreAdmin(OperatorAdmin[ScorecardItemScore]):
    list_display = ("result", "item", "score")
    search_fields = ("item__title", "result__scorecard__title")
    uuid_search_fields = ("result_id", "item_id")
    autocomplete_fields = ("result", "item")
    readonly_fields = ("id",)
    list_select_related = ("result__scorecard", "item")


# --- snippets, forecast, agent ----------------------------------------------------------------


_SNIPPET_FIELDS = {
    "call": "call",
    "user": "owner",
    "user_uuid": "owner",
    "start_time": "start_s",
    "end_time": "end_s",
    "title": "title",
    "library_folder_path": "library_folder_path",
}


class SnippetForm(ModelForm[Snippet]):
    """A new snippet is made by snippet_create (owner who sees the call, time range, share code, title if empty)."""

    class Meta:
        model = Snippet
        fields = (
            "call",
            "owner",
            "start_s",
            "end_s",
            "title",
            "notes",
            "internal",
            "notify_views",
            "in_library",
            "library_folder_path",
            "my_library",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance._state.adding and "title" in self.fields:
            self.fields["title"].required = False
            self.fields["title"].help_text = "Leave empty for the call's title and the time range."

    def create_kwargs(self) -> dict[str, Any]:
        """What the form asks snippet_create to make."""
        data = self.cleaned_data
        return {
            "call_id": data["call"].pk,
            "owner_id": data["owner"].pk,
            "start_time": data.get("start_s"),
            "end_time": data.get("end_s"),
            "title": data.get("title") or None,
            "notes": data.get("notes") or "",
            "internal": bool(data.get("internal")),
            "notify_views": bool(data.get("notify_views")),
            "in_library": bool(data.get("in_library")),
            "library_folder_path": data.get("library_folder_path") or "",
            "my_library": bool(data.get("my_library")),
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors or not self.instance._state.adding:
            return cleaned
        org_id, kwargs = cleaned["call"].org_id, self.create_kwargs()
        error = dry_run(lambda: snippet_create(actor=operator_actor(org_id), **kwargs))
        if error is not None:
            add_domain_error(self, error, _SNIPPET_FIELDS)
        return cleaned


@admin.register(Snippet)
class SnippetAdmin(OperatorAdmin[Snippet]):
    """Snippets are added and deleted through the services; a saved snippet keeps its call, owner, range and code."""

    form = SnippetForm
    list_display = ("title", "call", "owner", "internal", "in_library", "my_library", "created_at")
    list_filter = ("internal", "in_library", "my_library", CallFilter, "created_at")
    search_fields = ("title", "share_code", "owner__email")
    uuid_search_fields = ("pk", "call_id", "owner_id")
    autocomplete_fields = ("call", "owner")
    list_select_related = ("call", "owner")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)

    def get_readonly_fields(self, request: HttpRequest, obj: Snippet | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("id", "created_at")
        return ("id", "call", "owner", "start_s", "end_s", "share_code", "created_at")

    def save_model(self, request: HttpRequest, obj: Snippet, form: Any, change: Any) -> None:
        if change:
            # Titles, notes and library flags have no service of their own; nothing else is editable here.
            super().save_model(request, obj, form, change)
            return
        adopt(obj, snippet_create(actor=operator_actor(obj.call.org_id), **form.create_kwargs()))

    def delete_model(self, request: HttpRequest, obj: Snippet) -> None:
        try:
            snippet_delete(actor=operator_actor(obj.call.org_id), snippet_id=obj.pk)
        except DomainError as exc:
            self.message_user(request, f"{obj}: {exc.message}", messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Snippet]) -> None:
        for snippet in queryset.select_related("call"):
            self.delete_model(request, snippet)


@admin.register(ForecastCategory)
class ForecastCategoryAdmin(OperatorAdmin[ForecastCategory]):
    list_display = ("label", "org", "column_key", "column_type", "display_order", "include_in_call", "color")
    list_filter = ("column_type", "include_in_call", "org")
    search_fields = ("label", "column_key", "org__name")
    autocomplete_fields = ("org",)
    readonly_fields = ("id",)
    list_select_related = ("org",)
    ordering = ("org__name", "display_order")


class SuperAgentMessageInline(TabularInline[SuperAgentMessage, SuperAgentSession]):
    """The conversation as it happened: read-only."""

    model = SuperAgentMessage
    extra = 0
    can_delete = False
    fields = ("created_at", "role", "content", "references")
    readonly_fields = ("created_at", "role", "content", "references")
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: SuperAgentSession | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SuperAgentSession | None = None) -> bool:
        return False


@admin.register(SuperAgentSession)
class SuperAgentSessionAdmin(OperatorAdmin[SuperAgentSession]):
    list_display = ("__str__", "org", "user", "status", "tz_name", "created_at", "updated_at")
    list_filter = ("status", "org", "updated_at")
    search_fields = ("title", "user__email")
    uuid_search_fields = ("pk", "user_id")
    autocomplete_fields = ("org", "user")
    readonly_fields = ("id", "created_at")
    list_select_related = ("org", "user")
    date_hierarchy = "updated_at"
    inlines = (SuperAgentMessageInline,)
    ordering = ("-updated_at",)


@admin.register(SuperAgentMessage)
class SuperAgentMessageAdmin(OperatorAdmin[SuperAgentMessage]):
    list_display = ("session", "role", "content_preview", "created_at")
    list_filter = ("role", "created_at")
    search_fields = ("content", "session__title")
    uuid_search_fields = ("pk", "session_id")
    autocomplete_fields = ("session",)
    readonly_fields = ("id", "created_at")
    list_select_related = ("session",)
    ordering = ("-created_at",)

    @admin.display(description="content")
    def content_preview(self, obj: SuperAgentMessage) -> str:
        return _short(obj.content)
