"""API keys: the database keeps what identifies and revokes a key, never the token itself."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Organization


class ApiKey(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The JWT's `jti`; every request looks the key up by it.
    jti = models.CharField(max_length=64, unique=True, editable=False)
    # SHA-256 of the whole token, compared in constant time: a verified
    # signature alone is not enough, the exact token must be one we issued.
    token_hash = models.CharField(max_length=64, editable=False)
    # Shown in lists so people can tell keys apart ("ak_3f9c1a2b…").
    prefix = models.CharField(max_length=16, editable=False, db_index=True)
    name = models.CharField(max_length=100)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    # Null for org-level keys: full org access, bound to no user.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="api_keys"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["org", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def org_level(self) -> bool:
        return self.user_id is None

    @property
    def display_prefix(self) -> str:
        return f"{self.prefix}…"
