"""Jira importer for Careloop: issues chosen by a JQL become reports.

Polls Jira Cloud (``/rest/api/3/search/jql``) or Jira Data Center (``/rest/api/2/search``)
and accepts Jira webhooks on ``POST /hooks/jira``. An adapter only: it speaks HTTP and
returns plain data; the core stores it. Setup: ``plugins/jira/README.md``.

* :mod:`plugins.jira.source` - the ticket source (polling, cursor, webhooks, mapping)
* :mod:`plugins.jira.client` - HTTP, retries, errors; ``create_issue``, ``add_remote_link``,
  ``status_category`` for linking a problem's fix to a Jira issue
* :mod:`plugins.jira.adf` - Atlassian Document Format to plain text
"""

from app.plugin_api import hookimpl
from plugins.jira.source import JiraSource


@hookimpl
def register_ticket_sources(app):
    """The ``jira`` ticket source (settings are read on every call, not here)."""
    return [JiraSource().ticket_source()]
