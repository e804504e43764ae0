"""MCP tools for identity and teams."""

from __future__ import annotations

from accounts.permissions import Actor
from accounts.schemas import Me, TeamList
from accounts.selectors import me, team_tree
from mcpgateway.registry import tool


@tool(title="Who am I", access="read")
def get_me(actor: Actor) -> Me:
    """Return the caller's identity: the person (null for an org-level API key), the organisation, role types
    (admin, manager, sales_rep), team memberships with the primary team, and the credential kind and scopes.

    Call this first when you need to know whose data you can see, or before admin-only actions."""
    return me(actor=actor)


@tool(title="List teams", access="read")
def list_teams(actor: Actor) -> TeamList:
    """List every team of the organisation as a tree (ids, names, parent ids, depth, archived flag, member
    count). Team names carry the organisation prefix, e.g. "[Acme] EMEA". Use the ids with search_calls'
    team_ids (which includes sub-teams) or get_team."""
    return team_tree(actor=actor)
