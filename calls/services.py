"""Writes for the call domain; each checks the Actor before it changes anything.

Every write that touches several rows runs in one transaction, and checks
everything before it writes, so a refused call changes nothing.
"""

from __future__ import annotations

import math
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from accounts.errors import Conflict, InvalidArgument, NotFound, PermissionDenied
from accounts.models import Team
from accounts.permissions import Actor
from accounts.selectors import access_team, access_user, actor_for_user, team_path_and_above
from calls.models import Call, CallLabel, LabelCategory, LabelOption, Snippet
from calls.selectors import access_call, access_label, access_label_by_key, access_snippet, labels_of_org

# --- calls -----------------------------------------------------------------------------------------------------


def _require_owner_or_admin(*, actor: Actor, call: Call) -> None:
    if actor.is_admin or call.owner_id == actor.user_id:
        return
    raise PermissionDenied("admin_required", "Only the call's owner or an admin can change this call.")


def call_update(
    *, actor: Actor, call_id: uuid.UUID | str, title: str | None = None, private: bool | None = None
) -> Call:
    """The owner or an admin renames a call or changes its privacy (at least one of the two)."""
    if title is None and private is None:
        raise InvalidArgument("title", "Give a new title, private, or both.")
    with transaction.atomic():
        call = access_call(actor=actor, call_id=call_id)
        _require_owner_or_admin(actor=actor, call=call)
        fields = []
        if title is not None:
            title = " ".join(title.split())
            if not title or len(title) > 500:
                raise InvalidArgument("title", "A title must have 1 to 500 characters.")
            call.title = title
            fields.append("title")
        if private is not None:
            call.private = private
            fields.append("private")
        call.save(update_fields=fields)
    return call


def call_archive(*, actor: Actor, call_id: uuid.UUID | str, archived: bool = True) -> Call:
    """The owner or an admin archives (hides from search) or restores a call."""
    call = access_call(actor=actor, call_id=call_id)
    _require_owner_or_admin(actor=actor, call=call)
    call.archived = archived
    call.save(update_fields=["archived"])
    return call


def _label_applies(label: LabelCategory, call: Call) -> bool:
    """A label of a team applies to the calls of that team and of its sub-teams (as scorecards do)."""
    if label.all_teams:
        return True
    if call.team is None:
        return False
    return label.teams.filter(path__in=team_path_and_above(call.team.path)).exists()


def _find_option(label: LabelCategory, value: str) -> LabelOption | None:
    """The option with this value: exact first, else the one case-insensitive match."""
    options = label.options.all()
    exact = options.filter(value=value).first()
    if exact is not None:
        return exact
    loose = list(options.filter(value__iexact=value)[:2])
    return loose[0] if len(loose) == 1 else None


def call_labels_change(*, actor: Actor, call_id: uuid.UUID | str, labels: Mapping[str, str | None]) -> Call:
    """Anyone who can see a call sets or clears its labels, all or nothing.

    Keys name a label category of the actor's organisation (id or name); a value
    is one of its options, or None to clear it. Setting a category that does not
    apply to the call's team is refused; clearing one is not, so stale labels can
    always be removed.
    """
    if not labels:
        raise InvalidArgument("labels", "Give at least one label category.")
    with transaction.atomic():
        call = access_call(actor=actor, call_id=call_id)
        # One label change at a time per call: two writers cannot both insert a category's row.
        Call.objects.select_for_update().filter(pk=call.pk).first()
        to_set: dict[uuid.UUID, LabelOption] = {}
        to_clear: set[uuid.UUID] = set()
        for key, value in labels.items():
            label = access_label_by_key(actor=actor, key=key)
            if label.pk in to_set or label.pk in to_clear:
                raise InvalidArgument("labels", f"The label {label.name!r} is named twice.")
            if value is None:
                to_clear.add(label.pk)
                continue
            if not _label_applies(label, call):
                raise InvalidArgument("labels", f"The label {label.name!r} does not apply to this call's team.")
            option = _find_option(label, " ".join(value.split()))
            if option is None:
                valid = ", ".join(repr(v) for v in label.options.values_list("value", flat=True))
                raise InvalidArgument(
                    "labels", f"{value[:100]!r} is not an option of the label {label.name!r}; options: {valid}."
                )
            to_set[label.pk] = option
        if to_clear:
            CallLabel.objects.filter(call=call, category_id__in=to_clear).delete()
        for label_id, option in to_set.items():
            CallLabel.objects.update_or_create(call=call, category_id=label_id, defaults={"option": option})
    return call


