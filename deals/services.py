"""Writes for deals: none yet. Deals arrive from the CRM sync and callers only read them (deals/selectors.py)."""
