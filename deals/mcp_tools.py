"""MCP tools of the deals app."""
