"""The Space folder: everything the app needs and nothing else, models listed from the catalog; it starts."""

from __future__ import annotations

import re
import urllib.request
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from autowrite.catalog import load_catalog
from space.build import CPU_TORCH_INDEX, PROVIDED_BY, ROOT, app_imports, distribution_key, main, parse_args
from tests.conftest import free_port

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@pytest.fixture(scope="module")
def space(tmp_path_factory) -> Path:
    """The assembled Space folder."""
    return main(parse_args(["--out", str(tmp_path_factory.mktemp("space") / "space")]))


def requirement_lines(folder: Path) -> list[str]:
    """The requirement lines of folder/requirements.txt, without options and comments."""
    lines = (folder / "requirements.txt").read_text().splitlines()
    return [line for line in lines if _NAME.match(line)]


def test_build_space_folder(space):
    assert (space / "app.py").read_text() == (ROOT / "app.py").read_text()
    assert (space / "autowrite" / "decode.py").exists()
    assert (space / "checkpoints" / "catalog.yaml").exists()
    meta = yaml.safe_load((space / "README.md").read_text().split("---")[1])
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    hub_repos = {e.repo for e in load_catalog() if e.source == "hub"}
    assert hub_repos <= set(meta["models"]) and "HuggingFaceTB/SmolLM2-135M-Instruct" in meta["models"]


def test_space_requires_exactly_what_the_app_imports(space):
    required = {distribution_key(_NAME.match(line)[0]) for line in requirement_lines(space)}
    imports = app_imports(space)
    assert imports <= PROVIDED_BY.keys()
    assert required == {distribution_key(PROVIDED_BY[module]) for module in imports}
    # The same bounds as requirements.txt, extras dropped.
    bounds = {re.sub(r"\[[^\]]*\]", "", line) for line in (ROOT / "requirements.txt").read_text().splitlines()}
    assert set(requirement_lines(space)) <= bounds


def test_space_takes_torch_for_the_cpu_and_no_dev_tools(space):
    text = (space / "requirements.txt").read_text()
    assert text.splitlines()[0] == CPU_TORCH_INDEX == "--extra-index-url https://download.pytorch.org/whl/cpu"
    assert "torch==2.13.0" in requirement_lines(space)
    assert "llama-cpp-python==0.3.36" in requirement_lines(space)
    for absent in ("hypothesis", "trl", "pytest", "playwright", "ruff", "[server]"):
        assert absent not in text


def test_each_import_comes_with_its_distribution():
    """PROVIDED_BY agrees with the installed packages: the distribution ships the module or requires the one that does."""
    shipping = metadata.packages_distributions()
    for module in app_imports():
        if module not in shipping:
            continue  # not installed here (llama_cpp on a machine without a compiler)
        distribution = PROVIDED_BY[module]
        owners = {distribution_key(name) for name in shipping[module]}
        requires = metadata.requires(distribution) or []
        required = {distribution_key(_NAME.match(r)[0]) for r in requires if "extra ==" not in r}
        assert distribution_key(distribution) in owners or owners & required, (module, distribution)


@pytest.mark.slow
def test_the_space_folder_starts_offline(space):
    from benchmarks.server import start_app

    port = free_port()
    app = start_app(
        port, cwd=space
    )  # python app.py in the Space folder, offline (HF_HUB_OFFLINE=1), loopback, the default model preloaded
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as page:
            assert page.status == 200
    finally:
        app.kill()
        app.wait(timeout=30)
