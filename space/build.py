"""Assemble a deployable Space folder: python -m space.build --out space/build

The folder holds the app, the library, the catalog with this project's adapters, the
runtime requirements (no test tools) and the Space README, whose `models:` list is
rewritten from the catalog so the Hub links the Space to every model it can load.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import yaml

from autowrite.catalog import CHECKPOINTS_DIR, load_catalog

ROOT = Path(__file__).resolve().parent.parent
SPACE_DIR = Path(__file__).resolve().parent
EMBEDDED_BASE = "HuggingFaceTB/SmolLM2-135M-Instruct"
DEV_ONLY = ("pytest", "playwright", "ruff")


def space_models(catalog: Path) -> list[str]:
    """Hub repo ids the Space uses: catalog Hub entries and the embedded base."""
    models = [EMBEDDED_BASE]
    for entry in load_catalog(catalog):
        if entry.source == "hub" and entry.repo not in models:
            models.append(entry.repo)
    return models


def front_matter(readme: str, models: list[str]) -> str:
    """The Space README with its `models:` metadata replaced."""
    _, meta, body = readme.split("---", 2)
    data = yaml.safe_load(meta)
    data["models"] = models
    return "---\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True) + "---" + body


def runtime_requirements(text: str) -> str:
    """requirements.txt without the test and lint tools."""
    keep = [line for line in text.splitlines() if not line.strip().startswith(DEV_ONLY) and "Development" not in line]
    return "\n".join(keep).rstrip() + "\n"


def main(args: argparse.Namespace) -> Path:
    """Write the Space folder and return its path."""
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy2(ROOT / "app.py", out / "app.py")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "runs", "*.partial-*")
    shutil.copytree(ROOT / "autowrite", out / "autowrite", ignore=ignore)
    shutil.copytree(CHECKPOINTS_DIR, out / "checkpoints", ignore=ignore)
    (out / "requirements.txt").write_text(runtime_requirements((ROOT / "requirements.txt").read_text()))
    readme = (SPACE_DIR / "README.md").read_text(encoding="utf-8")
    (out / "README.md").write_text(
        front_matter(readme, space_models(CHECKPOINTS_DIR / "catalog.yaml")), encoding="utf-8"
    )
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Flags: --out folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SPACE_DIR / "build")
    return parser.parse_args(argv)


if __name__ == "__main__":
    print(main(parse_args()))