# --- labels ----------------------------------------------------------------------------------------------------

MAX_OPTIONS = 50


@dataclass(frozen=True)
class OptionSpec:
    """One option as a caller gives it to label_create / label_update."""

    value: str
    description: str = ""


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > 100:
        raise InvalidArgument("label", "A label name must have 1 to 100 characters.")
    return name


def _clean_options(options: Sequence[OptionSpec]) -> list[OptionSpec]:
    if not 1 <= len(options) <= MAX_OPTIONS:
        raise InvalidArgument("options", f"A label needs 1 to {MAX_OPTIONS} options.")
    seen: set[str] = set()
    cleaned = []
    for option in options:
        value = " ".join(option.value.split())
        if not value or len(value) > 100:
            raise InvalidArgument("options", "Every option value must have 1 to 100 characters.")
        if value.casefold() in seen:
            raise InvalidArgument("options", f"The option {value!r} is given twice (values ignore case).")
        seen.add(value.casefold())
        cleaned.append(OptionSpec(value=value, description=option.description.strip()))
    return cleaned


def _ensure_unique_label(*, actor: Actor, name: str, exclude: uuid.UUID | None = None) -> None:
    # Case-insensitive: "call type" next to "Call Type" would make names ambiguous as label keys.
    qs = labels_of_org(actor=actor).filter(name__iexact=name)
    if exclude is not None:
        qs = qs.exclude(pk=exclude)
    if qs.exists():
        raise Conflict(f"A label named {name!r} already exists.", field="label")


def _resolve_teams(*, actor: Actor, team_ids: Sequence[uuid.UUID | str]) -> list[Team]:
    teams: dict[uuid.UUID, Team] = {}
    for team_id in team_ids:
        team = access_team(actor=actor, team_id=team_id)
        teams[team.pk] = team
    return list(teams.values())


def _save_label(label: LabelCategory) -> None:
    """Save, turning a lost race on the unique name into the same Conflict the check gives."""
    try:
        with transaction.atomic():
            label.save()
    except IntegrityError:
        raise Conflict(f"A label named {label.name!r} already exists.", field="label") from None


def label_create(
    *,
    actor: Actor,
    name: str,
    options: Sequence[OptionSpec],
    description: str = "",
    ai_flow: bool = True,
    all_teams: bool | None = None,
    team_ids: Sequence[uuid.UUID | str] | None = None,
) -> LabelCategory:
    """Admins create a label category with its options.

    `all_teams` defaults to true without `team_ids`, false with them; a label
    limited to teams needs at least one team of the organisation.
    """
    actor.require_admin()
    name = _clean_name(name)
    cleaned = _clean_options(options)
    if all_teams is None:
        all_teams = not team_ids
    if all_teams and team_ids:
        raise InvalidArgument("team_ids", "team_ids limit a label to teams: leave them out when all_teams is true.")
    if not all_teams and not team_ids:
        raise InvalidArgument("team_ids", "A label that is not for all teams needs at least one team.")
    teams = _resolve_teams(actor=actor, team_ids=team_ids or [])
    with transaction.atomic():
        _ensure_unique_label(actor=actor, name=name)
        label = LabelCategory(
            org_id=actor.org_id, name=name, description=description.strip(), ai_flow=ai_flow, all_teams=all_teams
        )
        _save_label(label)
        label.teams.set(teams)
        LabelOption.objects.bulk_create(
            LabelOption(category=label, value=o.value, description=o.description, position=i)
            for i, o in enumerate(cleaned)
        )
    return label


