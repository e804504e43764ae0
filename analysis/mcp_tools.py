"""MCP tools of the analysis app."""
