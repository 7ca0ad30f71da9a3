"""Rating guidance on the page: a link sets its slider, a review guided at 1 star differs, a warning says why not."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.test_first_use_page import RAN_AND_READY_JS, WATCH_BUTTON_JS

LINK = {"model": "tiny-gptneo", "mode": "review", "rating": "1", "category": "Books", "max_new_tokens": "6"}


@pytest.mark.browser
def test_a_link_guides_a_review_and_a_three_star_one_says_why_not(app_url, browser, tmp_path):
    url, service = app_url
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.goto(url + "?" + urlencode({**LINK, "tab": "generate", "rating_guidance": "2.5"}))
    page.wait_for_function("document.querySelector('#rating_guidance input[type=number]')?.value === '2.5'")
    page.evaluate(WATCH_BUTTON_JS)
    page.click("#generate")
    page.wait_for_function(RAN_AND_READY_JS, timeout=30_000)  # the generation has ended: its warnings are in
    assert page.evaluate("document.querySelector('#sample-0 textarea').value.length") > 0
    assert not page.locator("#gen-warnings").inner_text().strip()
    page.screenshot(path=tmp_path / "guidance.png")
    page.goto(url + "?" + urlencode({**LINK, "tab": "generate", "rating": "3", "rating_guidance": "2"}))
    page.wait_for_function("document.querySelector('#rating_guidance input[type=number]')?.value === '2'")
    page.click("#generate")
    page.wait_for_function("document.querySelector('#gen-warnings').innerText.includes('at 3 stars')", timeout=30_000)
    page.close()


@pytest.mark.browser
def test_compare_columns_carry_their_own_guidance(app_url, browser):
    url, _ = app_url
    query = {**LINK, "tab": "compare", "presets": "Card defaults,Guided stars", "c1_rating_guidance": "1.5"}
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.goto(url + "?" + urlencode(query))
    page.wait_for_function("document.querySelector('#cmp-prompt')")
    page.click("#share")  # the link reads the columns' widgets: their guidance came through
    page.wait_for_function("document.querySelector('#share-link textarea').value.includes('tab=compare')")
    link = page.locator("#share-link textarea").input_value()
    assert "c1_rating_guidance=1.5" in link and "c2_rating_guidance=2.0" in link
    page.close()
