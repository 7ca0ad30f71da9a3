"""What a new user meets first (#27): a link with an empty prompt, a generation that shows it runs,
samples that start with their prompt, a fine-tune tab that clears on an error, and a quiet log."""

from __future__ import annotations

import time
from dataclasses import replace
from urllib.parse import urlencode

import pytest

from autowrite.backends.base import Sample
from autowrite.service import Output, Request
from tests.conftest import launched, make_tiny_service
from tests.test_changes import TEXT, tiny_adapter_dir  # noqa: F401 - the adapter fixture

TOKENS = "#sample-0-tokens .aw-tok"
# Records every state the Generate button shows from now on ("label|disabled"), so a test
# sees a state that lasted less than its polling would catch.
WATCH_BUTTON_JS = """() => {
  window.genStates = [];
  const button = document.querySelector('#generate');
  new MutationObserver(() => window.genStates.push(button.innerText + '|' + button.disabled))
    .observe(button, {attributes: true, childList: true, subtree: true, characterData: true});
}"""
RAN_AND_READY_JS = """() => {
  const button = document.querySelector('#generate');
  return window.genStates.includes('Generating…|true') && button.innerText === 'Generate' && !button.disabled;
}"""
RUNNING_JS = (
    "() => { const b = document.querySelector('#generate'); return b.innerText === 'Generating…' && b.disabled; }"
)


@pytest.fixture(scope="module")
def first_app(tiny_gpt2_dir, tiny_gptneo_dir, tiny_adapter_dir):  # noqa: F811 - the fixture imported above
    """The tiny catalog with a fine-tuned entry, launched: (url, service)."""
    service = make_tiny_service(tiny_gpt2_dir, tiny_gptneo_dir)
    base = service.entries["tiny-gpt2"]
    tuned = replace(base, name="tiny-gpt2-tuned", adapter=str(tiny_adapter_dir), prompt_format="autowrite")
    service.entries[tuned.name] = tuned
    with launched(service, max_size=8) as (url, _):
        yield url, service


def _page(browser, url: str, query: dict[str, str]):
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    page.goto(url + "?" + urlencode(query))
    page.wait_for_function("!!document.querySelector('#generate')?.offsetParent", timeout=20_000)
    return page


def _generate(page) -> list[str]:
    """Click Generate and wait until the generation has run and the button is back; the states it showed."""
    page.evaluate(WATCH_BUTTON_JS)
    page.click("#generate")
    page.wait_for_function(RAN_AND_READY_JS, timeout=30_000)
    return page.evaluate("window.genStates")


def _tokens(page) -> list[str]:
    page.wait_for_function(f"document.querySelectorAll('{TOKENS}').length > 0", timeout=30_000)
    # A token with no text of its own (part of a character) holds only its table of alternatives.
    return page.eval_on_selector_all(
        TOKENS, "els => els.map(e => e.firstChild?.nodeType === Node.TEXT_NODE ? e.firstChild.textContent : '')"
    )


@pytest.mark.browser
def test_an_empty_prompt_generate_link_opens_generate_and_writes_its_branch(first_app, browser, tmp_path):
    url, _ = first_app
    page = _page(browser, url, {"tab": "generate", "model": "tiny-gptneo", "mode": "review", "max_new_tokens": "8"})
    assert page.locator("#gen-prompt textarea").input_value() == ""  # a review needs no prompt
    page.check("#gen-inspect input")
    _generate(page)
    token = page.locator(TOKENS).nth(2)
    token.hover()
    token.locator(".aw-alt").nth(0).click()
    page.wait_for_function(f"document.querySelectorAll('{TOKENS}.aw-forced').length === 1", timeout=30_000)
    branched = _tokens(page)
    page.click("#share")
    page.wait_for_function("document.querySelector('#share-link textarea').value.includes('branch=')")
    link = page.locator("#share-link textarea").input_value()
    assert "tab=generate" in link and "prompt=" not in link
    page.close()
    # The link as the button makes it, and as links made before every link named its tab.
    for opened in (link, link.replace("tab=generate&", "")):
        again = browser.new_page(viewport={"width": 1280, "height": 1100})
        again.goto(opened)
        again.wait_for_function(f"document.querySelectorAll('{TOKENS}.aw-forced').length === 1", timeout=30_000)
        assert again.locator("#gen-prompt").is_visible()  # the generate tab is open
        assert _tokens(again) == branched
        again.screenshot(path=str(tmp_path / "branch-link.png"))
        again.close()


