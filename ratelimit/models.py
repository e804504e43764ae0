"""Per-organisation rate-limit overrides, set by operators in the admin.

Empty fields mean "the server default" (RATE_LIMIT_PER_SECOND / _HOUR / _DAY).
The limits apply to every identity of the organisation: each user and the org
keys keep their own counters, all with these limits.
"""

from __future__ import annotations

from django.core.validators import MinValueValidator
from django.db import models

from accounts.models import Organization


class OrgRateLimit(models.Model):
    org = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="rate_limit")
    per_second = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Empty: the server default."
    )
    per_hour = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Empty: the server default."
    )
    per_day = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Empty: the server default."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "organisation rate limit"
        ordering = ["org__name"]

    def __str__(self) -> str:
        return f"Rate limits of {self.org}"
