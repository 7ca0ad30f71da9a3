"""The Space folder: everything the app needs, models listed from the catalog."""

from __future__ import annotations

from pathlib import Path

import yaml

from autowrite.catalog import load_catalog
from space.build import main, parse_args


def test_build_space_folder(tmp_path):
    out = main(parse_args(["--out", str(tmp_path / "space")]))
    assert (out / "app.py").read_text() == Path("app.py").read_text()
    assert (out / "autowrite" / "decode.py").exists()
    assert (out / "checkpoints" / "catalog.yaml").exists()
    meta = yaml.safe_load((out / "README.md").read_text().split("---")[1])
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    hub_repos = {e.repo for e in load_catalog() if e.source == "hub"}
    assert hub_repos <= set(meta["models"]) and "HuggingFaceTB/SmolLM2-135M-Instruct" in meta["models"]
    requirements = (out / "requirements.txt").read_text()
    assert "gradio" in requirements and "pytest" not in requirements and "playwright" not in requirements