@pytest.mark.browser
def test_the_generate_button_says_a_generation_runs_until_it_ends_fails_or_stops(
    first_app, browser, monkeypatch, tmp_path
):
    url, service = first_app
    page = _page(
        browser, url, {"tab": "generate", "model": "tiny-gpt2", "prompt": "The battery", "max_new_tokens": "6"}
    )
    states = _generate(page)
    assert states[-1] == "Generate|false" and "Generating…|true" in states

    def endless(*args, **kwargs):  # a generation that runs until it is stopped
        def outputs():
            for count in range(10_000):
                time.sleep(0.05)
                yield Output([Sample(" word" * count)])

        return outputs()

    monkeypatch.setattr(service, "stream", endless)
    page.click("#generate")
    page.wait_for_function(RUNNING_JS, timeout=10_000)
    page.wait_for_function("document.querySelector('#sample-0 textarea').value.includes('word word')")
    page.screenshot(path=str(tmp_path / "generating.png"))
    page.click("#stop")
    page.wait_for_function("() => !document.querySelector('#generate').disabled", timeout=10_000)
    assert page.locator("#generate").inner_text() == "Generate"
    monkeypatch.undo()

    page.locator("#gen-prompt textarea").fill("")  # the tiny GPT-2 has nothing to continue
    _generate(page)
    assert "The prompt is empty" in page.locator("#gen-warnings").inner_text()
    assert page.locator("[data-testid=toast-body]").count() == 0
    assert page.locator("#sample-0 textarea").input_value() == ""
    page.close()


@pytest.mark.browser
def test_a_sample_starts_with_its_prompt_and_the_fine_tune_tab_takes_both(first_app, browser):
    from gradio_client import Client

    url, service = first_app
    prompt = "The battery"
    page = _page(browser, url, {"tab": "generate", "model": "tiny-gpt2", "prompt": prompt, "max_new_tokens": "6"})
    _generate(page)
    shown = page.locator("#sample-0 textarea").input_value()
    settings = service.settings("tiny-gpt2", max_new_tokens=6)
    continuation = service.generate(Request(model="tiny-gpt2", text=prompt), settings).texts[0]
    assert continuation and shown == prompt + continuation
    # The API still answers with the continuation alone, as it documents.
    answer = Client(url, verbose=False).predict(
        prompt=prompt, model="tiny-gpt2", max_new_tokens=6, api_name="/generate"
    )
    assert answer == continuation

    page.check("#gen-inspect input")
    _generate(page)
    assert "".join(_tokens(page)) == continuation  # the inspector shows the model's tokens only
    assert page.locator("#sample-0-tokens .gen-given-text").inner_text() == prompt

    page.get_by_role("tab", name="Fine-tune").click()
    page.click("#chg-from-gen")
    page.wait_for_function("document.querySelector('#chg-text textarea')?.value.length > 0")
    assert page.locator("#chg-text textarea").input_value() == prompt + continuation
    page.close()


@pytest.mark.browser
def test_a_failed_scoring_clears_the_old_results_and_says_why_once(first_app, browser, tmp_path):
    url, _ = first_app
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(url + "?" + urlencode({"tab": "changes", "model": "tiny-gpt2-tuned", "prompt": TEXT}))
    page.wait_for_function("document.querySelectorAll('#chg-out .aw-tok').length > 0", timeout=30_000)
    page.click("#model input")
    page.get_by_role("option", name="tiny-gpt2", exact=True).click()
    page.click("#chg-run")
    page.wait_for_function("document.querySelector('#chg-out .chg-error') !== null", timeout=30_000)
    assert page.locator("#chg-out .aw-tok").count() == 0  # the tuned model's results are gone
    assert "tiny-gpt2 has no adapter" in page.locator("#chg-out").inner_text()
    assert page.evaluate("document.body.innerText.split('has no adapter').length - 1") == 1
    assert page.locator("[data-testid=toast-body]").count() == 0
    assert page.locator("#chg-out span.error, #chg-out .error").count() == 0
    page.screenshot(path=str(tmp_path / "fine-tune-error.png"))
    page.close()


def test_a_user_error_is_logged_as_one_line_and_a_fault_keeps_its_traceback(first_app, caplog, capfd, monkeypatch):
    from gradio_client import Client

    url, service = first_app
    client = Client(url, verbose=False)
    with caplog.at_level("INFO", logger="autowrite.ui.refusals"), pytest.raises(Exception, match="Unknown model"):
        client.predict(prompt="The battery", model="nope\nforged line", api_name="/generate")
    refused = [r.getMessage() for r in caplog.records if r.name == "autowrite.ui.refusals"]
    assert len(refused) == 1 and refused[0].startswith("Refused: Unknown model 'nope")
    assert "\n" not in refused[0]
    assert "Traceback" not in capfd.readouterr().err

    def broken(*args, **kwargs):
        raise RuntimeError("a fault nobody expected")

    monkeypatch.setattr(service, "stream", broken)
    with pytest.raises(Exception):  # noqa: B017 - the client names no type for a server fault
        client.predict(prompt="The battery", model="tiny-gpt2", api_name="/generate")
    err = capfd.readouterr().err
    assert "Traceback" in err and "a fault nobody expected" in err
