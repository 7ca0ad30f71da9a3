"""Screenshots of the arena for the docs: a pair before its vote, the names after it, and the leaderboard.

Called by benchmarks/arena_judge.py --screenshots DIR once the judge has voted, so the
leaderboard on the page rests on its votes. Debian's Chromium through Playwright.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

CHROMIUM = "/usr/bin/chromium"
# The arena's parts, top to bottom: what each screenshot spans.
PAIR = ("#arena-intro", "#arena-status")
BOARD = ("#arena-board-title", "#arena-csv")


def capture(url: str, model: str, folder: Path) -> list[Path]:
    """arena.png (a pair, names hidden), arena-voted.png (after pressing A) and leaderboard.png in folder."""
    from playwright.sync_api import sync_playwright

    folder.mkdir(parents=True, exist_ok=True)
    shots = [folder / "arena.png", folder / "arena-voted.png", folder / "leaderboard.png"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 1800})
        page.goto(f"{url}/?{urlencode({'tab': 'arena', 'arena_model': model})}")
        page.wait_for_function("document.querySelector('#arena-board')?.innerText.includes('·')", timeout=120_000)
        page.keyboard.press("n")
        page.wait_for_function("!document.querySelector('#arena-vote-a').disabled", timeout=300_000)
        _spanning(page, PAIR, shots[0])
        page.keyboard.press("a")
        page.wait_for_function("document.querySelector('#arena-name-a').innerText.includes('Written by')")
        _spanning(page, PAIR, shots[1])
        _spanning(page, BOARD, shots[2])
        browser.close()
    return shots


def _spanning(page, ends: tuple[str, str], path: Path) -> None:
    """A screenshot of the page from the top of one element to the bottom of another, full width."""
    top, bottom = (page.locator(selector).bounding_box() for selector in ends)
    page.screenshot(path=str(path), full_page=True, clip={
        "x": 0, "y": max(0, top["y"] - 16), "width": page.viewport_size["width"],
        "height": bottom["y"] + bottom["height"] + 16 - max(0, top["y"] - 16),
    })  # fmt: skip