def _replace_options(label: LabelCategory, options: list[OptionSpec]) -> int:
    """Make the label's options exactly `options`, in order; returns how many call labels were removed.

    An existing option whose value is given again (ignoring case) is kept, with
    the calls that carry it; the others are deleted with their call labels.
    """
    existing = list(label.options.all())
    kept: dict[int, LabelOption] = {}
    unmatched = list(existing)
    # Exact values first, so that legacy options differing only in case keep their own rows.
    for exact in (True, False):
        for i, spec in enumerate(options):
            if i in kept:
                continue
            for candidate in unmatched:
                same = candidate.value == spec.value if exact else candidate.value.casefold() == spec.value.casefold()
                if same:
                    kept[i] = candidate
                    unmatched.remove(candidate)
                    break
    dropped = [row.pk for row in unmatched]
    removed = CallLabel.objects.filter(option_id__in=dropped).count()
    LabelOption.objects.filter(pk__in=dropped).delete()
    new_rows = []
    for i, spec in enumerate(options):
        row = kept.get(i)
        if row is None:
            new_rows.append(LabelOption(category=label, value=spec.value, description=spec.description, position=i))
            continue
        row.value, row.description, row.position = spec.value, spec.description, i
        row.save(update_fields=["value", "description", "position"])
    LabelOption.objects.bulk_create(new_rows)
    return removed


def label_update(
    *,
    actor: Actor,
    label_id: uuid.UUID | str,
    name: str | None = None,
    description: str | None = None,
    options: Sequence[OptionSpec] | None = None,
    ai_flow: bool | None = None,
    all_teams: bool | None = None,
    team_ids: Sequence[uuid.UUID | str] | None = None,
) -> tuple[LabelCategory, int]:
    """Admins change a label category; omitted (None) fields are kept.

    `options` replaces them all, keeping the options (and their call labels)
    whose value stays. `team_ids` alone limits the label to those teams;
    `all_teams=True` opens it to every team. Returns the label and how many
    call labels were removed with dropped options.
    """
    actor.require_admin()
    cleaned = _clean_options(options) if options is not None else None
    with transaction.atomic():
        label = access_label(actor=actor, label_id=label_id)
        label = LabelCategory.objects.select_for_update().get(pk=label.pk)
        if name is not None:
            label.name = _clean_name(name)
            _ensure_unique_label(actor=actor, name=label.name, exclude=label.pk)
        if description is not None:
            label.description = description.strip()
        if ai_flow is not None:
            label.ai_flow = ai_flow
        teams: list[Team] | None = None
        if all_teams is True:
            if team_ids:
                raise InvalidArgument(
                    "team_ids", "team_ids limit a label to teams: leave them out when all_teams is true."
                )
            label.all_teams, teams = True, []
        elif team_ids is not None:
            if not team_ids:
                raise InvalidArgument("team_ids", "A label that is not for all teams needs at least one team.")
            label.all_teams, teams = False, _resolve_teams(actor=actor, team_ids=team_ids)
        elif all_teams is False:
            if label.all_teams and not label.teams.exists():
                raise InvalidArgument("team_ids", "A label that is not for all teams needs at least one team.")
            label.all_teams = False
        _save_label(label)
        if teams is not None:
            label.teams.set(teams)
        removed = _replace_options(label, cleaned) if cleaned is not None else 0
    return label, removed


def label_delete(*, actor: Actor, label_id: uuid.UUID | str) -> tuple[LabelCategory, int]:
    """Admins delete a label category with its options and every call's label of it.

    Returns the deleted label (its id kept for the answer) and how many call labels went with it.
    """
    actor.require_admin()
    with transaction.atomic():
        label = access_label(actor=actor, label_id=label_id)
        removed = CallLabel.objects.filter(category=label).count()
        label_pk = label.pk
        label.delete()
        label.pk = label_pk
    return label, removed


# --- snippets --------------------------------------------------------------------------------------------------

SHARE_CODE_BYTES = 9  # 12 URL-safe characters


