"""MCP tools of the agent app."""
