"""The catalog, model-card metadata, and the Hub paths with no network: cache hits and clear misses."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from huggingface_hub import constants
from huggingface_hub.utils import filter_repo_objects

from autowrite import hub
from autowrite.cards import apply_card, read_card_metadata, read_hub_card
from autowrite.catalog import CatalogError, Entry, load_catalog
from autowrite.formats import Task
from autowrite.loading import LoadError, hub_folder, load_entry
from autowrite.service import Service, UserError

AD_CARD = """---
license: mit
tags: [text-generation, ads]
widget:
- text: "Sony TV"
- text: "Apple Watch"
- text: "Last minute shopping for Samsung headphones for"
- text: "Labor Day discounts for"
inference:
  parameters:
    temperature: 0.7
    top_k: 5
    top_p: 0.9
    max_length: 200
---
# AdTextGeneration
"""


def test_shipped_catalog_is_valid():
    entries = load_catalog()
    names = [e.name for e in entries]
    repos = {e.repo for e in entries if e.source == "hub"}
    assert {
        "nirajsaran/AdTextGenerator",
        "nirajsaran/AdTextGeneration",
        "defex/distilgpt2-finetuned-amazon-reviews",
        "distilgpt2",
        "gpt2",
    } <= repos
    assert len(names) == len(set(names))
    assert entries[0].source == "embedded" or entries[0].adapter


def test_catalog_errors_are_clear(tmp_path):
    bad = tmp_path / "catalog.yaml"
    bad.write_text("models:\n  - name: x\n    source: ftp\n")
    with pytest.raises(CatalogError, match="source must be one of"):
        load_catalog(bad)
    bad.write_text("models:\n  - name: x\n    source: hub\n    repo: a/b\n    defaults: {temperature: 9}\n")
    with pytest.raises(CatalogError, match="temperature must be between"):
        load_catalog(bad)
    bad.write_text("models: []\n")
    with pytest.raises(CatalogError, match="at least one"):
        load_catalog(bad)


def test_a_catalogs_folders_are_relative_to_the_catalog(tmp_path, tiny_gpt2_dir):
    """--catalog elsewhere names its own folders: a local path and its card resolve beside the catalog."""
    shutil.copytree(tiny_gpt2_dir, tmp_path / "mine")
    (tmp_path / "mine" / "README.md").write_text("---\ninference:\n  parameters:\n    temperature: 0.3\n---\n")
    (tmp_path / "catalog.yaml").write_text("models:\n  - name: mine\n    source: local\n    path: mine\n")
    (entry,) = load_catalog(tmp_path / "catalog.yaml")
    assert entry.resolve(entry.path) == (tmp_path / "mine").resolve()
    service = Service([entry], read_hub_cards=False)
    assert service.entry("mine").defaults.temperature == 0.3  # its card, read beside the catalog
    assert service.load("mine").entry.name == "mine"


def test_card_metadata_like_the_hub_widget():
    import yaml

    meta = yaml.safe_load(AD_CARD.split("---")[1])
    card = read_card_metadata(meta)
    assert card.defaults == {"temperature": 0.7, "top_k": 5, "top_p": 0.9, "max_new_tokens": 200, "do_sample": True}
    assert card.examples == (
        "Sony TV",
        "Apple Watch",
        "Last minute shopping for Samsung headphones for",
        "Labor Day discounts for",
    )
    entry, notices = apply_card(Entry(name="ads", source="hub", repo="a/b", task=Task.AD), card)
    assert (entry.defaults.temperature, entry.defaults.top_k, entry.defaults.top_p) == (0.7, 5, 0.9)
    assert entry.examples[0] == "Sony TV" and notices == []


def test_card_values_out_of_bounds_are_reported():
    card = read_card_metadata({"inference": {"parameters": {"temperature": 5, "top_k": 3}}, "widget": "nonsense"})
    entry, notices = apply_card(Entry(name="x", source="hub", repo="a/b", task=Task.FREE), card)
    assert entry.defaults.top_k == 3 and "temperature" in notices[0]


def _cache_repo(cache: Path, repo: str, model_dir: Path, card: str | None) -> Path:
    """Lay a model out exactly as huggingface_hub's cache does (refs, snapshots)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = cache / f"models--{repo.replace('/', '--')}"
    snapshot = root / "snapshots" / commit
    shutil.copytree(model_dir, snapshot)
    if card:
        (snapshot / "README.md").write_text(card)
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    return snapshot


@pytest.fixture()
def hf_cache(tmp_path, monkeypatch, tiny_gptneo_dir):
    cache = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    _cache_repo(cache, "nirajsaran/AdTextGeneration", tiny_gptneo_dir, AD_CARD)
    return cache


def test_cached_hub_model_loads_offline(hf_cache):
    entry = Entry(name="ads", source="hub", repo="nirajsaran/AdTextGeneration", task=Task.AD)
    folder = hub_folder(entry.repo)
    assert folder.parent.parent == hf_cache / "models--nirajsaran--AdTextGeneration"
    loaded = load_entry(entry)
    assert loaded.backend.encode("Sony TV")
    card, origin = read_hub_card(entry.repo)
    assert origin == "cached model card" and card.defaults["top_k"] == 5
    assert hub.is_cached(entry.repo) and not hub.is_cached("gpt2")


