"""The live tab: the chips show words; in the page every edit refreshes them, a taken word keeps the ghost,
and a chip click keeps the focus in the box."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from autowrite.backends.base import Suggestions, Word
from autowrite.ui.common import RequestFields
from autowrite.ui.live import WORD_BUTTONS, live_suggest, words_only
from tests.test_ghost_page import AREA, SHOWN_GHOST

# The model's likeliest candidates are punctuation, as after "wife" on the review checkpoint.
PUNCTUATION = [Word(",", ",", 0.3), Word("..", "..", 0.2), Word('"', ' "', 0.1)]
GHOSTS = {"The speaker": " is great for the price"}
OTHER_GHOST = ".."  # any other text's ghost: what replaced the rest after Ctrl+Right
# The words take a while, as on a busy server: Gradio then runs an edit's event again once its
# call is done (always_last), and a ghost asked for by that late run replaced a kept rest.
WORDS_S = 0.4
# The words the chips show (their labels' first part), in order.
CHIPS = """() => [...document.querySelectorAll('#word-row button')]
  .filter((b) => b.checkVisibility()).map((b) => b.innerText.trim().split(/\\s+/)[0])"""
FOCUSED = "document.activeElement === document.querySelector('#live-text textarea')"
# Records each time the pause timer runs out: the text then, and whether the page kept the
# ghost shown ("kept") or asked for a new one ("asked"; ui/live.py asks unless one shows).
WATCH_PAUSES_JS = f"""() => {{
  window.pauses = [];
  const shown = window.autowriteGhostShown;
  window.autowriteGhostShown = () => {{
    const kept = shown();
    window.pauses.push(document.querySelector('{AREA}').value + '|' + (kept ? 'kept' : 'asked'));
    return kept;
  }};
}}"""


def _words_for(text: str, count: int) -> list[Word]:
    """Known words that name the text they were made for (its length), after the punctuation."""
    made = [Word(f"t{len(text)}w{i}", f" t{len(text)}w{i}", 0.05 / (i + 1)) for i in range(count)]
    return (PUNCTUATION + made)[:count]


def _chips_for(text: str) -> list[str]:
    return [f"t{len(text)}w{i}" for i in range(WORD_BUTTONS)]


def test_words_only_leaves_out_punctuation():
    words = [*PUNCTUATION, Word("great", " great", 0.05), Word("it's", " it's", 0.04), Word("4K", " 4K", 0.03)]
    words += [Word("wife,", ",", 0.02), Word("-", " -", 0.01), Word("(", " (", 0.01), Word("rd", "rd", 0.01)]
    assert [w.word for w in words_only(words)] == ["great", "it's", "4K", "rd"]


def test_the_chips_show_five_words_when_punctuation_is_likelier(tiny_service, monkeypatch):
    def known(request, count, ghost_tokens, finish):
        return Suggestions(partial="", words=_words_for(request.text, count))

    monkeypatch.setattr(tiny_service, "suggest", known)
    shown = live_suggest(tiny_service, "The sound", RequestFields("tiny-gpt2", "free", 5, "Books", ""))
    buttons = shown["buttons"]
    assert [b["value"] for b in buttons] == ["t9w0  5%", "t9w1  2%", "t9w2  2%", "t9w3  1%", "t9w4  1%"]
    assert all(b["visible"] for b in buttons) and shown["status"] == "Next word"
    assert shown["words"] == {"words": [" t9w0", " t9w1", " t9w2", " t9w3", " t9w4"], "text": "The sound"}


@pytest.fixture()
def live(app_url, browser, monkeypatch):
    """A page on the live tab whose words and ghosts are known, and the (text, ghost_tokens) of each call."""
    url, service = app_url
    calls: list[tuple[str, int]] = []

    def known(request, count=5, ghost_tokens=8, finish=True):
        calls.append((request.text, ghost_tokens))
        time.sleep(0 if ghost_tokens else WORDS_S)
        ghost = GHOSTS.get(request.text, OTHER_GHOST) if ghost_tokens else ""
        return Suggestions(partial="", words=_words_for(request.text, count), ghost=ghost)

    monkeypatch.setattr(service, "suggest", known)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url)
    page.locator(AREA).click()
    yield page, calls
    page.close()


def _chips_become(page, text: str) -> None:
    """Waits until the chips are the words made for text."""
    page.wait_for_function(f"(want) => JSON.stringify(({CHIPS})()) === JSON.stringify(want)", arg=_chips_for(text))


def _value(page) -> str:
    return page.locator(AREA).input_value()


def _shot(page, tmp_path: Path, name: str) -> None:
    """A screenshot of the whole page in tmp_path, to look at when a test fails."""
    page.screenshot(path=tmp_path / f"live-{name}.png", full_page=True)


@pytest.mark.browser
def test_backspace_and_delete_refresh_the_words(live, tmp_path):
    page, _ = live
    page.keyboard.type("The sound is gre", delay=20)
    _chips_become(page, "The sound is gre")
    page.keyboard.press("Backspace")
    _chips_become(page, "The sound is gr")
    page.keyboard.press("Home")
    page.keyboard.press("Delete")
    page.keyboard.press("Delete")
    assert _value(page) == "e sound is gr"
    _chips_become(page, "e sound is gr")
    _shot(page, tmp_path, "after-delete")


@pytest.mark.browser
def test_cut_paste_and_undo_refresh_the_words(live, tmp_path):
    page, _ = live
    page.keyboard.type("The sound is clear", delay=20)
    _chips_become(page, "The sound is clear")
    page.keyboard.press("Control+A")
    page.keyboard.press("Control+X")
    assert _value(page) == ""
    _chips_become(page, "")
    page.keyboard.press("Control+V")  # into the empty box
    assert _value(page) == "The sound is clear"
    _chips_become(page, "The sound is clear")
    page.keyboard.press("Control+Shift+ArrowLeft")
    page.keyboard.press("Control+X")
    assert _value(page) == "The sound is "
    _chips_become(page, "The sound is ")
    page.keyboard.press("Control+Z")
    assert _value(page) == "The sound is clear"
    _chips_become(page, "The sound is clear")
    _shot(page, tmp_path, "after-undo")


@pytest.mark.browser
def test_each_edit_tells_gradio_once(live):
    page, _ = live
    # Gradio's Textbox asks for the words on a keypress: a typed key's own, or the page's
    # keypress of no key ("edit") for an edit that no keypress came before.
    page.evaluate(
        """() => { window.told = [];
        document.addEventListener('keypress', (e) => e.target.matches('#live-text textarea')
          && window.told.push(e.isTrusted ? e.key : 'edit')); }"""
    )
    page.keyboard.type("The sound", delay=20)
    page.keyboard.press("Backspace")
    page.keyboard.type("d")
    page.keyboard.press("Enter")
    page.keyboard.press("Control+A")
    page.keyboard.press("Control+X")
    page.keyboard.press("Control+V")
    page.keyboard.press("Control+Z")
    assert page.evaluate("window.told") == [*"The sound", "edit", "d", "Enter", "edit", "edit", "edit"]


@pytest.mark.browser
def test_a_word_taken_from_the_ghost_keeps_the_rest(live, tmp_path):
    page, calls = live
    page.keyboard.type("The speaker", delay=20)
    page.wait_for_function(f"(want) => ({SHOWN_GHOST})() === want", arg=" is great for the price")
    page.evaluate(WATCH_PAUSES_JS)
    page.keyboard.press("Control+ArrowRight")
    assert _value(page) == "The speaker is"
    _chips_become(page, "The speaker is")  # the words follow the taken word
    # A new ghost is asked for only when the pause is over: then the page keeps the rest.
    page.wait_for_function("() => window.pauses.length > 0")
    assert page.evaluate("window.pauses") == ["The speaker is|kept"]
    assert page.evaluate(SHOWN_GHOST) == " great for the price"
    assert ("The speaker is", 8) not in calls
    _shot(page, tmp_path, "ctrl-right")
    for _ in range(4):
        page.keyboard.press("Control+ArrowRight")
    assert _value(page) == "The speaker is great for the price"
    # The ghost used up, the next one is asked for as after typing.
    page.wait_for_function(f"(want) => ({SHOWN_GHOST})() === want", arg=OTHER_GHOST)
    assert ("The speaker is great for the price", 8) in calls


@pytest.mark.browser
def test_a_chip_click_keeps_the_focus_in_the_box(live, tmp_path):
    page, _ = live
    page.keyboard.type("The sound", delay=20)
    _chips_become(page, "The sound")
    page.click("#word-0")
    page.wait_for_function(
        "(want) => document.querySelector('#live-text textarea').value === want", arg="The sound t9w0"
    )
    assert page.evaluate(FOCUSED)
    assert page.evaluate("document.querySelector('#live-text textarea').selectionStart") == len("The sound t9w0")
    _chips_become(page, "The sound t9w0")
    page.keyboard.type(" x")
    assert _value(page) == "The sound t9w0 x"
    _chips_become(page, "The sound t9w0 x")
    _shot(page, tmp_path, "chip-click")
