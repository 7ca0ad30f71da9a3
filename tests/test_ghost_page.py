"""The live tab's ghost continuation in the page: drawn inside the text box, and its keys."""

from __future__ import annotations

import dataclasses

import pytest

pytestmark = pytest.mark.browser

SENTENCE = "The speaker is great for the price and the sound"
ELSEWHERE = " and more words to come"
AREA = "#live-text textarea"
# The ghost the page shows (its text), or "" when none is.
SHOWN_GHOST = """() => {
  const mirror = document.querySelector('#live-text .ghost-mirror');
  if (!mirror || getComputedStyle(mirror).display === 'none') return '';
  return mirror.querySelector('.ghost-text').textContent;
}"""
# Where the ghost starts, beside the last typed character and the textarea's visible inside.
PLACES = """() => {
  const area = document.querySelector('#live-text textarea');
  const mirror = area.parentElement.querySelector('.ghost-mirror');
  const typed = mirror.firstChild;
  const range = document.createRange();
  range.setStart(typed, typed.length - 1);
  range.setEnd(typed, typed.length);
  const box = area.getBoundingClientRect();
  const inside = {left: box.left + area.clientLeft, top: box.top + area.clientTop};
  Object.assign(inside, {right: inside.left + area.clientWidth, bottom: inside.top + area.clientHeight});
  const plain = (r) => ({left: r.left, top: r.top, right: r.right, bottom: r.bottom});
  return {
    last: plain(range.getBoundingClientRect()),
    ghost: plain(mirror.querySelector('.ghost-text').getClientRects()[0]),
    box: plain(box), mirror: plain(mirror.getBoundingClientRect()), inside,
    fonts: [getComputedStyle(area).font, getComputedStyle(mirror).font],
    scrolled: [area.scrollTop, mirror.scrollTop],
  };
}"""


def _ghost_for(text: str) -> str:
    """A known ghost: the rest of SENTENCE while the text is a start of it, else ELSEWHERE."""
    return SENTENCE[len(text) :] if SENTENCE.startswith(text) else ELSEWHERE


@pytest.fixture()
def live(app_url, browser, monkeypatch):
    """A factory of pages on the live tab whose ghosts are known (the model's words are real)."""
    url, service = app_url
    suggest = service.suggest

    def known_ghost(request, count=5, ghost_tokens=8, finish=True):
        result = suggest(request, count=count, ghost_tokens=ghost_tokens, finish=finish)
        return dataclasses.replace(result, ghost=_ghost_for(request.text) if ghost_tokens else "")

    monkeypatch.setattr(service, "suggest", known_ghost)
    pages = []

    def open_page(width: int = 1280):
        page = browser.new_page(viewport={"width": width, "height": 900})
        pages.append(page)
        page.goto(url)
        page.locator(AREA).click()
        return page

    yield open_page
    for page in pages:
        page.close()


def _typed(page, text: str):
    page.keyboard.type(text, delay=20)
    page.wait_for_function(f"(want) => ({SHOWN_GHOST})() === want", arg=_ghost_for(page.locator(AREA).input_value()))
    return page


def _shown(page) -> str:
    return page.evaluate(SHOWN_GHOST)


def _starts_right_after_the_text(places: dict) -> bool:
    """The ghost's first line box begins where the last typed character ends, or on the next line."""
    last, ghost = places["last"], places["ghost"]
    same_line = abs(ghost["top"] - last["top"]) < 1 and abs(ghost["left"] - last["right"]) < 1
    return same_line or ghost["top"] >= last["bottom"] - 1


def test_the_ghost_shows_inside_the_box_right_after_the_text(live):
    page = _typed(live(), "The speaker")
    assert _shown(page) == " is great for the price and the sound"
    assert page.locator("#live-text .ghost-mirror .ghost-text").is_visible()
    assert not page.locator("#ghost").is_visible()  # no preview box of its own any more
    places = page.evaluate(PLACES)
    assert _starts_right_after_the_text(places), places
    assert places["fonts"][0] == places["fonts"][1]
    assert all(abs(places["mirror"][side] - places["box"][side]) < 1 for side in places["box"]), places


