"""Organisations, people, roles and teams.

Models hold fields, constraints and tiny properties; every rule about who may
change what lives in accounts/services.py and accounts/selectors.py.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Organization(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    # Lower-case domains such as "acme.com": a participant whose email is at
    # one of them is internal, anyone else is external.
    email_domains = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def is_internal_email(self, email: str) -> bool:
        domain = email.rsplit("@", 1)[-1].lower()
        return domain in {d.lower() for d in self.email_domains}


class SeatType(models.TextChoices):
    RECORDING = "recording", "Recording"
    LISTENER = "listener", "Listener"


class RoleType(models.TextChoices):
    ADMIN = "admin", "Admin"
    MANAGER = "manager", "Manager"
    SALES_REP = "sales_rep", "Sales rep"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):  # type: ignore[django-manager-missing]  # oauth.Application derives from untyped DOT
    """A person. Operators (staff) may have no organisation; everyone else has one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="users", null=True, blank=True)
    email = models.EmailField(unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    seat_type = models.CharField(max_length=16, choices=SeatType.choices, default=SeatType.RECORDING)
    bot_name = models.CharField(max_length=100, blank=True)
    deals_enabled = models.BooleanField(default=True)
    roles: models.ManyToManyField[Role, Role] = models.ManyToManyField("Role", related_name="users", blank=True)
    is_staff = models.BooleanField(default=False, help_text="May log in to the operators' admin.")
    date_joined = models.DateTimeField(default=timezone.now)
    # Deactivation keeps the data and ends access: authentication checks this
    # column on every request, so a deactivated user's keys and tokens die at once.
    deactivated_at = models.DateTimeField(null=True, blank=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["email"]
        indexes = [models.Index(fields=["org", "email"])]

    def __str__(self) -> str:
        return self.email

    # Derived from deactivated_at so the two can never disagree.
    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.deactivated_at is None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email


class Role(models.Model):
    """One of an organisation's roles; users hold roles through User.roles."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="roles")
    type = models.CharField(max_length=16, choices=RoleType.choices)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["org", "type"]
        constraints = [models.UniqueConstraint(fields=["org", "type"], name="role_unique_type_per_org")]

    def __str__(self) -> str:
        return f"{self.name} ({self.org})"


class Team(models.Model):
    """A team, nested through `parent`.

    `path` materialises the ancestry ("/<root id>/…/<own id>/") so that "this
    team and all its sub-teams" is one indexed prefix match in SQL. Services
    keep it in step with `parent`; nothing else writes it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=255)
    parent = models.ForeignKey("self", on_delete=models.PROTECT, related_name="children", null=True, blank=True)
    path = models.CharField(max_length=1024, editable=False, db_index=True)
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    MAX_DEPTH: ClassVar[int] = 10

    class Meta:
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["org", "name"], name="team_unique_name_per_org")]
        indexes = [models.Index(fields=["org", "path"])]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    primary = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["team", "user"]
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="membership_unique_user_team"),
            # At most one primary per user in the database; services make it exactly one.
            models.UniqueConstraint(fields=["user"], condition=Q(primary=True), name="membership_one_primary_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class Invitation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    org = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="invitations")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="invitations")
    seat_type = models.CharField(max_length=16, choices=SeatType.choices, default=SeatType.RECORDING)
    invited_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="invitations_sent")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["org", "email"])]

    def __str__(self) -> str:
        return f"Invitation for {self.email}"
