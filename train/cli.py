"""Every train script's command line, built from its config dataclasses' fields; recipes read from YAML.

As alignment-handbook's H4ArgumentParser and TRL's TrlParser build theirs, a field of a config
in train.recipe is a flag named after it (max_chars: --max-chars), typed by its annotation,
with its default and the help its metadata carries. A bool takes --x, --x false or --no-x; a
list takes one or more values, the flag again, or one YAML list ([a, b]). A recipe script also
takes --recipe, a YAML file, and --set KEY=VALUE, dotted for nested fields (prepare.max_chars=900):
its flags override --set, which overrides the recipe.

    parser = ConfigParser(PrepareFiles, PrepareConfig, prog="python -m train.prepare", description="...")
    files, config = parser.parse(sys.argv[1:])
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Sequence
from dataclasses import MISSING
from pathlib import Path
from typing import Any

import yaml

from train.recipe import FinetuneConfig, RecipeError

RECIPE_EPILOG = "Defaults are the values without a recipe; a recipe's values replace them."
METAVARS = {int: "N", float: "X"}  # short placeholders keep the usage lines readable


def parse_value(raw: str) -> Any:
    """A command-line value as YAML reads it: numbers, booleans and lists get their types; the config validates them."""
    return yaml.safe_load(raw)


def parse_override(item: str, context: str = "--set") -> tuple[str, Any]:
    """A KEY=VALUE override as its key and its YAML value."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise RecipeError(f"{context}: {item!r} is not KEY=VALUE")
    return key.strip(), parse_value(raw.strip())


def _set_dotted(values: dict, key: str, value: Any) -> None:
    parts = key.replace("-", "_").split(".")
    target = values
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def load_recipe(path: Path | None, overrides: dict[str, Any] | None = None) -> FinetuneConfig:
    """A config from a YAML recipe with dotted-key overrides (prepare.max_chars=900) applied."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise RecipeError(f"cannot read recipe {path}: {error}") from None
    for key, value in (overrides or {}).items():
        _set_dotted(values, key, value)
    known = {f.name for f in dataclasses.fields(FinetuneConfig)}
    unknown = set(values) - known
    if unknown:
        raise RecipeError(f"unknown recipe field(s): {', '.join(sorted(unknown))}")
    try:
        return FinetuneConfig(**values)
    except TypeError as error:
        raise RecipeError(str(error)) from None


def _to_bool(raw: str) -> bool:
    value = parse_value(raw)
    if not isinstance(value, bool):
        raise argparse.ArgumentTypeError(f"expected true or false, got {raw!r}")
    return value


def _yaml_list(raw: str) -> list:
    """[a, b] as the list a recipe would give; anything else as the one value it is."""
    try:
        value = parse_value(raw)
    except yaml.YAMLError:
        return [raw]
    return value if isinstance(value, list) else [raw]


def _without_none(hint: Any) -> Any:
    """X for X | None; the hint itself otherwise."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        members = [m for m in typing.get_args(hint) if m is not type(None)]
        return members[0] if len(members) == 1 else hint
    return hint


def _item_type(hint: Any) -> Any:
    """How one item of a list field is read: str | list[str] items (a recipe's data) as files."""
    item = typing.get_args(hint)[0] if typing.get_args(hint) else str
    return item if item in (int, float, Path) else str


def _default(spec: dataclasses.Field) -> Any:
    if spec.default is not MISSING:
        return spec.default
    return spec.default_factory() if spec.default_factory is not MISSING else MISSING


def _help(spec: dataclasses.Field) -> str:
    text = spec.metadata.get("help", "").replace("%", "%%")
    default = _default(spec)
    if default is MISSING or default in (None, "", [], False):
        return text
    return f"{text} (default: {default})"


class ConfigParser:
    """An argparse parser whose arguments are config dataclasses' fields; parse() returns those configs.

    recipe: the first config is a FinetuneConfig read from --recipe and --set, then its flags.
    """

    def __init__(self, *configs: type, prog: str, description: str, recipe: bool = False) -> None:
        self.configs = configs
        self.recipe = recipe
        self.parser = argparse.ArgumentParser(
            prog=prog, description=description, epilog=RECIPE_EPILOG if recipe else None
        )
        if recipe:
            self.parser.add_argument("--recipe", type=Path, help="YAML recipe (train/recipes/*.yaml)")
            self.parser.add_argument(
                "--set",
                action="append",
                default=[],
                metavar="KEY=VALUE",
                help="override any field, dotted for nested ones (prepare.max_chars=900)",
            )
        self.lists: dict[str, Any] = {}  # list fields' names and how their items are read
        self.names: list[list[str]] = []
        taken = {"recipe", "set"} if recipe else set()
        for config in configs:
            hints = typing.get_type_hints(config)
            names = [spec.name for spec in dataclasses.fields(config) if self._add(spec, hints[spec.name])]
            if taken & set(names):
                raise ValueError(f"{config.__name__} repeats the argument(s) {', '.join(sorted(taken & set(names)))}")
            taken |= set(names)
            self.names.append(names)

    def _add(self, spec: dataclasses.Field, hint: Any) -> bool:
        """Add a field's argument; False for a nested config, which only --set reaches."""
        hint = _without_none(hint)
        if dataclasses.is_dataclass(hint):
            return False
        # A flag left out leaves its field out, so the config's default or the recipe's value stands.
        unset = {"default": argparse.SUPPRESS}
        options: dict[str, Any] = {"help": _help(spec), **unset}
        options.update({key: spec.metadata[key] for key in ("choices", "metavar") if key in spec.metadata})
        if hint is bool:
            options.update(nargs="?", const=True, type=_to_bool, metavar=options.get("metavar", "BOOL"))
        elif typing.get_origin(hint) is list:
            self.lists[spec.name] = _item_type(hint)
            options.update(nargs="*" if spec.metadata.get("positional") else "+", action="extend")
        else:
            options.update(type=hint, metavar=options.get("metavar", METAVARS.get(hint)))
        if spec.metadata.get("positional"):
            self.parser.add_argument(spec.name, **options)
            return True
        flag = "--" + spec.name.replace("_", "-")
        self.parser.add_argument(flag, dest=spec.name, required=_default(spec) is MISSING, **options)
        if hint is bool and _default(spec) is True:
            self.parser.add_argument(
                "--no-" + flag[2:], dest=spec.name, action="store_false", **unset, help=f"same as {flag} false"
            )
        if "shortcut" in spec.metadata:
            shortcut, value = spec.metadata["shortcut"]
            self.parser.add_argument(
                shortcut, dest=spec.name, action="store_const", const=value, **unset, help=f"same as {flag} {value}"
            )
        return True

    def _value(self, name: str, value: Any) -> Any:
        if name not in self.lists:
            return value
        if len(value) == 1 and value[0].lstrip().startswith("["):
            value = _yaml_list(value[0])
        return [self.lists[name](item) if isinstance(item, str) else item for item in value]

    def parse(self, argv: Sequence[str] | None = None) -> tuple[Any, ...]:
        """One config per dataclass, in order, from the command line (sys.argv[1:] when argv is None)."""
        given = vars(self.parser.parse_args(argv))
        built = []
        for index, (config, names) in enumerate(zip(self.configs, self.names)):
            values = {name: self._value(name, given[name]) for name in names if name in given}
            if index == 0 and self.recipe:
                overrides = dict(parse_override(item) for item in given["set"])
                built.append(load_recipe(given["recipe"], {**overrides, **values}))
            else:
                built.append(config(**values))
        return tuple(built)
