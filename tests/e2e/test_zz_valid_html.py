"""Every page the browser tests visited validates with the W3C Nu HTML checker (errors only).

Named to run after the other browser tests; the pages were saved by ``HtmlRecorder``
(tests/e2e/htmlcheck.py). Run alone, it checks the pages a visitor sees first.
"""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pytest

from .htmlcheck import HTML_DIR, saved_pages, validate, vnu_jar

pytestmark = pytest.mark.e2e


def test_every_visited_page_is_valid_html(live_server_url):
    if not vnu_jar().is_file() or shutil.which("java") is None:
        pytest.fail(f"The HTML checker is missing (no {vnu_jar()} or no java): run `make vnu`.", pytrace=False)
    if not saved_pages():  # run on its own: the first pages a visitor sees
        for path in ("/", "/changes", "/login"):
            with urllib.request.urlopen(live_server_url + path, timeout=10) as response:
                assert response.status == 200
    pages = saved_pages()
    assert pages, "no page was saved for the HTML check"
    errors = validate([HTML_DIR / name for name in pages])
    lines = []
    for error in errors:
        url = pages.get(Path(error.get("url", "")).name, error.get("url"))
        lines.append(f"{url} line {error.get('lastLine')}: {error.get('message')}\n    {error.get('extract', '').strip()[:160]}")
    print(f"vnu checked {len(pages)} pages")
    assert not errors, f"{len(errors)} HTML error(s) in {len(pages)} pages:\n" + "\n".join(lines)
