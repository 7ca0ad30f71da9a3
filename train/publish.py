"""Publish a checkpoint folder to the Hugging Face Hub, as the app's dropdown loads it.

python -m train.publish --folder checkpoints/autowrite-reviews-smollm2-135m-lora --repo you/autowrite-reviews --dry-run
HF_TOKEN=... python -m train.publish --folder checkpoints/autowrite-reviews-smollm2-135m-lora --repo you/autowrite-reviews
"""

from __future__ import annotations

import fnmatch
import sys
from pathlib import Path

from train.cli import ConfigParser
from train.recipe import PublishConfig, PublishError

# What a checkpoint folder may hold that the Hub should get: weights as safetensors only,
# configs, tokenizer files, the card and its figures, the recipe and eval results.
ALLOWED = ["*.safetensors", "*.json", "*.json.gz", "*.yaml", "*.md", "*.png", "*.txt", "*.jinja", "*.model"]
# Never uploaded even if present: pickles and trainer state that a user should not load.
REFUSED = ["*.bin", "*.pt", "*.pth", "*.pkl", "*.ckpt", "optimizer*", "scheduler*", "rng_state*", "trainer_state.json"]


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


def build_parser() -> ConfigParser:
    """The command line: every PublishConfig field."""
    return ConfigParser(PublishConfig, prog="python -m train.publish", description=__doc__.split("\n")[0])


if __name__ == "__main__":
    try:
        main(*build_parser().parse(sys.argv[1:]))
    except PublishError as error:
        sys.exit(f"error: {error}")
