"""The token inspector in the browser: hover, keyboard focus, and a branch whose link reproduces it."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

LINK = {"tab": "generate", "model": "tiny-gpt2", "prompt": "The battery", "max_new_tokens": "8"}
TOKENS = "#sample-0-tokens .aw-tok"


def _inspected(page) -> list[str]:
    """The shown tokens' texts once the inspector has drawn them."""
    page.wait_for_function(f"document.querySelectorAll('{TOKENS}').length > 0", timeout=30_000)
    return page.eval_on_selector_all(TOKENS, "els => els.map(e => e.firstChild?.textContent ?? '')")


@pytest.mark.browser
def test_hover_and_keys_show_the_alternatives(app_url, browser, tmp_path):
    url, _ = app_url
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.goto(url + "?" + urlencode(LINK))
    page.check("#gen-inspect input")
    page.click("#generate")
    _inspected(page)
    first = page.locator(TOKENS).nth(0)
    first.hover()
    alternatives = first.locator(".aw-alts")
    assert alternatives.is_visible()
    rows = alternatives.locator("tbody tr")
    assert rows.count() >= 10 and alternatives.locator("tr.aw-chosen").count() == 1
    assert "Model" in alternatives.inner_text() and "After settings" in alternatives.inner_text()
    page.screenshot(path=tmp_path / "inspector-hover.png")

    page.mouse.move(0, 0)
    first.focus()  # the keyboard: one tab stop per text, arrows inside it
    assert alternatives.is_visible()
    page.keyboard.press("ArrowRight")
    second = page.locator(TOKENS).nth(1)
    assert page.evaluate("document.activeElement.dataset.step") == "1"
    assert second.locator(".aw-alts").is_visible() and not alternatives.is_visible()
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.classList.contains('aw-alt')")
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.dataset.step") == "1"
    page.close()


@pytest.mark.browser
def test_a_click_on_an_alternative_branches_and_its_link_reproduces_it(app_url, browser, tmp_path):
    url, _ = app_url
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.goto(url + "?" + urlencode({**LINK, "samples": "2"}))
    page.check("#gen-inspect input")
    page.click("#generate")
    original = _inspected(page)
    token = page.locator("#sample-1-tokens .aw-tok").nth(2)  # the second sample: its seed is seed + 1
    token.hover()
    choice = token.locator(".aw-alt").nth(0)
    chosen_text = choice.inner_text()
    choice.click()
    page.wait_for_function("document.querySelector('#gen-branch textarea')?.value.startsWith('2:')", timeout=10_000)
    page.wait_for_function(
        f"document.querySelectorAll('{TOKENS}.aw-forced').length === 1 && "
        "!document.querySelector('#sample-1-tokens')?.checkVisibility()",
        timeout=30_000,
    )
    branched = _inspected(page)
    forced = page.locator(f"{TOKENS}.aw-forced")
    assert forced.get_attribute("data-step") == "2"
    assert chosen_text.replace("␣", " ").replace("↵", "\n") == branched[2]
    assert page.locator("#seed input").input_value() == "4"  # tiny-gpt2's card seed 3, plus sample 1
    assert branched != original
    page.screenshot(path=tmp_path / "inspector-branch.png")

    page.click("#share")
    page.wait_for_function("document.querySelector('#share-link textarea').value.includes('branch=')")
    link = page.locator("#share-link textarea").input_value()
    again = browser.new_page(viewport={"width": 1280, "height": 1400})
    again.goto(link)  # the link writes its branch on opening, token by token
    again.wait_for_function(f"document.querySelectorAll('{TOKENS}.aw-forced').length === 1", timeout=30_000)
    assert _inspected(again) == branched
    again.click("#gen-branch-clear")
    again.wait_for_function("!document.querySelector('#gen-branch-row')?.checkVisibility()", timeout=10_000)
    page.close()
    again.close()


@pytest.mark.browser
def test_compare_columns_show_their_tokens(app_url, browser):
    url, _ = app_url
    link = {"tab": "compare", "model": "tiny-gpt2", "prompt": "The battery", "presets": "Greedy,Creative"}
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.goto(url + "?" + urlencode({**link, "max_new_tokens": "6"}))
    page.check("#cmp-inspect input")
    page.click("#compare")
    page.wait_for_function("document.querySelectorAll('#cmp-tokens-1 .aw-tok').length > 0", timeout=30_000)
    token = page.locator("#cmp-tokens-0 .aw-tok").nth(0)
    token.hover()
    assert token.locator(".aw-alts tbody tr").count() >= 10
    assert token.locator(".aw-alts").inner_text().count("100.0%") == 1  # greedy: all on the written token
    assert page.locator("#cmp-tokens-0 .aw-alt").count() == 0  # branches start on the generate tab
    assert not page.locator("#cmp-out-0").is_visible()
    page.close()
