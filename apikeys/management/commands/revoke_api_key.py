"""Revoke an API key by id or display prefix (operators)."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.permissions import Actor
from apikeys.models import ApiKey
from apikeys.services import apikey_revoke


class Command(BaseCommand):
    help = "Revoke an API key: it stops working on its next request."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key", help="The key's id, or its prefix as shown in lists (ak_xxxxxxxx)")

    def handle(self, *args: Any, **options: Any) -> None:
        ref = options["key"].rstrip("…").strip()
        try:
            matches = list(ApiKey.objects.filter(pk=uuid.UUID(ref)))
        except ValueError:
            matches = list(ApiKey.objects.filter(prefix=ref)) if ref else []
        if not matches:
            raise CommandError(f"No API key {ref!r}")
        if len(matches) > 1:
            raise CommandError(f"{len(matches)} keys have the prefix {ref!r}; give the id")
        key = apikey_revoke(actor=Actor.org_wide(matches[0].org_id, via="operator"), api_key_id=matches[0].pk)
        self.stdout.write(f"Revoked {key.name!r} ({key.display_prefix}) at {key.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