def _new_share_code() -> str:
    while True:
        code = secrets.token_urlsafe(SHARE_CODE_BYTES)
        if not Snippet.objects.filter(share_code=code).exists():
            return code


def _clock(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


def _check_range(call: Call, start: float | None, end: float | None) -> None:
    if (start is None) != (end is None):
        missing = "end_time" if end is None else "start_time"
        raise InvalidArgument(missing, "Give start_time and end_time together, or neither for the whole call.")
    if start is None or end is None:
        return
    if not math.isfinite(start) or start < 0:
        raise InvalidArgument("start_time", "start_time must be 0 or more seconds.")
    if not math.isfinite(end) or end <= start:
        raise InvalidArgument("end_time", "end_time must be after start_time.")
    if end > call.duration_s:
        raise InvalidArgument("end_time", f"end_time must not pass the end of the call ({call.duration_s} s).")


def snippet_create(
    *,
    actor: Actor,
    call_id: uuid.UUID | str,
    owner_id: uuid.UUID | str | None = None,
    start_time: float | None = None,
    end_time: float | None = None,
    title: str | None = None,
    notes: str = "",
    internal: bool = True,
    notify_views: bool = False,
    in_library: bool = False,
    library_folder_path: str = "",
    my_library: bool = False,
) -> Snippet:
    """Anyone who can see a call clips it (or all of it) into a snippet.

    The owner is the actor unless `owner_id` names someone else, which only
    admins may do (and org-level keys must, having no person of their own). The
    owner must be an active user of the organisation who can see the call.
    """
    call = access_call(actor=actor, call_id=call_id)
    if owner_id is None:
        if actor.user_id is None:
            raise InvalidArgument("user_uuid", "An org-level key has no person of its own: name the snippet's owner.")
        owner_id = actor.user_id
    owner = access_user(actor=actor, user_id=owner_id)
    if owner.pk != actor.user_id and not actor.is_admin:
        raise PermissionDenied("admin_required", "Only admins can create snippets owned by someone else.")
    if not owner.is_active:
        raise NotFound("user", owner_id)
    if owner.pk != actor.user_id:
        # The owner will see the snippet only through its call.
        owner_actor = actor_for_user(user=owner, via="system", scopes=actor.scopes)
        try:
            access_call(actor=owner_actor, call_id=call.pk)
        except NotFound:
            raise NotFound("user", owner_id) from None
    _check_range(call, start_time, end_time)
    if title is None:
        span = (
            "full call" if start_time is None or end_time is None else f"{_clock(start_time)}\u2013{_clock(end_time)}"
        )
        title = f"{' '.join(call.title.split())[:230]} {span}"
    else:
        title = " ".join(title.split())
        if not title or len(title) > 255:
            raise InvalidArgument("title", "A title must have 1 to 255 characters.")
    folder = " ".join(library_folder_path.split())
    if folder and not in_library:
        raise InvalidArgument("library_folder_path", "A library folder needs in_library=true.")
    if len(folder) > 500:
        raise InvalidArgument("library_folder_path", "A library folder path has at most 500 characters.")
    return Snippet.objects.create(
        call=call,
        owner=owner,
        start_s=start_time,
        end_s=end_time,
        title=title,
        notes=notes.strip(),
        internal=internal,
        share_code=_new_share_code(),
        notify_views=notify_views,
        in_library=in_library,
        library_folder_path=folder,
        my_library=my_library,
    )


def snippet_delete(*, actor: Actor, snippet_id: uuid.UUID | str) -> Snippet:
    """The snippet's owner or an admin deletes it; returns the deleted snippet, its id kept for the answer."""
    with transaction.atomic():
        snippet = access_snippet(actor=actor, snippet_id=snippet_id)
        if not actor.is_admin and snippet.owner_id != actor.user_id:
            raise PermissionDenied("admin_required", "Only the snippet's owner or an admin can delete it.")
        snippet_pk = snippet.pk
        snippet.delete()
        snippet.pk = snippet_pk
    return snippet
