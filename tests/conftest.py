"""Shared personas for the whole suite.

`world` builds two mirrored organisations with identical shapes and names, so
that any leak across organisations shows up as an id from the wrong one
(compare ids or `world.labels(...)`, never titles, which are the same in both):

    world.a: Organization "Acme", slug "acme",        emails @acme.example
    world.b: Organization "Acme", slug "acme-mirror", emails @acme-mirror.example

Teams (names stored as "[Acme] Sales" etc.), in each org:

    sales      "Sales"     top level
    emea       "EMEA"      sub-team of Sales
    support    "Support"   top level

Users (`world.a.users[...]`), one role each:

    persona               role       seat       teams (first = primary)
    admin                 admin      recording  none
    manager               manager    recording  sales  (so EMEA is his sub-team)
    rep_sales             sales_rep  recording  sales
    rep_emea              sales_rep  recording  emea only (not a Sales member)
    listener              sales_rep  listener   sales
    outsider_rep          sales_rep  recording  support only
    private_owner         sales_rep  recording  sales
    internal_participant  sales_rep  recording  support only
    deactivated           sales_rep  recording  sales; deactivated_at set (after owning a call)

Calls (`world.a.calls[...]`): every persona owns "<persona>_public" (not private,
not archived; in the persona's team, the admin's in no team), plus

    private_owner_private  private, Sales; internal_participant is an internal participant
    rep_sales_archived     archived, Sales

Every call has its owner as organizer participant (linked user), an external
guest casey@globex.example and two transcript segments. rep_sales_public also
names the *other* org's rep_sales (name and email, external, no user link).
`world.a.deals["globex"]` is linked to rep_sales_public and private_owner_private;
`world.a.snippets` has one snippet on each of those two calls, owned by the call's owner.

Actors: `actor_for(user)` (OAuth, both scopes, roles as stored now) and
`org_key_actor(org)`; `world.a.org_key_actor` is the same for org A.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from accounts.models import Organization, User
from accounts.permissions import ALL_SCOPES, Actor
from accounts.selectors import actor_for_user
from tests.factories import World, build_world


@pytest.fixture
def world(db: None) -> World:
    """The two mirrored organisations described in this module's docstring (rebuilt per test)."""
    return build_world()


@pytest.fixture
def actor_for(db: None) -> Callable[[User], Actor]:
    """`actor_for(user)`: the Actor an OAuth login with both scopes gives `user` right now."""

    def make(user: User) -> Actor:
        return actor_for_user(user=user, via="oauth", scopes=ALL_SCOPES)

    return make


@pytest.fixture
def org_key_actor() -> Callable[[Organization], Actor]:
    """`org_key_actor(org)`: an org-level API key's Actor (no user, admin reach in `org`)."""

    def make(org: Organization) -> Actor:
        return Actor.org_wide(org.pk, via="org_key")

    return make
