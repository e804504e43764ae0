"""The operators' admin for organisations, people, roles, teams and memberships.

The admin is one more entry point (STYLE.md rule 3): it builds an operator
`Actor` for the object's organisation and calls the same services as MCP tools
and commands. Forms try the service in a savepoint that is always rolled back
(`dry_run`), so a refusal becomes a form error instead of a 500; `save_model`
then makes the real call.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import InlineModelAdmin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import forms as auth_forms
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest

from accounts.errors import DomainError, NotFound
from accounts.models import Invitation, Membership, Organization, Role, Team, User
from accounts.permissions import Actor
from accounts.services import (
    membership_add,
    membership_remove,
    organization_create,
    team_archive,
    team_create,
    team_update,
    user_deactivate,
    user_reactivate,
    user_role_remove,
    user_role_set,
)

# Generic at run time thanks to django_stubs_ext.monkeypatch() in settings; re-exported for calls/admin.py.
ModelAdmin = admin.ModelAdmin
StackedInline = admin.StackedInline
TabularInline = admin.TabularInline
BaseUserAdmin = auth_admin.UserAdmin
AdminUserCreationForm = auth_forms.AdminUserCreationForm
UserChangeForm = auth_forms.UserChangeForm
ModelForm = forms.ModelForm

admin.site.site_header = "Attention MCP — operators"
admin.site.site_title = "Attention MCP — operators"
admin.site.index_title = "Operations"

_M = TypeVar("_M", bound=Model)


# --- shared by accounts/admin.py and calls/admin.py -------------------------------------------


def operator_actor(org_id: uuid.UUID) -> Actor:
    """The actor for an operator's write in one organisation: org-wide, bound to no user."""
    return Actor.org_wide(org_id, via="operator")


class _Rollback(Exception):
    """Undoes a service call that only had to say whether it would succeed."""


def dry_run(write: Callable[[], object]) -> DomainError | None:
    """Run `write` in a savepoint that is always rolled back; return the DomainError it raised, if any."""
    try:
        with transaction.atomic():
            write()
            raise _Rollback
    except _Rollback:
        return None
    except DomainError as exc:
        return exc


def add_domain_error(
    form: forms.BaseForm, exc: DomainError, fields: Mapping[str, str], default: str | None = None
) -> None:
    """Show a service's refusal on the form field it concerns.

    `fields` maps the service's field (or, for NotFound, entity) names to form fields;
    anything else lands on `default`, or on the whole form.
    """
    if isinstance(exc, NotFound):
        key, message = exc.entity, f"Choose a {exc.entity} of the same organisation."
    else:
        key, message = str(exc.details.get("field", "")), exc.message
    field = fields.get(key, default)
    form.add_error(field if field in form.fields else None, message)


