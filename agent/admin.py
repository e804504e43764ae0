"""Operators' view of super agent jobs: read-only (people cancel through the tools; workers own the state)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from accounts.admin import OperatorAdmin
from agent.models import AgentJob


@admin.register(AgentJob)
class AgentJobAdmin(OperatorAdmin[AgentJob]):
    list_display = ("id", "state", "session", "user", "attempts", "worker", "heartbeat_at", "created_at")
    list_filter = ("state", "created_at")
    search_fields = ("user__email", "session__title", "worker")
    uuid_search_fields = ("pk", "session_id", "user_id")
    list_select_related = ("session", "user")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    readonly_fields = (
        "id",
        "session",
        "question",
        "answer",
        "user",
        "via",
        "scopes",
        "state",
        "attempts",
        "worker",
        "heartbeat_at",
        "error",
        "cancel_reason",
        "created_at",
        "started_at",
        "finished_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AgentJob | None = None) -> bool:
        return False
