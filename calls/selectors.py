"""Reads for the call domain. Call visibility ("Who sees which call", TOOLS.md) lives here, once."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.lookups import StartsWith

from accounts.errors import NotFound
from accounts.models import Membership, User
from accounts.permissions import Actor
from calls.models import Call, Deal, LabelCategory, Participant, Scorecard, Snippet


def calls_visible_to(*, actor: Actor, include_archived: bool = False) -> QuerySet[Call]:
    """Every call `actor` may see, as one queryset (one SQL statement, no Python filtering).

    - org-wide actors (org keys, operators) and admins: every call of the org;
    - managers: own calls, calls they took part in, and non-private calls owned by
      members of their teams or those teams' sub-teams;
    - everyone else (reps, listeners): own calls, calls they took part in, and
      non-private calls owned by members of their own teams;
    - private calls: only the owner, internal participants and admins;
    - archived calls only with `include_archived`; a deactivated user sees nothing.
    """
    qs = Call.objects.filter(org_id=actor.org_id)
    if not include_archived:
        qs = qs.filter(archived=False)
    if actor.user_id is None:
        return qs
    uid = actor.user_id
    # Evaluated inside the same statement, so a deactivation made a moment ago already counts.
    qs = qs.filter(Exists(User.objects.filter(pk=uid, org_id=actor.org_id, deactivated_at__isnull=True)))
    if "admin" in actor.roles:
        return qs

    own = Q(owner_id=uid)
    took_part = Q(Exists(Participant.objects.filter(call_id=OuterRef("pk"), user_id=uid)))
    my_memberships = Membership.objects.filter(user_id=uid, team__org_id=actor.org_id)
    owner_in_scope: QuerySet[Membership, Any]
    if "manager" in actor.roles:
        # The owner belongs to a team whose path starts with the path of one of
        # my teams: that team or any of its sub-teams.
        mine_above = my_memberships.filter(StartsWith(OuterRef("owner_team_path"), F("team__path")))
        owner_in_scope = (
            Membership.objects.filter(user_id=OuterRef("owner_id"), team__org_id=actor.org_id)
            .alias(owner_team_path=F("team__path"))
            .filter(Exists(mine_above))
        )
    else:
        owner_in_scope = Membership.objects.filter(
            user_id=OuterRef("owner_id"), team_id__in=my_memberships.values("team_id")
        )
    teammates = Q(private=False) & Q(Exists(owner_in_scope))
    return qs.filter(own | took_part | teammates)


def access_call(*, actor: Actor, call_id: uuid.UUID | str, include_archived: bool = True) -> Call:
    """Fetch one call the actor may see; NotFound alike for missing and not visible.

    Archived calls are reachable by id (archiving hides them from search, not from their owner).
    """
    call = calls_visible_to(actor=actor, include_archived=include_archived).filter(pk=call_id).first()
    if call is None:
        raise NotFound("call", call_id)
    return call


def access_snippet(*, actor: Actor, snippet_id: uuid.UUID | str) -> Snippet:
    """A snippet is visible exactly when its call is."""
    visible = calls_visible_to(actor=actor, include_archived=True)
    snippet = Snippet.objects.filter(pk=snippet_id, call__in=visible.values("pk")).select_related("call").first()
    if snippet is None:
        raise NotFound("snippet", snippet_id)
    return snippet


def access_deal(*, actor: Actor, deal_id: uuid.UUID | str) -> Deal:
    deal = Deal.objects.filter(org_id=actor.org_id, pk=deal_id).first()
    if deal is None:
        raise NotFound("deal", deal_id)
    return deal


def access_label(*, actor: Actor, label_id: uuid.UUID | str) -> LabelCategory:
    label = LabelCategory.objects.filter(org_id=actor.org_id, pk=label_id).first()
    if label is None:
        raise NotFound("label", label_id)
    return label


def access_scorecard(*, actor: Actor, scorecard_id: uuid.UUID | str) -> Scorecard:
    scorecard = Scorecard.objects.filter(org_id=actor.org_id, pk=scorecard_id).first()
    if scorecard is None:
        raise NotFound("scorecard", scorecard_id)
    return scorecard
