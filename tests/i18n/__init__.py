"""Helpers for the language tests: what a person reads on a page, and which English
sentences from the catalog would give away a string nobody translated."""

from __future__ import annotations

import html
import re
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


def english_fragments() -> set[str]:
    """Runs of 4+ words from every English msgid, split at placeholders and tags."""
    with (ROOT / "app" / "translations" / "messages.pot").open("rb") as f:
        catalog = read_po(f)
    fragments = set()
    for message in catalog:
        for msgid in (message.id if isinstance(message.id, tuple) else [message.id]):
            for part in re.split(r"%\(\w+\)[sd]|<[^>]+>|%%", msgid or ""):
                part = part.strip(" .,:;()“”\"'–—→←·×")
                if len(part.split()) >= 4:
                    fragments.add(part)
    return fragments


ENGLISH = english_fragments()


def visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    return re.sub(r"\s+", " ", text)


def english_left(text: str) -> list[str]:
    """English sentences from the catalog that appear in ``text`` (should be none)."""
    return sorted(f for f in ENGLISH if f in text)
