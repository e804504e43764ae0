"""Operators set an organisation's own limits here; empty fields keep the server defaults.

A plain ModelAdmin: the values have no rule beyond the model's validators, and every save or
delete is announced to the running limiters by ratelimit.signals, whatever wrote it.
"""

from __future__ import annotations

from django.contrib import admin

from accounts.admin import OperatorAdmin
from ratelimit.models import OrgRateLimit


@admin.register(OrgRateLimit)
class OrgRateLimitAdmin(OperatorAdmin[OrgRateLimit]):
    list_display = ("org", "per_second", "per_hour", "per_day", "updated_at")
    search_fields = ("org__name", "org__slug")
    uuid_search_fields = ("org__pk",)
    autocomplete_fields = ("org",)
    list_select_related = ("org",)
    readonly_fields = ("updated_at",)
    fields = ("org", "per_second", "per_hour", "per_day", "updated_at")