def test_uncached_hub_model_says_so_and_the_others_keep_working(hf_cache, tiny_gpt2_dir):
    with pytest.raises(
        LoadError, match="not in the local Hugging Face cache, or only in part, and the Hub cannot be reached"
    ):
        hub_folder("gpt2")
    service = Service(
        [
            Entry(name="local", source="local", path=str(tiny_gpt2_dir), task=Task.FREE),
            Entry(name="GPT-2", source="hub", repo="gpt2", task=Task.FREE),
            Entry(name="ads", source="hub", repo="nirajsaran/AdTextGeneration", task=Task.AD),
        ]
    )
    with pytest.raises(UserError, match="not in the local Hugging Face cache"):
        service.load("GPT-2")
    assert "model card not reachable" in service.notes("GPT-2")[0]
    # The cached entry takes its card's defaults even offline; the local one still generates.
    assert service.entry("ads").defaults.top_k == 5
    assert service.entry("ads").examples[0] == "Sony TV"
    settings = service.settings("local", max_new_tokens=5, do_sample=False)
    from autowrite.service import Request

    assert service.generate(Request(model="local", text="Hello"), settings).texts[0]


def test_unreachable_hub_falls_back_to_the_cache(hf_cache, monkeypatch):
    # Not offline mode but a Hub that refuses connections (a closed loopback port).
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", "http://127.0.0.1:9/{repo_id}/resolve/{revision}/{filename}"
    )
    with pytest.raises(hub.HubUnreachable):
        hub.allow_patterns("nirajsaran/AdTextGeneration")
    assert hub_folder("nirajsaran/AdTextGeneration").name == "0123456789abcdef0123456789abcdef01234567"
    # huggingface_hub itself serves the cached card when the Hub refuses the connection.
    card, _ = read_hub_card("nirajsaran/AdTextGeneration")
    assert card.examples[1] == "Apple Watch"
    with pytest.raises(LoadError, match="not in the local Hugging Face cache"):
        hub_folder("distilgpt2")


# A repo as model_info describes it: the weights twice (safetensors and a .bin), large tokenizer
# files (a SentencePiece model, and a tokenizer.model.v3 as Mistral's repos carry), and a large
# export the app never loads.
BIG_REPO_FILES = {
    "config.json": 700,
    "generation_config.json": 120,
    "model.safetensors": 400_000_000,
    "pytorch_model.bin": 400_000_000,
    "tokenizer.json": 2_000_000,
    "tokenizer_config.json": 900,
    "tokenizer.model": 4_000_000_000,
    "tokenizer.model.v3": 8_000_000_000,
    "README.md": 5_000,
    "onnx/model.onnx": 9_000_000_000,
    "onnx/config.json": 700,
    ".gitattributes": 1_500,
}


def _fake_model_info(monkeypatch, files: dict[str, int]) -> None:
    """HfApi.model_info answering with these file names and sizes, for any repo."""
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoSibling

    siblings = [RepoSibling(rfilename=name, size=size) for name, size in files.items()]
    monkeypatch.setattr(HfApi, "model_info", lambda self, repo, **_: SimpleNamespace(id=repo, siblings=siblings))


def test_download_size_counts_exactly_the_files_the_download_fetches(monkeypatch):
    _fake_model_info(monkeypatch, BIG_REPO_FILES)
    # What snapshot_download fetches: its own matcher over the patterns hub_folder gives it, and by hand.
    patterns = hub.allow_patterns("someone/big")
    by_hand = set(BIG_REPO_FILES) - {"pytorch_model.bin", "onnx/model.onnx", ".gitattributes"}
    # "*.json" matches in sub-folders too, as snapshot_download's matcher does: onnx/config.json is fetched.
    assert set(filter_repo_objects(BIG_REPO_FILES, allow_patterns=patterns)) == by_hand
    assert hub.download_size("someone/big") == sum(BIG_REPO_FILES[name] for name in by_hand) == 12_402_007_420
    service = Service([Entry(name="x", source="hub", repo="a/b", task=Task.FREE)], allow_custom=True)
    with pytest.raises(UserError, match=r"^someone/big is 12\.4 GB; this app downloads at most 1\.0 GB\.$"):
        service.entry("someone/big")


def test_a_repo_without_safetensors_is_fetched_and_counted_with_its_bin_weights(monkeypatch):
    files = {name: size for name, size in BIG_REPO_FILES.items() if name != "model.safetensors"}
    _fake_model_info(monkeypatch, files)
    fetched = set(filter_repo_objects(files, allow_patterns=hub.allow_patterns("someone/old")))
    assert fetched == set(files) - {"onnx/model.onnx", ".gitattributes"}
    assert hub.download_size("someone/old") == sum(files[name] for name in fetched)
