"""Delete dynamically registered OAuth clients that were never used.

Anonymous Dynamic Client Registration means anyone can create rows; a client
that has no tokens, no pending codes and no connection after
OAUTH_UNUSED_CLIENT_DAYS is abandoned (Claude re-registers when it needs to).
Pre-registered (manual) applications are never touched. Run it daily (cron).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Exists, OuterRef
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model

from oauth.models import Application, Connection


def abandoned_clients(older_than_days: int) -> Any:
    cutoff = timezone.now() - timedelta(days=older_than_days)
    person_tokens = get_access_token_model().objects.filter(application=OuterRef("pk"), user__isnull=False)
    live_refresh = get_refresh_token_model().objects.filter(application=OuterRef("pk"), revoked__isnull=True)
    return (
        Application.objects.exclude(registration_source=Application.RegistrationSource.MANUAL)
        .filter(created__lt=cutoff)
        .exclude(Exists(person_tokens))
        .exclude(Exists(live_refresh))
        .exclude(Exists(get_grant_model().objects.filter(application=OuterRef("pk"))))
        .exclude(Exists(Connection.objects.filter(application=OuterRef("pk"))))
    )


class Command(BaseCommand):
    help = "Delete dynamically registered (DCR/CIMD) OAuth clients never used for a login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=settings.OAUTH_UNUSED_CLIENT_DAYS)
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args: Any, days: int, dry_run: bool, **options: Any) -> None:
        if days < 1:
            self.stderr.write("--days must be at least 1")
            raise SystemExit(2)
        stale = abandoned_clients(days)
        count = stale.count()
        if not dry_run:
            # The DCR registration access token (user null) goes with its application (cascade).
            stale.delete()
        verb = "would delete" if dry_run else "deleted"
        self.stdout.write(f"{verb} {count} unused dynamic client(s) older than {days} day(s)")