def adopt(obj: _M, saved: _M) -> None:
    """Make the admin's unsaved instance stand for the row a service wrote, so logging and redirects use it."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db
    obj._state.fields_cache = dict(saved._state.fields_cache)


def report_outcome(
    model_admin: ModelAdmin[Any], request: HttpRequest, done: int, verb: str, errors: Iterable[str]
) -> None:
    """One success line for an action, then one error line per object a service refused."""
    if done:
        model_admin.message_user(request, f"{verb} {done} {model_admin.opts.verbose_name_plural}.", messages.SUCCESS)
    for error in errors:
        model_admin.message_user(request, error, messages.ERROR)


def pasted_id(search_term: str) -> uuid.UUID | None:
    """The id an operator pasted into a search box, in its canonical hyphenated form only.

    Bare 32-digit hex stays a text search: share codes and external ids look like that.
    """
    term = search_term.strip().lower()
    try:
        ident = uuid.UUID(term)
    except ValueError:
        return None
    return ident if str(ident) == term else None


class OperatorAdmin(ModelAdmin[_M]):
    """A ModelAdmin whose search box also takes an id: a pasted UUID is an indexed lookup, not a text scan."""

    uuid_search_fields: ClassVar[Sequence[str]] = ("pk",)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[_M], bool]:
        ident = pasted_id(search_term)
        if ident is None:
            return super().get_search_results(request, queryset, search_term)
        match = Q()
        for name in self.uuid_search_fields:
            match |= Q(**{name: ident})
        return queryset.filter(match), False


# --- organisations and roles ------------------------------------------------------------------


@admin.register(Organization)
class OrganizationAdmin(OperatorAdmin[Organization]):
    list_display = ("name", "slug", "email_domains", "created_at")
    search_fields = ("name", "slug")
    list_filter = ("created_at",)
    readonly_fields = ("id", "created_at")
    fields = ("id", "name", "slug", "email_domains", "created_at")
    ordering = ("name",)

    def save_model(self, request: HttpRequest, obj: Organization, form: Any, change: Any) -> None:
        if change:
            # No service changes an organisation yet; a plain save is all there is.
            super().save_model(request, obj, form, change)
            return
        # The service also creates the organisation's three roles.
        adopt(obj, organization_create(name=obj.name, slug=obj.slug, email_domains=list(obj.email_domains or [])))


@admin.register(Role)
class RoleAdmin(OperatorAdmin[Role]):
    list_display = ("name", "type", "org")
    list_filter = ("type", "org")
    search_fields = ("name", "org__name")
    autocomplete_fields = ("org",)
    readonly_fields = ("id",)
    list_select_related = ("org",)
    ordering = ("org__name", "type")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Role]:
        # str(role) names the organisation; autocomplete lists render it too.
        return super().get_queryset(request).select_related("org")


# --- memberships ------------------------------------------------------------------------------

_MEMBERSHIP_FIELDS = {"team": "team", "user": "user", "primary": "make_primary"}


class MembershipForm(ModelForm[Membership]):
    # Not the model's `primary`: membership_add keeps exactly one primary per user,
    # so the form asks for "make it primary" and the service moves the flag.
    make_primary = forms.BooleanField(
        required=False,
        label="Make primary",
        help_text="Make this the user's primary team. A user's first team is always primary; "
        "to change it, make another membership primary.",
    )

    class Meta:
        model = Membership
        fields = ("user", "team")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        make_primary = bool(cleaned.get("make_primary"))
        if self.instance._state.adding:
            user, team = cleaned.get("user"), cleaned.get("team")
            if user is None or team is None:
                return cleaned
            user_id, team_id, org_id = user.pk, team.pk, team.org_id
        elif make_primary and not self.instance.primary:
            user_id, team_id, org_id = self.instance.user_id, self.instance.team_id, self.instance.team.org_id
        else:
            return cleaned
        error = dry_run(
            lambda: membership_add(actor=operator_actor(org_id), team_id=team_id, user_id=user_id, primary=make_primary)
        )
        if error is not None:
            add_domain_error(self, error, _MEMBERSHIP_FIELDS)
        return cleaned


def _membership_remove(membership: Membership) -> None:
    membership_remove(
        actor=operator_actor(membership.team.org_id), team_id=membership.team_id, user_id=membership.user_id
    )


@admin.register(Membership)
class MembershipAdmin(OperatorAdmin[Membership]):
    """Memberships are written only here (inlines on users and teams are read-only), through the services."""

    form = MembershipForm
    list_display = ("user", "team", "primary", "created_at")
    list_filter = ("primary", "team__org", "created_at")
    search_fields = ("user__email", "team__name")
    uuid_search_fields = ("user_id", "team_id")
    autocomplete_fields = ("user", "team")
    list_select_related = ("user", "team")
    ordering = ("team__path", "user__email")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user", "team")

    def get_fields(self, request: HttpRequest, obj: Membership | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("user", "team", "make_primary")
        if obj.primary:
            return ("id", "user", "team", "primary", "created_at")
        return ("id", "user", "team", "primary", "make_primary", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> tuple[str, ...]:
        # Moving a membership to another user or team is a remove and an add.
        return ("id", "user", "team", "primary", "created_at") if obj is not None else ("id", "created_at")

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: Any) -> None:
        make_primary = bool(form.cleaned_data.get("make_primary"))
        if change and not (make_primary and not obj.primary):
            return
        saved = membership_add(
            actor=operator_actor(obj.team.org_id), team_id=obj.team_id, user_id=obj.user_id, primary=make_primary
        )
        adopt(obj, saved)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        try:
            _membership_remove(obj)
        except DomainError as exc:
            self.message_user(request, f"{obj}: {exc.message}", messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for membership in queryset.select_related("team", "user"):
            self.delete_model(request, membership)


class _MembershipInline(TabularInline[Membership, Any]):
    """Read-only: memberships are added and removed from the Membership admin, which calls the services."""

    model = Membership
    extra = 0
    can_delete = False
    show_change_link = True
    readonly_fields = ("user", "team", "primary", "created_at")
    fields = ("user", "team", "primary", "created_at")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user", "team")


class UserMembershipInline(_MembershipInline):
    verbose_name_plural = "team memberships (manage them under Memberships)"


class TeamMembershipInline(_MembershipInline):
    verbose_name_plural = "members (manage them under Memberships)"


# --- users ------------------------------------------------------------------------------------


class UserAddForm(AdminUserCreationForm[User]):
    class Meta:
        model = User
        fields = ("email", "org", "first_name", "last_name", "seat_type")

    def clean_email(self) -> str:
        email = str(self.cleaned_data["email"]).strip().lower()
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("A user with this email already exists.")
        return email


class UserEditForm(UserChangeForm[User]):
    """The change form: the password hash shows read-only with a link to the set-password page."""

    class Meta:
        model = User
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        roles = self.fields.get("roles")
        if isinstance(roles, forms.ModelMultipleChoiceField):
            roles.queryset = Role.objects.filter(org_id=self.instance.org_id).select_related("org")

    def clean_email(self) -> str:
        email = str(self.cleaned_data["email"]).strip().lower()
        if User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("A user with this email already exists.")
        return email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        user = self.instance
        if user.org_id is None or "roles" not in self.changed_data or "roles" not in cleaned:
            return cleaned
        roles = set(cleaned["roles"])
        error = dry_run(lambda: apply_roles(user=user, roles=roles))
        if error is not None:
            add_domain_error(self, error, {}, default="roles")
        return cleaned


def apply_roles(*, user: User, roles: set[Role]) -> None:
    """Grant and take away roles through the services, so the org's last admin keeps theirs."""
    assert user.org_id is not None
    actor = operator_actor(user.org_id)
    current = set(user.roles.all())
    for role in sorted(roles - current, key=lambda r: r.type):
        user_role_set(actor=actor, user_id=user.pk, role_id=role.pk)
    for role in sorted(current - roles, key=lambda r: r.type):
        user_role_remove(actor=actor, user_id=user.pk, role_id=role.pk)


