"""The live tab: the chips show words."""

from __future__ import annotations

from autowrite.backends.base import Suggestions, Word
from autowrite.ui.live import live_suggest, words_only

# The model's likeliest candidates are punctuation, as after "wife" on the review checkpoint.
PUNCTUATION = [Word(",", ",", 0.3), Word("..", "..", 0.2), Word('"', ' "', 0.1)]


def _words_for(text: str, count: int) -> list[Word]:
    """Known words that name the text they were made for (its length), after the punctuation."""
    made = [Word(f"t{len(text)}w{i}", f" t{len(text)}w{i}", 0.05 / (i + 1)) for i in range(count)]
    return (PUNCTUATION + made)[:count]


def test_words_only_leaves_out_punctuation():
    words = [*PUNCTUATION, Word("great", " great", 0.05), Word("it's", " it's", 0.04), Word("4K", " 4K", 0.03)]
    words += [Word("wife,", ",", 0.02), Word("-", " -", 0.01), Word("(", " (", 0.01), Word("rd", "rd", 0.01)]
    assert [w.word for w in words_only(words)] == ["great", "it's", "4K", "rd"]


def test_the_chips_show_five_words_when_punctuation_is_likelier(tiny_service, monkeypatch):
    def known(request, count, ghost_tokens, finish):
        return Suggestions(partial="", words=_words_for(request.text, count))

    monkeypatch.setattr(tiny_service, "suggest", known)
    *buttons, _, status, words = live_suggest(tiny_service, "The sound", "tiny-gpt2", "free", 5, "Books", "")
    assert [b["value"] for b in buttons] == ["t9w0  5%", "t9w1  2%", "t9w2  2%", "t9w3  1%", "t9w4  1%"]
    assert all(b["visible"] for b in buttons) and status == "Next word"
    assert words == {"words": [" t9w0", " t9w1", " t9w2", " t9w3", " t9w4"], "text": "The sound"}
