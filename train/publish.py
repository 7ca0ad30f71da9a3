"""Publish a checkpoint folder to the Hugging Face Hub, as the app's dropdown loads it.

python -m train.publish --folder checkpoints/autowrite-reviews-smollm2-135m-lora --repo you/autowrite-reviews --dry-run
HF_TOKEN=... python -m train.publish --folder checkpoints/autowrite-reviews-smollm2-135m-lora --repo you/autowrite-reviews
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from dataclasses import dataclass
from pathlib import Path

# What a checkpoint folder may hold that the Hub should get: weights as safetensors only,
# configs, tokenizer files, the card and its figures, the recipe and eval results.
ALLOWED = ["*.safetensors", "*.json", "*.json.gz", "*.yaml", "*.md", "*.png", "*.txt", "*.jinja", "*.model"]
# Never uploaded even if present: pickles and trainer state that a user should not load.
REFUSED = ["*.bin", "*.pt", "*.pth", "*.pkl", "*.ckpt", "optimizer*", "scheduler*", "rng_state*", "trainer_state.json"]


class PublishError(ValueError):
    """The folder is not a publishable checkpoint."""


@dataclass
class PublishConfig:
    """Which folder goes to which Hub repo."""

    folder: str
    repo: str
    private: bool = False
    dry_run: bool = False
    message: str = "Upload Autowrite checkpoint"

    def __post_init__(self) -> None:
        if self.repo.count("/") != 1 or not all(self.repo.split("/")):
            raise PublishError(f"repo must look like owner/name, got {self.repo!r}")


def publishable_files(folder: Path) -> list[Path]:
    """The files that would be uploaded, relative to the folder, sorted."""
    if not folder.is_dir():
        raise PublishError(f"{folder}: no such folder")
    names = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    chosen = [
        p
        for p in names
        if any(fnmatch.fnmatch(p.name, pattern) for pattern in ALLOWED)
        and not any(fnmatch.fnmatch(p.name, pattern) for pattern in REFUSED)
    ]
    has_weights = any(
        p.name in {"adapter_model.safetensors", "model.safetensors"} or p.name.startswith("model-") for p in chosen
    )
    if not has_weights:
        raise PublishError(f"{folder}: no adapter_model.safetensors or model.safetensors; train first")
    if Path("README.md") not in chosen:
        raise PublishError(f"{folder}: no README.md model card; the app reads its defaults from it")
    return chosen


def main(config: PublishConfig) -> list[Path]:
    """Create the repo if needed and upload the folder; with dry_run, only list the files."""
    folder = Path(config.folder)
    files = publishable_files(folder)
    for path in files:
        print(f"{(folder / path).stat().st_size:>12,}  {path}")
    if config.dry_run:
        print(f"dry run: {len(files)} files would go to https://huggingface.co/{config.repo}")
        return files
    from huggingface_hub import create_repo, upload_folder

    url = create_repo(config.repo, repo_type="model", private=config.private, exist_ok=True)
    upload_folder(
        repo_id=config.repo,
        folder_path=str(folder),
        allow_patterns=[str(p) for p in files],
        commit_message=config.message,
    )
    print(f"uploaded {len(files)} files to {url}")
    return files


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m train.publish", description=__doc__.split("\n")[0])
    parser.add_argument("--folder", required=True, help="checkpoint folder (adapter or full model, with README.md)")
    parser.add_argument("--repo", required=True, help="Hub repo id, owner/name")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--dry-run", action="store_true", help="list the files and stop")
    parser.add_argument("--message", default="Upload Autowrite checkpoint")
    try:
        main(PublishConfig(**vars(parser.parse_args(sys.argv[1:]))))
    except PublishError as error:
        sys.exit(f"error: {error}")