def test_tab_accepts_the_whole_ghost(live):
    page = _typed(live(), "The speaker")
    page.keyboard.press("Tab")
    assert page.locator(AREA).input_value() == SENTENCE
    assert _shown(page) == ""
    assert page.evaluate("document.activeElement === document.querySelector('#live-text textarea')")


def test_ctrl_right_accepts_one_word_and_keeps_the_rest(live):
    page = _typed(live(), "The speaker")
    page.keyboard.press("Control+ArrowRight")
    assert page.locator(AREA).input_value() == "The speaker is"
    assert _shown(page) == " great for the price and the sound"
    assert _starts_right_after_the_text(page.evaluate(PLACES))
    page.keyboard.press("Control+ArrowRight")
    assert page.locator(AREA).input_value() == "The speaker is great"
    # The server sees the words as typed: the next ghost is made for the longer text.
    page.wait_for_function("document.querySelector('#ghost .ghost-box').dataset.text === 'The speaker is great'")
    assert _shown(page) == " for the price and the sound"


def test_escape_dismisses_the_ghost_and_tab_then_moves_on(live):
    page = _typed(live(), "The speaker")
    page.keyboard.press("Escape")
    assert _shown(page) == ""
    assert page.locator(AREA).input_value() == "The speaker"
    page.keyboard.press("Tab")  # no ghost: Tab moves the focus, as it always does
    assert page.locator(AREA).input_value() == "The speaker"
    assert not page.evaluate("document.activeElement === document.querySelector('#live-text textarea')")


def test_no_ghost_unless_the_caret_is_at_the_end(live):
    page = _typed(live(), "The speaker")
    page.keyboard.press("ArrowLeft")
    assert _shown(page) == ""
    page.keyboard.press("End")
    assert _shown(page) == " is great for the price and the sound"
    page.keyboard.press("Shift+Home")  # a selection that reaches the end
    assert _shown(page) == ""
    page.keyboard.press("End")
    page.keyboard.press("Home")
    page.keyboard.press("Control+ArrowRight")  # no ghost: the caret moves a word on
    assert _shown(page) == ""
    assert page.evaluate("document.querySelector('#live-text textarea').selectionStart") == len("The")
    page.keyboard.press("Control+ArrowRight")
    assert page.locator(AREA).input_value() == "The speaker"
    assert _shown(page) == " is great for the price and the sound"


def test_typing_hides_the_ghost_at_once_until_a_new_one_comes(live):
    page = _typed(live(), "The speaker")
    page.keyboard.type(" a")
    assert _shown(page) == ""  # before the server has answered
    assert not page.locator("#live-text .ghost-mirror .ghost-text").is_visible()
    page.wait_for_function(f"(want) => ({SHOWN_GHOST})() === want", arg=ELSEWHERE)
    assert page.evaluate("document.querySelector('#ghost .ghost-box').dataset.text") == "The speaker a"


LONG = ("The sound is clear and the bass is deep enough for a small room, " * 8 + "\n") * 12


@pytest.mark.parametrize("width", [1280, 480])
def test_the_ghost_stays_in_view_after_a_long_wrapped_text(live, width):
    page = live(width)
    page.locator(AREA).fill(LONG)
    _typed(page, "Overall I like it")
    places = page.evaluate(PLACES)
    assert places["scrolled"][0] > 0 and places["scrolled"][0] == places["scrolled"][1], places
    assert _starts_right_after_the_text(places), places
    ghost, inside = places["ghost"], places["inside"]
    assert inside["left"] <= ghost["left"] < inside["right"], places
    assert inside["top"] <= ghost["top"] < inside["bottom"], places
