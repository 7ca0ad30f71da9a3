"""Hub models offline (#27): the dropdown marks those that need a download, and picking one says what to do, once."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import constants

from autowrite import hub
from autowrite.catalog import Entry
from autowrite.formats import Task
from autowrite.loading import LoadError, hub_folder
from autowrite.service import Service
from autowrite.ui.app import NEEDS_DOWNLOAD, model_choices
from tests.conftest import free_port
from tests.test_catalog_hub import AD_CARD, _cache_repo

README = Path(__file__).resolve().parents[1] / "README.md"


def _offline(patch: pytest.MonkeyPatch, home: Path) -> Path:
    """HF_HUB_OFFLINE with an empty Hugging Face cache under home; the cache folder."""
    patch.setenv("HF_HOME", str(home))
    patch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    patch.setattr(constants, "HF_HUB_OFFLINE", True)
    return home / "hub"


def _service(tiny_gpt2_dir: Path) -> Service:
    return Service(
        [
            Entry(name="tiny-gpt2", source="local", path=str(tiny_gpt2_dir), task=Task.FREE),
            Entry(name="GPT-2", source="hub", repo="gpt2", task=Task.FREE),
            Entry(name="DistilGPT-2", source="hub", repo="distilgpt2", task=Task.FREE),
            Entry(name="Ads", source="hub", repo="nirajsaran/AdTextGeneration", task=Task.AD),
        ],
        read_hub_cards=False,
    )


@pytest.fixture()
def offline(tmp_path, monkeypatch, tiny_gptneo_dir) -> Path:
    """Offline, with only the ads model in the cache."""
    cache = _offline(monkeypatch, tmp_path)
    _cache_repo(cache, "nirajsaran/AdTextGeneration", tiny_gptneo_dir, AD_CARD)
    return cache


def test_uncached_hub_models_are_marked_while_the_hub_is_out_of_reach(offline, tiny_gpt2_dir):
    service = _service(tiny_gpt2_dir)
    names = service.names
    assert model_choices(service, names, hub.Reachability()) == [
        ("tiny-gpt2", "tiny-gpt2"),
        ("GPT-2" + NEEDS_DOWNLOAD, "GPT-2"),
        ("DistilGPT-2" + NEEDS_DOWNLOAD, "DistilGPT-2"),
        ("Ads", "Ads"),  # in the cache: it loads offline
    ]
    assert model_choices(service, names, lambda: True) == [(name, name) for name in names]
    asked = []
    model_choices(service, ["tiny-gpt2", "Ads"], lambda: asked.append(1) or False)
    assert asked == []  # nothing to mark: the Hub is not asked


def test_the_hub_is_asked_at_most_once_a_minute_and_never_offline(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert hub.reachable() is False and hub.Reachability()() is False
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    asked = []
    monkeypatch.setattr(hub, "reachable", lambda: asked.append(1) or True)
    reachability = hub.Reachability()
    assert reachability() and reachability() and asked == [1]


def test_an_uncached_model_says_what_to_do_in_one_short_message(offline):
    with pytest.raises(LoadError) as raised:
        hub_folder("gpt2")
    message = str(raised.value)
    assert message.endswith(hub.download_command("gpt2"))
    assert "connect to the internet" in message and "OfflineModeIsEnabled" not in message and "https://" not in message
    assert hub.download_command("gpt2") == (
        "hf download gpt2 --include '*.json' --include '*.txt' --include '*.safetensors' --include '*.bin' "
        "--include README.md"
    )


def test_the_readme_gives_the_command(offline):
    offline_paragraph = README.read_text(encoding="utf-8").split("Offline:", 1)[1].split("\n\n", 1)[0]
    assert hub.download_command("distilgpt2") in offline_paragraph


@pytest.fixture(scope="module")
def offline_app(tmp_path_factory, tiny_gpt2_dir):
    """The page over a local model and three Hub ones, offline with an empty cache."""
    from autowrite.ui.app import build_demo, launch_options

    with pytest.MonkeyPatch.context() as patch:
        _offline(patch, tmp_path_factory.mktemp("hf-home"))
        demo = build_demo(_service(tiny_gpt2_dir))
        demo.queue(max_size=8)
        port = free_port()
        demo.launch(
            server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options(demo)
        )
        yield f"http://127.0.0.1:{port}/"
        demo.close()


@pytest.mark.browser
def test_the_dropdown_marks_them_and_picking_one_says_so_once(offline_app, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(offline_app + "?tab=generate&prompt=Samsung")
    page.wait_for_function("!!document.querySelector('#generate')?.offsetParent", timeout=20_000)
    page.click("#model input")
    options = page.get_by_role("option")
    options.first.wait_for()
    assert options.evaluate_all("els => els.map(e => e.getAttribute('aria-label'))") == [
        "tiny-gpt2",
        "GPT-2" + NEEDS_DOWNLOAD,
        "DistilGPT-2" + NEEDS_DOWNLOAD,
        "Ads" + NEEDS_DOWNLOAD,  # not cached here either
    ]
    page.screenshot(path=str(tmp_path / "offline-dropdown.png"))
    page.get_by_role("option", name="GPT-2" + NEEDS_DOWNLOAD, exact=True).click()
    page.wait_for_function(
        "document.querySelector('#model-info').innerText.includes('hf download gpt2')", timeout=30_000
    )
    assert page.evaluate("document.body.innerText.split('hf download gpt2').length - 1") == 1
    assert "OfflineModeIsEnabled" not in page.locator("body").inner_text()
    assert page.locator("[data-testid=toast-body]").count() == 0
    page.screenshot(path=str(tmp_path / "offline-picked.png"))
    page.click("#generate")  # the generate tab points at the reason rather than repeating it
    page.wait_for_function("document.querySelector('#gen-warnings').innerText.includes('cannot be loaded')")
    assert page.evaluate("document.body.innerText.split('hf download gpt2').length - 1") == 1
    assert page.locator("[data-testid=toast-body]").count() == 0
    assert page.locator("#sample-0 .error").count() == 0
    page.click("#share")  # the dropdown's value is the model's name, as links and the API know it
    page.wait_for_function("document.querySelector('#share-link textarea').value.includes('model=')")
    assert "model=GPT-2&" in page.locator("#share-link textarea").input_value()
    page.close()


def test_building_the_page_asks_the_hub_nothing(monkeypatch):
    """The labels a page is built with come from the last answer (none yet: reachable), never a request."""
    from autowrite import hub

    asked = []
    monkeypatch.setattr(hub, "reachable", lambda *a, **k: asked.append(1) or False)
    monkeypatch.setattr(hub.constants, "is_offline_mode", lambda: False)
    probe = hub.Reachability()
    assert probe.last() is True and asked == []
    assert probe() is False and asked == [1]
    assert probe.last() is False and asked == [1]
    monkeypatch.setattr(hub.constants, "is_offline_mode", lambda: True)
    assert probe.last() is False
