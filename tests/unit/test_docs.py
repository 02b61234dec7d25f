"""Docs that are tested, as Datasette's: every setting and every hook is written up in docs/."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

import config
from app.plugin_api import TicketSource
from app.plugins import hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOCS = "\n".join(p.read_text() for p in sorted((ROOT / "docs").rglob("*.md")))
PLUGINS_DOC = (ROOT / "docs" / "plugins.md").read_text()
ENV_NAME = re.compile(r"""["'](CARELOOP_[A-Z0-9_]+|MAIL_[A-Z0-9_]+|SECRET_KEY|DATABASE_URL)["']""")


def _settings() -> list[str]:
    """Every environment variable config.py reads, and every setting attribute of Config."""
    read = set(ENV_NAME.findall(Path(config.__file__).read_text()))
    attributes = {name for name in vars(config.Config) if name.startswith(("CARELOOP_", "MAIL_"))}
    return sorted(read | attributes)


HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "careloop_spec")]
SOURCE_CALLABLES = [f.name for f in dataclasses.fields(TicketSource) if "Callable" in str(f.type)]


def test_the_readme_is_a_readme():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 120, "keep the README short: put the details in docs/"
    assert "make run" in readme and "make test" in readme
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).exists(), f"README links to {link}, which does not exist"


def test_there_are_settings_and_hooks_to_check():
    assert {"SECRET_KEY", "DATABASE_URL", "CARELOOP_BASE_URL", "MAIL_SERVER"} <= set(_settings())
    assert {"report_filed", "register_ticket_sources"} <= set(HOOKS)
    assert {"fetch", "write_back"} <= set(SOURCE_CALLABLES)


@pytest.mark.parametrize("name", _settings())
def test_every_setting_is_documented(name):
    assert f"`{name}`" in DOCS, f"document {name} in docs/settings.md (a table row with the name in backticks)"


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_has_a_heading_with_its_signature(name):
    assert re.search(rf"(?m)^### `{name}\(", PLUGINS_DOC), f"add a '### `{name}(…)`' heading to docs/plugins.md"


@pytest.mark.parametrize("name", SOURCE_CALLABLES)
def test_every_ticket_source_callable_is_documented(name):
    """To the hook standard: a heading that is its signature, then what it is for, when it is
    called, what to return or raise, and a reference implementation."""
    found = re.search(rf"(?ms)^### `TicketSource\.{name}\(settings\b.*?\n(.*?)(?=^#)", PLUGINS_DOC)
    assert found, f"add a '### `TicketSource.{name}(settings, …)`' heading to docs/plugins.md"
    text = " ".join(found.group(1).split())
    assert len(text) > 150 and "Reference:" in text, f"document TicketSource.{name} fully, with a reference"


@pytest.mark.parametrize("name", SOURCE_CALLABLES)
def test_every_ticket_source_callable_is_tested(name):
    sources = "\n".join(p.read_text() for p in (ROOT / "tests" / "plugins").rglob("test_*.py"))
    assert f"def test_source_{name}(" in sources, f"write test_source_{name} in tests/plugins/test_source_callables.py"
