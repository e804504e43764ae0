"""Operators' view of OAuth: clients (dynamic, CIMD, pre-registered), grants and tokens, listed and revocable.

DOT registers its own admins (oauth2_provider comes first in INSTALLED_APPS); these replace the
credential ones so that no part of a token or code value is ever shown (DOT shows a suffix).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from oauth2_provider import admin as dot_admin
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from oauth.models import Application, Connection
from oauth.services import disconnect

HIDDEN = "(hidden)"

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
Grant = get_grant_model()


class ApplicationAdmin(dot_admin.ApplicationAdmin):  # type: ignore[misc]
    list_display = ("name", "client_id", "registration_source", "client_type", "created", "updated")
    list_filter = ("registration_source", "client_type")
    search_fields = ("name", "client_id")
    readonly_fields = ("registration_source", "cimd_expires_at", "created", "updated")


class AccessTokenAdmin(dot_admin.AccessTokenAdmin):  # type: ignore[misc]
    list_display = ("pk", "user", "application", "scope", "expires", "created")
    list_filter = ("application__registration_source",)
    exclude = ("token", "token_checksum")

    @admin.display(description="token")
    def masked_token(self, obj: Any) -> str:
        return HIDDEN


class RefreshTokenAdmin(dot_admin.RefreshTokenAdmin):  # type: ignore[misc]
    list_display = ("pk", "user", "application", "created", "revoked")
    list_filter = ("application__registration_source",)
    exclude = ("token", "token_checksum")

    @admin.display(description="token")
    def masked_token(self, obj: Any) -> str:
        return HIDDEN


class GrantAdmin(dot_admin.GrantAdmin):  # type: ignore[misc]
    list_display = ("pk", "user", "application", "expires", "created")
    exclude = ("code",)
    actions = ("delete_selected",)

    @admin.display(description="code")
    def masked_code(self, obj: Any) -> str:
        return HIDDEN


for model, model_admin in (
    (Application, ApplicationAdmin),
    (AccessToken, AccessTokenAdmin),
    (RefreshToken, RefreshTokenAdmin),
    (Grant, GrantAdmin),
):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin[Connection]):
    list_display = ("user", "application", "created_at", "last_used_at")
    search_fields = ("user__email", "application__name", "application__client_id")
    list_select_related = ("user", "application")
    readonly_fields = ("user", "application", "created_at", "last_used_at")
    actions = ("disconnect",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Disconnect: revoke every token of these clients for these people")
    def disconnect(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        count = 0
        for connection in queryset.select_related("user", "application"):
            disconnect(connection.user, connection.application)
            count += 1
        self.message_user(request, f"Disconnected {count} application(s).")
