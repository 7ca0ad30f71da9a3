"""Accessibility: axe-core finds no critical or serious violation on any tab of the page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

# .ci/run installs axe-core from npm into this folder (its version is pinned there).
AXE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "autowrite-tests"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
# Each tab, and a control that shows once the tab has rendered.
TABS = {"Live completion": "#live-text", "Generate": "#generate", "Compare": "#rep-run", "Fine-tune": "#chg-run"}
# Why these two: axe's impacts say how much a violation blocks someone; moderate and minor
# ones (a heading level skipped, Gradio's footer icon named twice) do not keep anyone out.
BLOCKING = {"critical", "serious"}
# The violations only: passes and "needs review" would make each run several times slower.
RUN_AXE = "() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)"


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core's script; on CI a missing one fails, since a skipped check would pass unseen."""
    if not AXE_JS.exists():
        message = f"axe-core is not installed in {AXE_DIR}: bash .ci/run installs it (npm)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return AXE_JS.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def page(app_url, browser):
    """The page at desktop width, on the review model, so that the review fields show too."""
    url, _service = app_url
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(url + "?model=tiny-gptneo")
    page.wait_for_selector("#review-fields", state="visible")
    yield page
    page.close()


def blocking_violations(page, axe_source: str) -> list[str]:
    """Each critical or serious violation on the page as it is: its rule, impact and targets."""
    page.evaluate(axe_source)
    return [
        f"{v['id']} ({v['impact']}, {len(v['nodes'])}): {[node['target'] for node in v['nodes']]}"
        for v in page.evaluate(RUN_AXE)
        if v["impact"] in BLOCKING
    ]


@pytest.mark.parametrize("tab", TABS)
def test_no_serious_violations_on_each_tab(page, axe_source, tab):
    page.get_by_role("tab", name=tab).click()
    page.wait_for_selector(TABS[tab], state="visible")
    violations = blocking_violations(page, axe_source)
    assert not violations, "\n".join(violations)


def test_no_serious_violations_in_the_help(page, axe_source):
    page.get_by_role("tab", name="Generate").click()
    page.locator("#help").get_by_text("What do these mean?").click()
    page.locator("#help").get_by_text("No repeated n-grams").first.wait_for()
    violations = blocking_violations(page, axe_source)
    assert not violations, "\n".join(violations)
