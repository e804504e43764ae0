"""Writes on a person's OAuth connections, shared by the Connected apps page and the operators' admin."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from accounts.models import User
from oauth.models import Application, Connection


def disconnect(user: User, application: Application) -> None:
    """Revoke every access and refresh token (and pending code) of this client for this person, at once."""
    with transaction.atomic():
        get_refresh_token_model().objects.filter(user=user, application=application, revoked__isnull=True).update(
            revoked=timezone.now()
        )
        get_access_token_model().objects.filter(user=user, application=application).delete()
        get_grant_model().objects.filter(user=user, application=application).delete()
        Connection.objects.filter(user=user, application=application).delete()
