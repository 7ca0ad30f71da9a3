"""The report card in the browser: a link runs it, a row shows its samples; columns carry their models."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

LINK = {
    "tab": "compare",
    "model": "tiny-gpt2",
    "prompt": "The battery",
    "presets": "Greedy,Creative",
    "c2_model": "tiny-gptneo",
    "max_new_tokens": "6",
    "report": "3",
}


@pytest.mark.browser
def test_a_report_link_runs_the_report_and_a_row_shows_its_samples(app_url, browser):
    url, _ = app_url
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(url + "?" + urlencode(LINK))
    page.wait_for_function("document.querySelector('#rep-table')?.innerText.includes('tiny-gptneo')", timeout=60_000)
    table = page.locator("#rep-table").inner_text()
    assert "Greedy" in table and "Creative" in table
    assert "Column 1" in page.locator("#rep-samples").inner_text()  # the first column's samples, at once
    page.locator("#rep-table .virtual-body").get_by_text("Creative", exact=True).click()  # row 2's preset cell
    page.wait_for_function("document.querySelector('#rep-samples').innerText.includes('Column 2')", timeout=10_000)
    samples = page.locator("#rep-samples").inner_text()
    assert "tiny-gptneo" in samples and "seed 5" in samples  # three seeds from tiny-gpt2's card seed, 3
    page.screenshot(path="/tmp/autowrite-report.png", full_page=True)

    page.click("#compare")  # the same columns, one sample each: the second on its own model
    page.wait_for_function("document.querySelector('#cmp-out-1 textarea')?.value.length > 0", timeout=30_000)
    page.click("#share")
    page.wait_for_function("document.querySelector('#share-link textarea').value.includes('c2_model=tiny-gptneo')")
    assert "report=3" in page.locator("#share-link textarea").input_value()
    page.close()
