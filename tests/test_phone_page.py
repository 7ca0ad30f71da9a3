"""The page on a phone, 420 px wide: the typing box on the first screen, every tab in reach."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 420, 800
TABS = ["Live completion", "Generate", "Compare", "Fine-tune", "Arena"]
# Where an element's top lies on the page, however far the page has scrolled (the live text
# box takes the focus on opening, which can scroll it).
PAGE_TOP = "(e) => e.getBoundingClientRect().top + window.scrollY"


@pytest.fixture()
def phone(app_url, browser):
    """The page on a phone's screen, on the review model: the tallest set of fields above the tabs."""
    url, _service = app_url
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT}, is_mobile=True, has_touch=True)
    page.goto(url + "?model=tiny-gptneo")
    page.wait_for_selector("#review-fields", state="visible")
    yield page
    page.close()


def test_the_typing_box_is_on_the_first_screen(phone):
    assert phone.locator("#live-text textarea").evaluate(PAGE_TOP) < HEIGHT


def test_the_model_row_stacks_with_the_name_in_full(phone):
    name = phone.locator("#model input")
    assert name.evaluate("(e) => e.scrollWidth <= e.clientWidth")  # not cut short
    info = phone.locator("#model-info").bounding_box()
    dropdown = phone.locator("#model").bounding_box()
    assert info["y"] >= dropdown["y"] + dropdown["height"]  # under the dropdown, not a column beside it
    assert info["width"] >= 0.9 * (WIDTH - 32)


def test_every_tab_is_shown_and_opens(phone):
    tabs = phone.get_by_role("tab")
    assert tabs.all_inner_texts() == TABS  # none moved into a "..." menu
    assert phone.get_by_label("More tabs").count() == 0 or not phone.get_by_label("More tabs").is_visible()
    for name in TABS:
        tab = phone.get_by_role("tab", name=name)
        box = tab.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, name
        tab.click()
        assert tab.get_attribute("aria-selected") == "true", name
