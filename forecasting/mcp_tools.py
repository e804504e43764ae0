"""MCP tools of the forecasting app."""
