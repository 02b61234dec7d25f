"""adf_to_text: Atlassian Document Format to readable plain text (pure functions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plugins.jira.adf import adf_to_text, text_to_adf

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "jira"


def doc(*content):
    return {"version": 1, "type": "doc", "content": list(content)}


def p(*inline):
    return {"type": "paragraph", "content": list(inline)}


def t(text, *marks):
    node = {"type": "text", "text": text}
    if marks:
        node["marks"] = list(marks)
    return node


def li(*blocks):
    return {"type": "listItem", "content": list(blocks)}


def cell(text, kind="tableCell"):
    return {"type": kind, "attrs": {}, "content": [p(t(text))]}


def test_a_document_with_every_node_type_reads_as_the_golden_text():
    """Our own document with every node type (and three unknown ones) against its reading."""
    document = json.loads((FIXTURES / "adf_every_node.json").read_text())
    expected = (FIXTURES / "adf_every_node.txt").read_text().rstrip("\n")
    assert adf_to_text(document) == expected


def test_paragraphs_headings_and_hard_breaks():
    document = doc({"type": "heading", "attrs": {"level": 1}, "content": [t("Title")]},
                   p(t("line one"), {"type": "hardBreak"}, t("line two")), p(t("next")))
    assert adf_to_text(document) == "Title\n\nline one\nline two\n\nnext"


def test_marks_keep_the_words_and_links_show_their_address():
    document = doc(p(t("bold", {"type": "strong"}), t(" "), t("code", {"type": "code"}), t(" "),
                     t("site", {"type": "link", "attrs": {"href": "https://example.org"}}), t(" "),
                     t("https://example.org", {"type": "link", "attrs": {"href": "https://example.org"}})))
    assert adf_to_text(document) == "bold code site (https://example.org) https://example.org"


def test_tables_become_rows_of_cells():
    table = {"type": "table", "content": [
        {"type": "tableRow", "content": [cell("Header 1", "tableHeader"), cell("Header 2", "tableHeader")]},
        {"type": "tableRow", "content": [cell("a"), cell("b")]},
        {"type": "tableRow", "content": [cell("c"), {"type": "tableCell", "content": []}]},
    ]}
    assert adf_to_text(doc(p(t("Before")), table, p(t("After")))) == \
        "Before\n\nHeader 1 | Header 2\na | b\nc |\n\nAfter"


def test_mentions_with_and_without_the_at_sign_or_any_name():
    document = doc(p({"type": "mention", "attrs": {"id": "1", "text": "@Ann"}}, t(", "),
                     {"type": "mention", "attrs": {"id": "2", "text": "Ben"}}, t(", "),
                     {"type": "mention", "attrs": {"id": "3"}}))
    assert adf_to_text(document) == "@Ann, @Ben, @someone"


def test_code_blocks_are_fenced_and_keep_their_lines():
    document = doc({"type": "codeBlock", "attrs": {"language": "python"},
                    "content": [t("def f():\n    return 1")]}, {"type": "codeBlock", "content": []})
    assert adf_to_text(document) == "```python\ndef f():\n    return 1\n```"


def test_nested_bullet_and_ordered_lists():
    document = doc({"type": "orderedList", "content": [
        li(p(t("first")), {"type": "bulletList", "content": [li(p(t("a"))), li(p(t("b")))]}),
        li(p(t("second"), {"type": "hardBreak"}, t("continued"))),
    ]})
    assert adf_to_text(document) == "1. first\n   - a\n   - b\n2. second\n   continued"


def test_an_ordered_list_can_start_elsewhere():
    document = doc({"type": "orderedList", "attrs": {"order": 7}, "content": [li(p(t("x"))), li(p(t("y")))]})
    assert adf_to_text(document) == "7. x\n8. y"


@pytest.mark.parametrize("unknown, expected", [
    ({"type": "brandNewBlock", "content": [p(t("kept words"))]}, "kept words"),
    ({"type": "brandNewInline", "content": [t("kept inline")]}, "kept inline"),
    ({"type": "brandNewThing", "text": "its own text"}, "its own text"),
    ({"type": "brandNewCard", "attrs": {"url": "https://example.org/x"}}, "https://example.org/x"),
    ({"type": "brandNewNothing", "attrs": {"size": 3}}, ""),
    ({"type": None}, ""),
])
def test_an_unknown_node_type_never_breaks_the_text(unknown, expected):
    document = doc(p(t("before")), unknown, p(t("after"), unknown))
    assert adf_to_text(document) == "\n\n".join(filter(None, ["before", expected, "after" + expected]))


@pytest.mark.parametrize("value, expected", [
    (None, ""),
    ("wiki *text* from API v2", "wiki *text* from API v2"),
    ([p(t("a list")), p(t("of nodes"))], "a list\n\nof nodes"),
    ({"type": "doc"}, ""),
    ({"type": "doc", "content": "not a list"}, ""),
    ({"type": "doc", "content": [None, 3, "x", p(None), p(t("ok"))]}, "ok"),
    ({"type": "doc", "content": [p({"type": "text"}), p({"type": "text", "text": 5}), p(t("fine"))]}, "fine"),
    ({"type": "doc", "content": [{"type": "panel", "attrs": "odd", "content": [p(t("panel"))]}]}, "panel"),
    ({"type": "doc", "content": [p({"type": "date", "attrs": {"timestamp": "soon"}})]}, "soon"),
    ({"type": "doc", "content": [{"type": "orderedList", "attrs": {"order": "x"}, "content": [li(p(t("z")))]}]},
     "1. z"),
    (42, ""),
])
def test_odd_input_gives_text_or_nothing_never_an_error(value, expected):
    assert adf_to_text(value) == expected


def test_very_deep_nesting_is_flattened_without_recursion_errors():
    node = p(t("deep words"))
    for _ in range(5000):
        node = {"type": "blockquote", "content": [node]}
    assert "deep words" in adf_to_text(doc(node))


def test_the_kinds_of_nodes_jira_cloud_sends_in_a_description():
    """The node kinds found in real Jira Cloud descriptions (headings, quotes, panels, cards,
    mentions, nested lists, tables with headers, code), in a description of our own."""
    document = doc(
        {"type": "heading", "attrs": {"level": 3}, "content": [t("Steps")]},
        {"type": "blockquote", "content": [p(t("Quoted customer email"))]},
        p(t("See"), {"type": "inlineCard", "attrs": {"url": "https://example.atlassian.net/wiki/x"}}),
        {"type": "panel", "attrs": {"panelType": "info"}, "content": [p(t("Happens on Android only"))]},
        p({"type": "mention", "attrs": {"id": "5fb8", "text": "Person A"}}),
        p(t("Underlined", {"type": "underline"}), t(" and "), t("struck", {"type": "strike"})),
    )
    assert adf_to_text(document) == (
        "Steps\n\n> Quoted customer email\n\nSee https://example.atlassian.net/wiki/x\n\n"
        "Info: Happens on Android only\n\n@Person A\n\nUnderlined and struck"
    )


def test_text_to_adf_round_trips_plain_text():
    text = "First paragraph\nwith a second line.\n\nSecond paragraph."
    document = text_to_adf(text)
    assert document["type"] == "doc" and document["version"] == 1
    assert [n["type"] for n in document["content"]] == ["paragraph", "paragraph"]
    assert adf_to_text(document) == text
    assert text_to_adf("") == {"type": "doc", "version": 1, "content": []}
