"""The shipped catalogs: complete, placeholders intact, compiled, and the .pot up to date.

A string marked in the code but missing from the catalogs fails here, so nothing reaches
people untranslated: run ``make translations`` and translate what is new.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "app" / "translations"
POT = TRANSLATIONS / "messages.pot"
CATALOGS = sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def _read(path: Path):
    with path.open("rb") as f:
        return read_po(f)


def _ids(catalog) -> set:
    return {m.id for m in catalog if m.id}


def _key(value):
    return tuple(value) if isinstance(value, list) else value


def _forms(value) -> list[str]:
    return list(value) if isinstance(value, (tuple, list)) else [value]


def test_german_is_shipped():
    assert TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.po" in CATALOGS


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: p.parts[-3])
def test_every_message_is_translated_with_the_same_placeholders(po):
    catalog = _read(po)
    wanted = _ids(_read(POT))
    missing = sorted(map(str, wanted - _ids(catalog)))
    assert not missing, f"{po}: not yet in the catalog (run make translations): {missing}"
    problems = []
    for message in catalog:
        if not message.id or message.id not in wanted:
            continue
        if message.fuzzy:
            problems.append(("fuzzy", message.id))
            continue
        translations = _forms(message.string)
        if not all(t.strip() for t in translations):
            problems.append(("untranslated", message.id))
            continue
        source = set(PLACEHOLDER.findall(" ".join(_forms(message.id))))
        for text in translations:
            found = set(PLACEHOLDER.findall(text))
            # A singular may say "one" in words instead of %(num)s; nothing else may go missing.
            if found != source and not (isinstance(message.id, tuple) and found == source - {"%(num)s", "%(num)d"}):
                problems.append(("placeholders", message.id, text))
    assert not problems, "\n".join(map(str, problems))


@pytest.mark.parametrize("po", CATALOGS, ids=lambda p: p.parts[-3])
def test_the_compiled_catalog_matches_its_source(po):
    """The .mo that a plain install uses says what the .po says (make translations compiles it)."""
    mo = po.with_suffix(".mo")
    assert mo.exists(), f"{mo} is missing: run make translations"
    with mo.open("rb") as f:
        compiled = {_key(m.id): _key(m.string) for m in read_mo(f) if m.id}
    source = {m.id: m.string for m in _read(po) if m.id and not m.fuzzy and all(_forms(m.string))}
    assert compiled == source, "the .mo is out of date: run make translations"


def test_the_template_lists_every_marked_string(tmp_path):
    """Extract again (the same command as ``make translations``) and compare the msgids."""
    fresh = tmp_path / "messages.pot"
    makefile = (ROOT / "Makefile").read_text()
    command = re.search(r"\$\(PYBABEL\) extract (.+?) -o \S+ \.", makefile.replace("\\\n", " "), re.S).group(1)
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run([str(pybabel), "extract", *command.split(), "-o", str(fresh), "."],
                   cwd=ROOT, check=True, capture_output=True)
    new, old = _ids(_read(fresh)), _ids(_read(POT))
    assert not new - old, f"marked but not in messages.pot (run make translations): {sorted(map(str, new - old))}"
    assert not old - new, f"in messages.pot but no longer in the code (run make translations): {sorted(map(str, old - new))}"
