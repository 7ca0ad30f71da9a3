"""Publishing: the dry run lists exactly the files the Hub would get, and refuses unpublishable folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from train.publish import main, publishable_files
from train.recipe import PublishConfig, PublishError


def _folder(tmp_path: Path, names: list[str]) -> Path:
    for name in names:
        (tmp_path / name).write_bytes(b"x" * 10)
    return tmp_path


def test_dry_run_lists_hub_files_and_skips_trainer_state(tmp_path, capsys):
    folder = _folder(
        tmp_path,
        [
            "adapter_model.safetensors",
            "adapter_config.json",
            "README.md",
            "loss_curve.png",
            "training_config.yaml",
            "optimizer.pt",
            "rng_state.pth",
            "notes.bin",
            "trainer_state.json",
        ],
    )
    files = main(PublishConfig(folder=str(folder), repo="someone/autowrite-reviews", dry_run=True))
    assert [str(p) for p in files] == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
        "loss_curve.png",
        "training_config.yaml",
    ]
    out = capsys.readouterr().out
    assert "dry run: 5 files would go to https://huggingface.co/someone/autowrite-reviews" in out


def test_trained_folder_is_publishable(trained_llama):
    _, result = trained_llama
    names = {str(p) for p in publishable_files(result.output_dir)}
    assert {"README.md", "adapter_model.safetensors", "adapter_config.json", "eval_results.json"} <= names


def test_unpublishable_folders_are_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(PublishError, match="no adapter_model.safetensors"):
        publishable_files(_folder(tmp_path / "a", ["README.md"]))
    with pytest.raises(PublishError, match="no README.md"):
        publishable_files(_folder(tmp_path / "b", ["model.safetensors"]))
    with pytest.raises(PublishError, match="owner/name"):
        PublishConfig(folder=str(tmp_path), repo="no-owner")
