"""Every change to an organisation's limits (admin, shell, cascade from a deleted organisation)
is announced once its transaction commits: a reader that ran before the commit must not keep
the old value."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from ratelimit.models import OrgRateLimit
from ratelimit.runtime import publish_override_change


@receiver(post_save, sender=OrgRateLimit)
@receiver(post_delete, sender=OrgRateLimit)
def _override_changed(**kwargs: Any) -> None:
    transaction.on_commit(publish_override_change)
