"""The arena in the browser: a link opens it restricted, keys vote, and only the vote reveals the names."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from autowrite.settings import PRESET_NAMES

NAME = "document.querySelector('#arena-name-{}').innerText"


@pytest.mark.browser
def test_a_vote_by_key_reveals_the_names_and_counts_on_the_leaderboard(app_url, browser, tmp_path):
    url, _ = app_url
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(url + "?" + urlencode({"tab": "arena", "arena_model": "tiny-gpt2"}))
    page.wait_for_function("document.querySelector('#arena-link textarea')?.value.includes('arena_model=tiny-gpt2')")
    assert page.locator("#arena-model input").input_value() == "tiny-gpt2"
    page.wait_for_function(
        "document.querySelector('#arena-board-summary').innerText.includes('No votes yet between the presets of tiny')"
    )

    page.keyboard.press("n")
    page.wait_for_function("!document.querySelector('#arena-vote-a').disabled", timeout=60_000)
    texts = [page.locator(f"#arena-text-{side} textarea").input_value() for side in "ab"]
    assert all(texts)
    hidden = [page.evaluate(NAME.format(side)) for side in "ab"]
    assert all("after your vote" in name for name in hidden)
    assert not any(preset in page.locator("#arena-name-a").inner_text() for preset in PRESET_NAMES)

    page.keyboard.press("a")
    page.wait_for_function(f"{NAME.format('b')}.includes('Written by')")
    names = [page.evaluate(NAME.format(side)).removeprefix("Written by ").strip() for side in "ab"]
    presets = [name.removeprefix("tiny-gpt2 · ") for name in names]
    assert all(name.startswith("tiny-gpt2 · ") for name in names) and presets[0] != presets[1]
    assert set(presets) <= set(PRESET_NAMES)
    assert "Your vote: A is better" in page.locator("#arena-status").inner_text()
    assert page.locator("#arena-vote-b").is_disabled()  # one vote per pair: the buttons wait for the next
    page.wait_for_function("document.querySelector('#arena-board').innerText.includes('1 / 0 / 0 / 0')")
    rows = page.locator("#arena-board").inner_text()
    assert names[0] in rows and names[1] in rows
    assert page.locator("#arena-plot").is_visible()

    page.locator("#arena-prompt textarea").click()  # typing in a text box types, and votes nothing
    page.keyboard.type("nab")
    assert page.locator("#arena-prompt textarea").input_value() == "nab"
    assert page.locator("#arena-vote-a").is_disabled()
    page.screenshot(path=tmp_path / "arena.png", full_page=True)
    page.close()
