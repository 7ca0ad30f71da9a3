"""The fine-tune tab in the browser: a text scored under both models, from a link and from a generation."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

import pytest

from tests.conftest import free_port, make_tiny_service
from tests.test_changes import TEXT, tiny_adapter_dir  # noqa: F401 - the adapter fixture


@pytest.fixture(scope="module")
def tuned_app(tiny_gpt2_dir, tiny_gptneo_dir, tiny_adapter_dir):  # noqa: F811 - the fixture imported above
    from autowrite.ui.app import build_demo, launch_options

    service = make_tiny_service(tiny_gpt2_dir, tiny_gptneo_dir)
    base = service.entries["tiny-gpt2"]
    tuned = replace(base, name="tiny-gpt2-tuned", adapter=str(tiny_adapter_dir), prompt_format="autowrite")
    service.entries = {tuned.name: tuned, **service.entries}
    service.default_name = tuned.name
    demo = build_demo(service)
    demo.queue(max_size=8)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options(demo))
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.mark.browser
def test_a_link_scores_its_text_and_the_share_button_links_it_back(tuned_app, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    query = {"tab": "changes", "model": "tiny-gpt2-tuned", "mode": "review", "rating": "1", "prompt": TEXT}
    page.goto(tuned_app + "?" + urlencode(query))
    page.wait_for_function("document.querySelectorAll('#chg-out .aw-tok').length > 0", timeout=30_000)
    out = page.locator("#chg-out")
    assert "Perplexity of this text" in out.inner_text() and "under tiny-gpt2," in out.inner_text()
    assert (
        "".join(page.eval_on_selector_all("#chg-out .aw-tok", "els => els.map(e => e.firstChild.textContent)")) == TEXT
    )
    first = page.locator("#chg-out .aw-tok").nth(0)
    first.hover()
    assert "fine-tuned" in first.locator(".aw-alts").inner_text()
    assert "Made likelier" in out.inner_text() and "Made less likely" in out.inner_text()
    page.screenshot(path=tmp_path / "changes.png")
    page.click("#share")
    page.wait_for_function("document.querySelector('#share-link textarea').value.includes('tab=changes')")
    link = page.locator("#share-link textarea").input_value()
    assert "rating=1" in link and "prompt=" in link
    page.close()


@pytest.mark.browser
def test_the_generated_text_can_be_scored(tuned_app, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.goto(tuned_app + "?" + urlencode({"tab": "generate", "prompt": "The battery", "max_new_tokens": "6"}))
    page.click("#generate")
    page.wait_for_function("document.querySelector('#sample-0 textarea')?.value.length > 0", timeout=30_000)
    page.get_by_role("tab", name="Fine-tune").click()
    page.click("#chg-from-gen")
    page.wait_for_function("document.querySelector('#chg-text textarea')?.value.length > 0")
    assert page.locator("#chg-text textarea").input_value() == page.locator("#sample-0 textarea").input_value()
    page.click("#chg-run")
    page.wait_for_function("document.querySelectorAll('#chg-out .aw-tok').length > 0", timeout=30_000)
    page.get_by_role("tab", name="Live completion").click()
    page.goto(tuned_app + "?" + urlencode({"tab": "changes", "model": "tiny-gpt2", "prompt": TEXT}))
    page.wait_for_function("document.body.innerText.includes('has no adapter')", timeout=30_000)
    page.close()
