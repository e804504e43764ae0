"""Reads about a person's OAuth connections (the Connected apps page)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from oauth2_provider.scopes import get_scopes_backend

from accounts.models import User
from oauth.models import Application, Connection


def connected_apps_for(user: User) -> list[dict[str, Any]]:
    """Each client the person has authorised and still holds a token for, with scopes and last use."""
    now = timezone.now()
    AccessToken = get_access_token_model()
    RefreshToken = get_refresh_token_model()
    scopes: dict[int, set[str]] = {}
    for app_id, scope in AccessToken.objects.filter(user=user, expires__gt=now, application__isnull=False).values_list(
        "application_id", "scope"
    ):
        scopes.setdefault(app_id, set()).update(scope.split())
    for app_id, scope in RefreshToken.objects.filter(user=user, revoked__isnull=True).values_list(
        "application_id", "access_token__scope"
    ):
        scopes.setdefault(app_id, set()).update((scope or "").split())
    connections = {c.application_id: c for c in Connection.objects.filter(user=user, application_id__in=scopes)}
    descriptions = get_scopes_backend().get_all_scopes()
    apps = []
    for application in Application.objects.filter(pk__in=scopes).order_by("name", "pk"):
        connection = connections.get(application.pk)
        apps.append(
            {
                "application": application,
                "scopes": [(s, descriptions.get(s, s)) for s in sorted(scopes[application.pk]) if s in descriptions],
                "authorised_at": connection.created_at if connection else None,
                "last_used_at": connection.last_used_at if connection else None,
            }
        )
    return apps
