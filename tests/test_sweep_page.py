"""The sweep in the browser: a small sweep runs, its plot's points and table rows open their samples."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from autowrite.sweep import Sweep

LINK = {"tab": "compare", "model": "tiny-gpt2", "prompt": "The battery", "max_new_tokens": "6"}


def _set_number(page, elem_id: str, value: str) -> None:
    box = page.locator(f"#{elem_id} input[type=number]").first
    box.fill(value)
    box.press("Tab")  # Gradio takes a number box's value when it loses focus


@pytest.mark.browser
def test_a_small_sweep_plots_its_points_and_a_point_lists_its_samples(app_url, browser, tmp_path):
    url, _ = app_url
    page = browser.new_page(viewport={"width": 1280, "height": 2400})
    page.goto(url + "?" + urlencode(LINK))
    page.wait_for_selector("#sweep-run", state="visible", timeout=60_000)
    _set_number(page, "sweep-low", "0.5")
    _set_number(page, "sweep-high", "1.5")
    _set_number(page, "sweep-points", "3")
    _set_number(page, "sweep-seeds", "2")
    page.click("#sweep-run")
    page.wait_for_function(
        "document.querySelector('#sweep-status')?.innerText.includes('6 samples: 3 points x 2 seeds')", timeout=90_000
    )
    # One strip per point and panel: shares above, fit below.
    assert page.locator("#sweep-plot [id^='sweep-pt-']").count() == 6
    table = page.locator("#sweep-table").inner_text()
    assert "distinct-2" in table and "0.5" in table and "1.5" in table
    assert "temperature = 0.5" in page.locator("#sweep-samples").inner_text()  # the first point's, at the end

    page.locator("#sweep-plot [id='sweep-pt-2-0']").click(force=True)  # transparent: click it where it lies
    page.wait_for_function("document.querySelector('#sweep-samples').innerText.includes('temperature = 1.5')")
    samples = page.locator("#sweep-samples").inner_text()
    assert "2 samples" in samples and "seed" in samples
    page.screenshot(path=tmp_path / "sweep.png", full_page=True)

    page.locator("#sweep-table .virtual-body").get_by_text("1", exact=True).first.click()  # row 2's value cell
    page.wait_for_function("document.querySelector('#sweep-samples').innerText.includes('temperature = 1:')")
    page.close()


@pytest.mark.browser
def test_a_sweep_of_a_setting_whose_switch_is_off_says_so(app_url, browser):
    url, _ = app_url
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(url + "?" + urlencode(LINK))
    page.wait_for_selector("#sweep-run", state="visible", timeout=60_000)
    page.locator("#sweep-setting input").fill("xtc_threshold")
    page.keyboard.press("Enter")
    page.click("#sweep-run")
    page.wait_for_selector("text=acts only while xtc_probability is on", timeout=30_000)
    page.close()


@pytest.mark.browser
def test_a_sweep_link_runs_the_sweep_and_the_share_button_keeps_it(app_url, browser):
    url, _ = app_url
    page = browser.new_page(viewport={"width": 1280, "height": 2400})
    page.goto(url + "?" + urlencode({**LINK, "sweep": "top_k:1:3:3", "sweep_seeds": "2"}))
    page.wait_for_function(
        "document.querySelector('#sweep-status')?.innerText.includes('6 samples: 3 points x 2 seeds of top_k')",
        timeout=90_000,
    )
    page.click("#share")
    page.wait_for_function("document.querySelector('#share-link textarea').value.includes('sweep=top_k')")
    assert "sweep_seeds=2" in page.locator("#share-link textarea").input_value()
    page.close()


def test_the_sweep_endpoint_answers_each_point_as_the_service_writes_it(app_url):
    from gradio_client import Client

    from autowrite import decode
    from autowrite.service import Request, Variant
    from autowrite.settings import preset

    url, service = app_url
    client = Client(url, verbose=False)
    values = dict(prompt="The battery", model="tiny-gpt2", presets=["Creative"], seed=5, max_new_tokens=5)
    points = client.predict(**values, sweep="temperature:0.5:1.5:3", seeds=2, api_name="/sweep")
    assert [p["value"] for p in points] == [0.5, 1.0, 1.5]
    assert [s["seed"] for s in points[0]["samples"]] == [5, 6]
    base = Variant("tiny-gpt2", preset("Creative", service.entry("tiny-gpt2").defaults, 5, 5))
    swept = Sweep.parse("temperature:0.5:1.5:3")
    written = decode.last(service.sweep(Request(model="tiny-gpt2", text="The battery"), base, swept, 2)).texts
    assert [s["text"] for p in points for s in p["samples"]] == written
    low, high = points[0]["bands"]["ended"]
    assert low <= points[0]["figures"]["ended"] <= high
    with pytest.raises(Exception, match="a sweep steps one of"):
        client.predict(**values, sweep="seed:0:9:3", api_name="/sweep")
    with pytest.raises(Exception, match="between 0.05 and 2"):
        client.predict(**values, sweep="temperature:0:9:3", api_name="/sweep")
