"""What `make run` prints before serving: URLs, the demo admin login, demo API keys and a curl line.

Development only. The demo keys' tokens are kept in var/demo_keys.json (mode
0600) so that every `make run` prints working keys without minting new ones;
the database itself still holds only their hashes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization, RoleType, User
from accounts.permissions import Actor
from apikeys import tokens
from apikeys.authentication import authenticate_api_key
from apikeys.services import apikey_create

ORG_KEY_NAME = "make run demo (org-level)"
USER_KEY_NAME = "make run demo (user-level)"


class Command(BaseCommand):
    help = "Print the demo MCP URL, admin login and API keys (development only)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("demo_info is for development only")
        org = Organization.objects.order_by("created_at").first()
        if org is None:
            raise CommandError("No organisation yet: run `python manage.py seed_demo` first")
        admin = (
            User.objects.filter(org=org, roles__type=RoleType.ADMIN, deactivated_at__isnull=True)
            .order_by("date_joined")
            .first()
        )
        store = Path(settings.VAR_DIR) / "demo_keys.json"
        saved: dict[str, str] = json.loads(store.read_text()) if store.exists() else {}
        org_key = self._key(saved, "org", org, None)
        user_key = self._key(saved, "user", org, admin) if admin else None
        store.write_text(json.dumps(saved))
        store.chmod(0o600)

        base = settings.PUBLIC_BASE_URL
        password_file = Path(settings.VAR_DIR) / "demo_admin_password"
        password = password_file.read_text().strip() if password_file.exists() else "(the password you gave seed_demo)"
        lines = [
            "",
            f"  Attention MCP — {org.name} demo",
            f"  MCP endpoint:    {settings.MCP_RESOURCE_URL}",
            f"  Operators' admin: {base}/admin/",
            f"  Demo login:      {admin.email if admin else '-'} / {password}"
            "   (the admin, the web pages and OAuth sign-in)",
            f"  Web pages:       {base}/account/  (Connected apps, Settings → API keys)",
            f"  Org-level key:   {org_key}",
        ]
        if user_key:
            lines.append(f"  User-level key:  {user_key}   (acts as {admin.email if admin else '-'})")
        lines += [
            "",
            "  Connect an MCP client with OAuth (Claude custom connector, MCP Inspector, any SDK client):",
            f"  give it {settings.MCP_RESOURCE_URL} and no key; it registers itself and opens the sign-in page.",
            "",
            "  Or with a key:",
            f'  curl {settings.MCP_RESOURCE_URL} -H "Authorization: Bearer {org_key}" \\',
            '    -H "Content-Type: application/json" --data \'{"jsonrpc":"2.0","id":1,"method":"tools/list"}\'',
            "",
        ]
        self.stdout.write("\n".join(lines))

    def _key(self, saved: dict[str, str], slot: str, org: Organization, user: User | None) -> str:
        token = saved.get(slot)
        if token:
            try:
                authenticate_api_key(token, tokens.verify(token))
                return token
            except (tokens.TokenInvalid, tokens.TokenExpired):
                pass  # revoked, or minted for another base URL or database: make a fresh one
        _, token = apikey_create(
            actor=Actor.org_wide(org.pk, via="operator"),
            name=USER_KEY_NAME if user else ORG_KEY_NAME,
            org_level=user is None,
            user_id=user.pk if user else None,
        )
        saved[slot] = token
        return token
