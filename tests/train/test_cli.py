"""Command lines built from config fields: flags, types, help, recipes and overrides, and the documented commands."""

from __future__ import annotations

import dataclasses
import importlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from train import recipe as recipes
from train.cli import ConfigParser
from train.recipe import FinetuneConfig, RecipeError, option

REPO = Path(__file__).parents[2]
SCRIPTS = ("prepare", "finetune", "evaluate", "probe", "pilot", "publish", "card")


def _configs() -> list[type]:
    return [
        kind
        for kind in vars(recipes).values()
        if dataclasses.is_dataclass(kind) and kind.__module__ == recipes.__name__
    ]


def test_every_config_field_carries_its_help():
    for kind in _configs():
        for spec in dataclasses.fields(kind):
            assert spec.metadata.get("help"), f"{kind.__name__}.{spec.name} has no help"


def test_every_scripts_command_line_has_a_flag_for_each_field():
    for name in SCRIPTS:
        parser = importlib.import_module(f"train.{name}").build_parser()
        text = parser.parser.format_help()
        for kind in parser.configs:
            for spec in dataclasses.fields(kind):
                if dataclasses.is_dataclass(spec.default_factory):  # prepare: and card:, reached by --set
                    continue
                flag = spec.name if spec.metadata.get("positional") else "--" + spec.name.replace("_", "-")
                if spec.metadata.get("metavar"):
                    flag = spec.metadata["metavar"]
                assert flag in text, f"python -m train.{name} lacks {flag}"


@dataclass
class _Example:
    """A config as a new script would define it."""

    name: str = option(help="what to call it")
    size: int = option(3, "how many")
    rate: float = option(0.5, "how fast")
    tidy: bool = option(True, "tidy up after")
    loud: bool = option(False, "print more")
    files: list[Path] = option([], "input file (repeat for more)")
    kind: str | None = option(None, "which kind", choices=("a", "b"), shortcut=("--b-kind", "b"))


def test_a_new_field_is_a_flag_typed_by_its_annotation():
    parser = ConfigParser(_Example, prog="example", description="An example.")
    (config,) = parser.parse(["--name", "x"])
    assert config == _Example(name="x")
    (config,) = parser.parse(
        ["--name", "x", "--size", "7", "--rate", "5e-5", "--no-tidy", "--loud", "--files", "a", "b", "--files", "c"]
    )
    assert (config.size, config.rate, config.tidy, config.loud) == (7, 5e-5, False, True)
    assert config.files == [Path("a"), Path("b"), Path("c")]
    (config,) = parser.parse(["--name", "x", "--tidy", "false", "--loud", "yes", "--files", "[a, b]", "--b-kind"])
    assert (config.tidy, config.loud, config.files, config.kind) == (False, True, [Path("a"), Path("b")], "b")
    text = parser.parser.format_help()
    assert "how many (default: 3)" in text and "--no-tidy" in text and "--no-loud" not in text
    for wrong in (["--size", "3"], ["--name", "x", "--size", "many"], ["--name", "x", "--kind", "c"]):
        with pytest.raises(SystemExit):
            parser.parse(wrong)


def test_recipe_values_give_way_to_set_which_gives_way_to_flags(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"data": ["a.csv"], "max_steps": 5, "lora_r": 4, "prepare": {"max_chars": 300}}))
    parser = importlib.import_module("train.finetune").build_parser()
    config, run = parser.parse(["--recipe", str(path), "--set", "lora_r=8", "--set", "max_steps=6", "--max-steps", "7"])
    assert (config.lora_r, config.max_steps, config.prepare.max_chars, run.resume) == (8, 7, 300, False)
    with pytest.raises(RecipeError, match="is not KEY=VALUE"):
        parser.parse(["--recipe", str(path), "--set", "lora_r"])
    with pytest.raises(RecipeError, match="unknown recipe field"):
        parser.parse(["--recipe", str(path), "--set", "lora_rank=8"])


def _documented_commands() -> list[tuple[str, list[str]]]:
    """Each `python -m train.X ...` line in the guide's and the README's code blocks and the scripts' docstrings."""
    texts = [doc.read_text(encoding="utf-8") for doc in (REPO / "docs" / "training.md", REPO / "train" / "README.md")]
    blocks = [block for text in texts for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]
    blocks += [importlib.import_module(f"train.{name}").__doc__ for name in SCRIPTS]
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            found = re.search(r"-m train\.(\w+)(.*)", line.split("  #")[0])
            if found and found.group(1) in SCRIPTS:
                commands.append((found.group(1), shlex.split(found.group(2))))
    return commands


def test_every_documented_command_parses(monkeypatch):
    monkeypatch.chdir(REPO)  # the recipes' paths are the repository's
    commands = _documented_commands()
    assert {name for name, _ in commands} >= {"prepare", "finetune", "evaluate", "publish", "pilot", "probe"}
    for name, argv in commands:
        configs = importlib.import_module(f"train.{name}").build_parser().parse(argv)
        assert all(dataclasses.is_dataclass(config) for config in configs)
        if name == "finetune":
            assert isinstance(configs[0], FinetuneConfig)