class RoleTypeFilter(admin.ChoicesFieldListFilter):
    """Users by the role types they hold ("type" alone reads like the seat type)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "role"


class ActiveFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("active", "Active"), ("deactivated", "Deactivated")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "active":
            return queryset.filter(deactivated_at__isnull=True)
        if self.value() == "deactivated":
            return queryset.filter(deactivated_at__isnull=False)
        return queryset


@admin.register(User)
class UserAdmin(BaseUserAdmin[User]):
    form = UserEditForm
    add_form = UserAddForm
    fieldsets = (
        (None, {"fields": ("id", "email", "password")}),
        ("Organisation", {"fields": ("org", "seat_type", "roles", "bot_name", "deals_enabled")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        ("Status", {"fields": ("deactivated_at", "date_joined", "last_login")}),
        ("Operator access", {"fields": ("is_staff", "is_superuser", "groups", "user_permissions")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "email",
                    "org",
                    "first_name",
                    "last_name",
                    "seat_type",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )
    list_display = ("email", "full_name", "org", "seat_type", "is_active_column", "is_staff", "date_joined")
    list_filter = (
        ActiveFilter,
        "seat_type",
        ("roles__type", RoleTypeFilter),
        "is_staff",
        "is_superuser",
        "org",
        "date_joined",
    )
    search_fields = ("email", "first_name", "last_name", "org__name")
    autocomplete_fields = ("org",)
    filter_horizontal = ("roles", "groups", "user_permissions")
    list_select_related = ("org",)
    ordering = ("email",)
    actions = ("deactivate_users", "reactivate_users")

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> tuple[str, ...]:
        # Deactivation goes through the actions (the last-admin rule); moving a person
        # to another organisation would strand their roles and memberships.
        readonly = ("id", "deactivated_at", "date_joined", "last_login")
        return (*readonly, "org") if obj is not None else readonly

    def get_inlines(self, request: HttpRequest, obj: User | None) -> tuple[type[InlineModelAdmin[Any, Any]], ...]:
        return (UserMembershipInline,) if obj is not None else ()

    @admin.display(boolean=True, description="active", ordering="deactivated_at")
    def is_active_column(self, obj: User) -> bool:
        return obj.deactivated_at is None

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: Any) -> None:
        roles = form.cleaned_data.pop("roles", None) if change else None
        super().save_related(request, form, formsets, change)
        user: User = form.instance
        if roles is not None and user.org_id is not None and "roles" in form.changed_data:
            apply_roles(user=user, roles=set(roles))

    def _set_active(
        self, request: HttpRequest, queryset: QuerySet[User], write: Callable[..., User], verb: str
    ) -> None:
        done, errors, skipped = 0, [], 0
        for user in queryset:
            if user.org_id is None:
                skipped += 1
                continue
            try:
                write(actor=operator_actor(user.org_id), user_id=user.pk)
            except DomainError as exc:
                errors.append(f"{user}: {exc.message}")
            else:
                done += 1
        report_outcome(self, request, done, verb, errors)
        if skipped:
            self.message_user(
                request, f"Skipped {skipped} user(s) without an organisation (operators).", messages.WARNING
            )

    @admin.action(description="Deactivate selected users")
    def deactivate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, user_deactivate, "Deactivated")

    @admin.action(description="Reactivate selected users")
    def reactivate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, user_reactivate, "Reactivated")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[User], bool]:
        ident = pasted_id(search_term)
        if ident is None:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(pk=ident), False


# --- teams ------------------------------------------------------------------------------------

_TEAM_FIELDS = {"name": "name", "parent_team_id": "parent", "team": "parent", "organization": "org"}


class TeamForm(ModelForm[Team]):
    class Meta:
        model = Team
        fields = ("org", "name", "parent")

    def service_kwargs(self) -> dict[str, Any]:
        """What the form asks team_create / team_update to change."""
        cleaned = self.cleaned_data
        parent = cleaned.get("parent")
        kwargs: dict[str, Any] = {}
        if self.instance._state.adding or "name" in self.changed_data:
            kwargs["name"] = cleaned["name"]
        if self.instance._state.adding or "parent" in self.changed_data:
            kwargs["parent_team_id"] = parent.pk if parent is not None else None
        return kwargs

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        if self.instance._state.adding:
            org = cleaned["org"]
            kwargs = self.service_kwargs()
            error = dry_run(lambda: team_create(actor=operator_actor(org.pk), **kwargs))
        else:
            team = self.instance
            kwargs = self.service_kwargs()
            if not kwargs:
                return cleaned
            error = dry_run(lambda: team_update(actor=operator_actor(team.org_id), team_id=team.pk, **kwargs))
        if error is not None:
            add_domain_error(self, error, _TEAM_FIELDS)
        return cleaned


@admin.register(Team)
class TeamAdmin(OperatorAdmin[Team]):
    """Teams are created and changed by team_create / team_update: the "[Org] " prefix, `path`, no cycles."""

    form = TeamForm
    list_display = ("name", "org", "parent", "archived", "created_at")
    list_filter = ("archived", "org", "created_at")
    search_fields = ("name", "org__name")
    autocomplete_fields = ("org", "parent")
    list_select_related = ("org", "parent")
    ordering = ("org__name", "path")
    actions = ("archive_teams", "unarchive_teams")

    def get_fields(self, request: HttpRequest, obj: Team | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("org", "name", "parent")
        return ("id", "org", "name", "parent", "path", "archived", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Team | None = None) -> tuple[str, ...]:
        # Archiving goes through the actions; a team does not change organisation.
        readonly = ("id", "path", "archived", "created_at")
        return (*readonly, "org") if obj is not None else readonly

    def get_inlines(self, request: HttpRequest, obj: Team | None) -> tuple[type[InlineModelAdmin[Any, Any]], ...]:
        return (TeamMembershipInline,) if obj is not None else ()

    def save_model(self, request: HttpRequest, obj: Team, form: Any, change: Any) -> None:
        kwargs = form.service_kwargs()
        if not change:
            adopt(obj, team_create(actor=operator_actor(obj.org_id), **kwargs))
        elif kwargs:
            adopt(obj, team_update(actor=operator_actor(obj.org_id), team_id=obj.pk, **kwargs))

    def _set_archived(self, request: HttpRequest, queryset: QuerySet[Team], archived: bool) -> None:
        done, errors = 0, []
        for team in queryset:
            try:
                team_archive(actor=operator_actor(team.org_id), team_id=team.pk, archived=archived)
            except DomainError as exc:
                errors.append(f"{team}: {exc.message}")
            else:
                done += 1
        report_outcome(self, request, done, "Archived" if archived else "Unarchived", errors)

    @admin.action(description="Archive selected teams")
    def archive_teams(self, request: HttpRequest, queryset: QuerySet[Team]) -> None:
        self._set_archived(request, queryset, True)

    @admin.action(description="Unarchive selected teams")
    def unarchive_teams(self, request: HttpRequest, queryset: QuerySet[Team]) -> None:
        self._set_archived(request, queryset, False)


# --- invitations ------------------------------------------------------------------------------


@admin.register(Invitation)
class InvitationAdmin(OperatorAdmin[Invitation]):
    list_display = (
        "email",
        "org",
        "team",
        "role",
        "seat_type",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
    )
    list_filter = (
        "seat_type",
        ("accepted_at", admin.EmptyFieldListFilter),
        "org",
        "created_at",
        "expires_at",
    )
    search_fields = ("email", "org__name", "invited_by__email")
    autocomplete_fields = ("org", "team", "role", "invited_by")
    readonly_fields = ("id", "created_at")
    list_select_related = ("org", "team", "role__org", "invited_by")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
