"""Atlassian Document Format (ADF) to readable plain text, and plain text to ADF.

Jira Cloud's REST API v3 returns rich text (an issue's description, comments) as an ADF
document: a tree of nodes (``{"type": "paragraph", "content": [...]}``). Careloop stores a
report as the person's words in plain text, so :func:`adf_to_text` flattens the tree into
text a person reads comfortably: paragraphs separated by a blank line, lists with ``-`` or
``1.`` markers, tables as ``cell | cell`` rows, code blocks fenced with three backticks,
links as ``text (url)``, mentions as ``@Name``.

It never raises on odd input: an unknown node type (Atlassian adds new ones) falls back to
its text content, or to nothing, so a new kind of node can never break an import.

Node types handled (https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/):
block nodes ``doc``, ``paragraph``, ``heading``, ``bulletList``, ``orderedList``,
``listItem``, ``blockquote``, ``codeBlock``, ``rule``, ``panel``, ``table``, ``tableRow``,
``tableHeader``, ``tableCell``, ``mediaGroup``, ``mediaSingle``, ``media``, ``caption``,
``expand``, ``nestedExpand``, ``taskList``, ``taskItem``, ``decisionList``,
``decisionItem``, ``blockCard``, ``embedCard``, ``layoutSection``, ``layoutColumn``,
``extension``, ``bodiedExtension``, ``multiBodiedExtension``, ``extensionFrame``, ``syncBlock``;
inline nodes ``text`` (with marks), ``hardBreak``, ``mention``, ``emoji``, ``date``,
``status``, ``inlineCard``, ``mediaInline``, ``inlineExtension``, ``placeholder``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

__all__ = ["adf_to_text", "text_to_adf"]

# Node types whose children are inline (text-like) and which make one block of text.
_TEXTBLOCKS = {"paragraph", "heading", "caption"}
# Block containers: their children are blocks, separated by a blank line.
_CONTAINERS = {"doc", "layoutSection", "layoutColumn", "bodiedExtension", "multiBodiedExtension",
               "extensionFrame", "syncBlock", "bodiedSyncBlock", "tableCell", "tableHeader"}
_BLOCK_TYPES = _TEXTBLOCKS | _CONTAINERS | {
    "bulletList", "orderedList", "listItem", "blockquote", "codeBlock", "rule", "panel",
    "table", "tableRow", "mediaGroup", "mediaSingle", "media", "expand", "nestedExpand",
    "taskList", "taskItem", "decisionList", "decisionItem", "blockCard", "embedCard",
    "extension",
}
_PANEL_LABELS = {"info": "Info", "note": "Note", "warning": "Warning", "error": "Error",
                 "success": "Success", "tip": "Tip"}
_MAX_DEPTH = 60  # ADF from Jira nests a handful of levels; deeper input is flattened


def adf_to_text(doc: Any) -> str:
    """Readable plain text for an ADF document (or any ADF node, or a list of nodes).

    ``None`` gives ``""``; a string is returned as it is (Jira's REST API v2 and some
    webhooks send wiki text rather than ADF).
    """
    if doc is None:
        return ""
    if isinstance(doc, str):
        return doc.strip()
    if isinstance(doc, list):
        text = _join_blocks(_blocks(doc, 0))
    elif isinstance(doc, dict):
        text = _block(doc, 0)
    else:
        return ""
    return _tidy(text)


# --- blocks ----------------------------------------------------------------------------


def _blocks(nodes: Any, depth: int) -> list[str]:
    """Render a list of sibling nodes as blocks; runs of inline siblings become one block."""
    blocks: list[str] = []
    run: list[dict] = []
    for node in _children_of(nodes):
        if _is_block(node):
            if run:
                blocks.append(_inline(run, depth))
                run = []
            blocks.append(_block(node, depth + 1))
        else:
            run.append(node)
    if run:
        blocks.append(_inline(run, depth))
    return [b for b in blocks if b.strip()]


def _block(node: dict, depth: int) -> str:  # noqa: C901 - one flat branch per ADF block type
    if depth > _MAX_DEPTH:
        return " ".join(_all_text(node))
    kind = node.get("type")
    attrs = _attrs(node)
    content = node.get("content")

    if kind in _TEXTBLOCKS:
        return _inline(content, depth)
    if kind in _CONTAINERS:
        return _join_blocks(_blocks(content, depth))
    if kind == "bulletList":
        return _list(content, depth, ordered=False)
    if kind == "orderedList":
        start = attrs.get("order")
        return _list(content, depth, ordered=True, start=start if isinstance(start, int) else 1)
    if kind == "listItem":
        return _join_lines(_blocks(content, depth))
    if kind == "blockquote":
        return _prefix_lines(_join_blocks(_blocks(content, depth)), "> ")
    if kind == "codeBlock":
        code = "".join(_all_text(node)).rstrip("\n")
        language = attrs.get("language") if isinstance(attrs.get("language"), str) else ""
        return f"```{language}\n{code}\n```" if code else ""
    if kind == "rule":
        return "---"
    if kind == "panel":
        body = _join_blocks(_blocks(content, depth))
        label = _PANEL_LABELS.get(str(attrs.get("panelType", "")))
        return f"{label}: {body}" if label and body else body
    if kind in ("expand", "nestedExpand"):
        title = attrs.get("title") if isinstance(attrs.get("title"), str) else ""
        body = _join_blocks(_blocks(content, depth))
        return _join_blocks([title.strip(), body]) if title and title.strip() else body
    if kind == "table":
        return "\n".join(row for row in (_table_row(r, depth) for r in _children_of(content)) if row)
    if kind == "tableRow":
        return _table_row(node, depth)
    if kind == "mediaGroup":
        return "\n".join(t for t in (_block(m, depth + 1) for m in _children_of(content)) if t)
    if kind == "mediaSingle":
        return _join_lines(_blocks(content, depth))
    if kind == "media":
        return _media(attrs)
    if kind == "taskList":
        return _task_list(content, depth)
    if kind == "taskItem":
        done = str(attrs.get("state", "")).upper() == "DONE"
        return f"[{'x' if done else ' '}] {_inline(content, depth)}"
    if kind == "decisionList":
        return "\n".join(t for t in (_block(d, depth + 1) for d in _children_of(content)) if t)
    if kind == "decisionItem":
        text = _inline(content, depth)
        return f"Decision: {text}" if text else ""
    if kind in ("blockCard", "embedCard"):
        return _card(attrs)
    if kind == "extension":
        return _extension(attrs)
    return _unknown(node, depth)


def _list(items: Any, depth: int, ordered: bool, start: int = 1) -> str:
    lines: list[str] = []
    number = start
    for item in _children_of(items):
        marker = f"{number}. " if ordered else "- "
        body = _block(item, depth + 1) if item.get("type") == "listItem" else _any(item, depth + 1)
        if not body.strip():
            continue
        lines.append(_hang(body, marker))
        number += 1
    return "\n".join(lines)


def _task_list(items: Any, depth: int) -> str:
    lines = []
    for item in _children_of(items):
        text = _block(item, depth + 1)
        if not text.strip():
            continue
        # A taskList nested in a taskList is a sub-list: indent it.
        lines.append(_prefix_lines(text, "  ") if item.get("type") == "taskList" else text)
    return "\n".join(lines)


def _table_row(row: dict, depth: int) -> str:
    if not isinstance(row, dict):
        return ""
    cells = []
    for cell in _children_of(row.get("content")):
        text = _any(cell, depth + 1)
        cells.append(" ".join(line.strip() for line in text.splitlines() if line.strip()))
    return " | ".join(cells).strip() if any(cells) else ""


def _media(attrs: dict) -> str:
    alt = attrs.get("alt") or attrs.get("name") or attrs.get("filename")
    if attrs.get("type") == "external" and attrs.get("url"):
        return f"[image: {alt}] ({attrs['url']})" if alt else str(attrs["url"])
    return f"[attachment: {alt}]" if alt else "[attachment]"


def _card(attrs: dict) -> str:
    url = attrs.get("url")
    if isinstance(url, str) and url:
        return url
    data = attrs.get("data")
    if isinstance(data, dict):
        name, link = data.get("name"), data.get("url")
        if name and link:
            return f"{name} ({link})"
        return str(link or name or "")
    return ""


def _extension(attrs: dict) -> str:
    text = attrs.get("text")
    return text if isinstance(text, str) else ""


def _unknown(node: dict, depth: int) -> str:
    """A node type this module does not know: keep whatever text it carries, or nothing."""
    content = node.get("content")
    if isinstance(content, list) and content:
        if any(_is_block(child) for child in _children_of(content)):
            return _join_blocks(_blocks(content, depth))
        return _inline(content, depth)
    if isinstance(node.get("text"), str):
        return node["text"]
    attrs = _attrs(node)
    for name in ("text", "title", "url"):
        if isinstance(attrs.get(name), str):
            return attrs[name]
    return ""


def _any(node: dict, depth: int) -> str:
    return _block(node, depth) if _is_block(node) else _inline([node], depth)


# --- inline ----------------------------------------------------------------------------


# Inline nodes that stand for a whole thing (a link card, a person, a date): kept apart
# from the words around them by a space, as the editor shows them.
_ATOMS = {"inlineCard", "mention", "date", "status", "mediaInline"}


def _inline(nodes: Any, depth: int) -> str:
    text = ""
    after_atom = False
    for node in _children_of(nodes):
        part = " ".join(_all_text(node)) if depth > _MAX_DEPTH else _inline_node(node, depth + 1)
        if not part:
            continue
        atom = node.get("type") in _ATOMS
        if text and (atom or after_atom) and not text[-1].isspace() and not part[0].isspace() \
                and not (after_atom and not atom and part[0] in ".,;:!?)"):
            text += " "
        text += part
        after_atom = atom
    return text


def _inline_node(node: dict, depth: int) -> str:
    kind = node.get("type")
    attrs = _attrs(node)
    if kind == "text":
        return _marked_text(node)
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        name = attrs.get("text") or attrs.get("displayName") or ""
        name = str(name).strip()
        if not name:
            return "@someone"
        return name if name.startswith("@") else f"@{name}"
    if kind == "emoji":
        return str(attrs.get("text") or attrs.get("shortName") or "")
    if kind == "date":
        return _date(attrs.get("timestamp"))
    if kind == "status":
        text = str(attrs.get("text") or "").strip()
        return f"[{text}]" if text else ""
    if kind == "inlineCard":
        return _card(attrs)
    if kind == "mediaInline":
        return _media(attrs)
    if kind == "inlineExtension":
        return _extension(attrs)
    if kind == "placeholder":
        return ""  # hint text of an empty template field, not something the person wrote
    if _is_block(node):  # a block where inline content was expected: keep its words
        return _block(node, depth)
    return _unknown(node, depth)


def _marked_text(node: dict) -> str:
    text = node.get("text")
    if not isinstance(text, str):
        return ""
    for mark in node.get("marks") or ():
        if isinstance(mark, dict) and mark.get("type") == "link":
            href = _attrs(mark).get("href")
            if isinstance(href, str) and href and href.strip() != text.strip():
                return f"{text} ({href})"
    return text


def _date(timestamp: Any) -> str:
    try:
        millis = int(str(timestamp))
        return datetime.fromtimestamp(millis / 1000, UTC).strftime("%Y-%m-%d")
    except (TypeError, ValueError, OverflowError, OSError):
        return str(timestamp or "")


# --- helpers ---------------------------------------------------------------------------


def _children_of(nodes: Any) -> Iterable[dict]:
    if isinstance(nodes, dict):
        nodes = [nodes]
    if not isinstance(nodes, list):
        return ()
    return [n for n in nodes if isinstance(n, dict)]


def _attrs(node: dict) -> dict:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def _is_block(node: dict) -> bool:
    return node.get("type") in _BLOCK_TYPES


def _all_text(node: Any) -> list[str]:
    """Every ``text`` string under a node, without recursion (safe on any depth)."""
    found, stack = [], [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            if isinstance(current.get("text"), str) and current.get("type") in ("text", None):
                found.append(current["text"])
            if isinstance(current.get("content"), list):
                stack.extend(reversed(current["content"]))
        elif isinstance(current, list):
            stack.extend(reversed(current))
    return found


def _join_blocks(blocks: Iterable[str]) -> str:
    return "\n\n".join(b.strip("\n") for b in blocks if b and b.strip())


def _join_lines(blocks: Iterable[str]) -> str:
    return "\n".join(b.strip("\n") for b in blocks if b and b.strip())


def _prefix_lines(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line.strip() else prefix.rstrip() for line in text.split("\n"))


def _hang(text: str, marker: str) -> str:
    """``marker`` before the first line, the following lines indented under it."""
    lines = text.split("\n")
    indent = " " * len(marker)
    return "\n".join([marker + lines[0]] + [indent + line if line.strip() else "" for line in lines[1:]])


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- the other way ---------------------------------------------------------------------


def text_to_adf(text: str) -> dict:
    """A minimal ADF document for plain text: paragraphs at blank lines, hard breaks at
    single newlines (for creating issues on Jira Cloud, whose v3 API wants ADF)."""
    paragraphs = []
    for chunk in re.split(r"\n\s*\n", (text or "").replace("\r\n", "\n").strip()):
        if not chunk.strip():
            continue
        content: list[dict] = []
        for index, line in enumerate(chunk.split("\n")):
            if index:
                content.append({"type": "hardBreak"})
            if line:
                content.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}
