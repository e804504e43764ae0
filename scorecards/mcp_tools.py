"""MCP tools of the scorecards app."""
