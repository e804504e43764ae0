"""Create an API key from the command line (operators). The token is printed alone on the last line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.errors import DomainError
from accounts.models import Organization, User
from accounts.permissions import Actor
from apikeys.services import apikey_create


class Command(BaseCommand):
    help = "Create an API key for an organisation (org-level) or one of its users (user-level)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True, help="Organisation slug")
        parser.add_argument("--name", required=True, help="What the key is for")
        parser.add_argument("--user", help="Email of the user a user-level key acts as (omit for org-level)")
        parser.add_argument("--expiry-hours", type=int, help="Lifetime in hours (omit: never expires)")

    def handle(self, *args: Any, **options: Any) -> None:
        org = Organization.objects.filter(slug=options["org"]).first()
        if org is None:
            raise CommandError(f"No organisation with slug {options['org']!r}")
        user_id = None
        if options["user"]:
            user = User.objects.filter(org=org, email=options["user"].strip().lower()).first()
            if user is None:
                raise CommandError(f"No user {options['user']!r} in {org.slug}")
            user_id = user.pk
        operator = Actor.org_wide(org.pk, via="operator")
        try:
            key, token = apikey_create(
                actor=operator,
                name=options["name"],
                org_level=user_id is None,
                expiry_hours=options["expiry_hours"],
                user_id=user_id,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        level = "org-level" if key.org_level else f"user-level for {options['user']}"
        self.stderr.write(f"Created {level} key {key.name!r} (id {key.pk}, {key.display_prefix}). Shown once:")
        self.stdout.write(token)
