"""The report card in the browser: a link runs it and fills the columns, a row shows its samples, Stop keeps what finished."""

from __future__ import annotations

import re
import threading
import time
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
BOX = "document.querySelector('#cmp-out-{} textarea')?.value"
# Gradio's progress on the status line is hidden: the report's event is no longer running.
STATUS_IDLE = "!document.querySelector('#rep-status [data-testid=status-tracker]:not(.hide)')"


def _ending(service, monkeypatch) -> threading.Event:
    """An event set when a job leaves the service's admission (its stream closed) and none is left."""
    ended = threading.Event()
    leave = service.admission.leave

    def left(caller: str = "") -> None:
        leave(caller)
        if service.admission.jobs() == 0:
            ended.set()

    monkeypatch.setattr(service.admission, "leave", left)
    return ended


@pytest.mark.browser
def test_a_report_link_runs_the_report_and_a_row_shows_its_samples(app_url, browser, tmp_path):
    url, _ = app_url
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(url + "?" + urlencode(LINK))
    page.wait_for_function("document.querySelector('#rep-table')?.innerText.includes('tiny-gptneo')", timeout=60_000)
    page.wait_for_function("document.querySelector('#rep-status').innerText.includes('6 samples')")
    table = page.locator("#rep-table").inner_text()
    assert "Greedy" in table and "Creative" in table
    assert "as asked" not in table and "in limit" not in table  # free text: neither the reviews' nor the ads' figure
    assert "repeats" in page.locator("#rep-legend").inner_text()
    # The first column's samples come with the finished report (the table shows before, while it runs).
    page.wait_for_function("document.querySelector('#rep-samples').innerText.includes('Column 1')", timeout=30_000)
    reported = [page.evaluate(BOX.format(i)) for i in range(2)]
    assert all(reported)  # each column's box holds its first seed's text, as Compare writes it
    assert "Preset (column 1)" in page.locator("#cmp-preset-0").inner_text()
    page.locator("#rep-table .virtual-body").get_by_text("Creative", exact=True).click()  # row 2's preset cell
    page.wait_for_function("document.querySelector('#rep-samples').innerText.includes('Column 2')", timeout=10_000)
    samples = page.locator("#rep-samples").inner_text()
    assert "tiny-gptneo" in samples and "seed 5" in samples  # three seeds from tiny-gpt2's card seed, 3
    page.screenshot(path=tmp_path / "report.png", full_page=True)

    page.click("#compare")  # the same columns, one sample each: the second on its own model, the same texts
    page.wait_for_function("document.querySelector('#cmp-dist-1 table')", timeout=30_000)
    page.wait_for_function(f"{BOX.format(1)} === {reported[1]!r} && {BOX.format(0)} === {reported[0]!r}")
    page.click("#share")
    page.wait_for_function("document.querySelector('#share-link textarea').value.includes('c2_model=tiny-gptneo')")
    assert "report=3" in page.locator("#share-link textarea").input_value()

    assert not page.locator("#rep-headline-chars").is_visible()  # the ad length limit is for ads only
    page.locator("#task").get_by_text("Ad", exact=True).click()
    page.wait_for_selector("#rep-headline-chars", state="visible")
    page.close()


@pytest.mark.browser
def test_a_stopped_report_shows_what_finished_and_says_so(app_url, browser, monkeypatch, tmp_path):
    from autowrite.backends.transformers import TransformersBackend

    original = TransformersBackend.logits_many

    def slow(self, sequences):
        time.sleep(0.05)  # steps slow enough for Stop to land part-way
        return original(self, sequences)

    monkeypatch.setattr(TransformersBackend, "logits_many", slow)
    url, service = app_url
    ended = _ending(service, monkeypatch)
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.goto(url + "?" + urlencode({**LINK, "max_new_tokens": "60", "report": "8"}))
    running = "/Running: ([1-9][0-9]*) of 16/.exec(document.querySelector('#rep-status')?.innerText || '')"
    page.wait_for_function(f"({running} || [0, 0])[1] >= 4", timeout=60_000)
    ended.clear()  # the report runs: the next time no job is left, its stream has closed
    page.click("#rep-stop")
    page.wait_for_function("document.querySelector('#rep-status').innerText.includes('Stopped after')")
    # The report's stream is closed on the server, and its event is over on the page: nothing
    # it yielded can still arrive.
    assert ended.wait(timeout=60)  # a safety net: Stop closes the stream at its next step
    page.wait_for_function(STATUS_IDLE)
    done = int(re.search(r"Stopped after (\d+) of 16 samples", page.locator("#rep-status").inner_text())[1])
    assert 4 <= done < 16
    table = page.locator("#rep-table").inner_text()
    assert re.search(r"\d of 8", table)  # a column part-way: its figures over the seeds that finished
    assert re.search(r"-?\d\.\d\d", table)  # and figures, not only dashes
    assert "Error" not in page.locator("body").inner_text(), page.locator("body").inner_text()[-1500:]
    page.screenshot(path=tmp_path / "report-stopped.png", full_page=True)
    page.close()
