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

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import transaction

from accounts.models import Organization, User
from accounts.permissions import ALL_SCOPES, Actor
from accounts.selectors import actor_for_user
from tests.factories import World, build_world

# A test using one of these sees (or commits) data from other connections: a world held open in the
# test connection's transaction would be invisible to them, or block them on its unique keys.
_SHARES_COMMITTED_DATA = frozenset(
    {
        "transactional_db",
        "live_server",
        "live_server_url",
        "live_mcp_url",
        "mcp_url",
        "shared_org",
        "fresh_org",
        "browser",
        "django_db_reset_sequences",
        "django_db_serialized_rollback",
    }
)


def _commits(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker is not None and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")):
        return True
    return bool(_SHARES_COMMITTED_DATA & set(getattr(item, "fixturenames", ())))


@pytest.fixture(scope="module")
def _module_world(
    request: pytest.FixtureRequest, django_db_setup: None, django_db_blocker: Any
) -> Iterator[World | None]:
    """One world per test module, built inside a transaction that stays open for the module and is rolled
    back at its end; each test runs in a savepoint of it (pytest-django's own per-test atomic), so nothing
    a test writes reaches the next. Building the world costs ~0.4 s, and hundreds of tests use it.

    Only for modules whose tests all stay inside the test connection's transaction (None otherwise).
    """
    items = [i for i in request.session.items if getattr(i, "module", None) is request.module]
    if any(_commits(i) for i in items):
        yield None
        return
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            built = build_world()
        except BaseException:
            outer.__exit__(None, None, None)
            raise
    try:
        yield built
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def world(request: pytest.FixtureRequest, _module_world: World | None) -> World:
    """The two mirrored organisations described in this module's docstring.

    Every test gets its own copy of the objects; the rows are the module's (see `_module_world`), or built for
    this test where the module commits data.
    """
    request.getfixturevalue("db")
    if _module_world is None:
        return build_world()
    # A deep copy: a test that changes an instance in memory must not change it for the next test.
    return copy.deepcopy(_module_world)


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
