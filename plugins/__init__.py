"""Careloop's built-in plugins (Zendesk and Jira importers), loaded through the
``careloop`` entry-point group declared in pyproject.toml."""
