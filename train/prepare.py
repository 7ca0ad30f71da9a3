"""From read records to train/val/test splits: quality filters, de-duplication, a split by product.

Every step prints its counts per category and rating, so a filter that silently empties a
class (1-star Gift Cards, say) is seen before an hour of training, not after.

    python -m train.prepare --data ../shared/data/reviews/mdsd_2023_format/Books.jsonl.gz --out runs/books/data
"""

from __future__ import annotations

import hashlib
import random
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autowrite.formats import RATINGS, Task
from train.cli import ConfigParser
from train.readers import SALMINEN_CSV, Record, read_files
from train.recipe import PrepareConfig, PrepareError, PrepareFiles

SPLITS = ("train", "val", "test")


@dataclass
class Splits:
    """Records per split."""

    train: list[Record]
    val: list[Record]
    test: list[Record]

    def items(self) -> list[tuple[str, list[Record]]]:
        """(name, records) for each split, in a fixed order."""
        return [(name, getattr(self, name)) for name in SPLITS]


def count_table(records: Sequence[Record]) -> str:
    """Counts per category (rows) and rating (columns) as a fixed-width table."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for record in records:
        counts[record.category or "-"][record.rating or "-"] += 1
    columns: list[Any] = list(RATINGS) + ["-"]
    columns = [c for c in columns if any(c in row for row in counts.values())]
    width = max([len("category")] + [len(name) for name in counts])
    lines = [f"{'category':<{width}} " + " ".join(f"{str(c):>6}" for c in columns) + f" {'total':>7}"]
    for name in sorted(counts):
        row = counts[name]
        lines.append(f"{name:<{width}} " + " ".join(f"{row[c]:>6}" for c in columns) + f" {sum(row.values()):>7}")
    lines.append(
        f"{'total':<{width}} "
        + " ".join(f"{sum(r[c] for r in counts.values()):>6}" for c in columns)
        + f" {len(records):>7}"
    )
    return "\n".join(lines)


def _step(name: str, records: list[Record], report: Callable[[str], None]) -> list[Record]:
    report(f"\n== {name}: {len(records)} records\n{count_table(records)}")
    return records


def normalized(text: str) -> str:
    """The text as compared for duplicates: whitespace runs collapsed."""
    return " ".join(text.split())


# Sources that publish no review titles: their reviews train with an empty title line. In
# a source that has titles, a review without one is a broken row.
UNTITLED_SOURCES = frozenset({SALMINEN_CSV})


def usable(record: Record, task: Task | str) -> bool:
    """Whether a record can become an example of the task (reviews need a rating and category,
    and a headline where their source publishes headlines)."""
    if Task(task) is Task.REVIEW:
        titled = bool(record.headline.strip()) or record.source in UNTITLED_SOURCES
        return record.rating is not None and titled and bool(record.category.strip())
    return True


def group_key(record: Record) -> str:
    """What must not be split across train/val/test: the product, or for ads the listing's first words."""
    if record.product_id:
        return f"{record.category}/{record.product_id}"
    if record.rating is not None:
        # A review whose source names no product is its own group.
        return "review/" + normalized(record.text)
    # Ad lists repeat one listing per colour and size ("Band for Apple Watch 38mm ... Black",
    # "... Blue"); the first five words name the listing, so its variants stay in one split.
    return "text/" + " ".join(normalized(record.text).lower().split()[:5])


def split_by_group(records: list[Record], config: PrepareConfig, placed: dict[str, str] | None = None) -> Splits:
    """A seeded train/val/test split in which no product appears in two splits.

    placed: the split of each product already placed by an earlier data entry, which it
    keeps; the entry's other products are split by the fractions. Updated in place.
    """
    placed = {} if placed is None else placed
    groups: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        groups[group_key(record)].append(record)
    split = Splits([], [], [])
    for key in [k for k in groups if k in placed]:
        getattr(split, placed[key]).extend(groups.pop(key))
    # Keys are shuffled by a hash with the seed, not by Python's random order of a set, so
    # the same data and seed give the same split on every machine.
    order = sorted(groups, key=lambda k: hashlib.sha256(f"{config.seed}:{k}".encode()).hexdigest())
    total = sum(len(members) for members in groups.values())
    targets = {"test": config.test_fraction * total, "val": config.val_fraction * total}
    filled = {"test": 0, "val": 0}
    for key in order:
        chosen = next((name for name in ("test", "val") if filled[name] < targets[name]), "train")
        filled[chosen] = filled.get(chosen, 0) + len(groups[key])
        getattr(split, chosen).extend(groups[key])
        placed[key] = chosen
    return split


def cap_balanced(records: list[Record], limit: int, seed: int, balance: bool) -> list[Record]:
    """At most `limit` records, drawn round-robin over (category, rating) groups when balancing."""
    if not limit or len(records) <= limit:
        return records
    rng = random.Random(seed)
    if not balance:
        return rng.sample(records, limit)
    groups: dict[tuple, list[Record]] = defaultdict(list)
    for record in records:
        groups[(record.category, record.rating)].append(record)
    queues = [rng.sample(members, len(members)) for _, members in sorted(groups.items(), key=lambda kv: str(kv[0]))]
    chosen: list[Record] = []
    while len(chosen) < limit:
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop())
    rng.shuffle(chosen)
    return chosen


def stratified(records: list[Record], per_category: int, seed: int) -> list[Record]:
    """Up to per_category records of each category, seeded, grouped by category in name order."""
    groups: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        groups[record.category].append(record)
    rng = random.Random(seed)
    return [r for name in sorted(groups) for r in rng.sample(groups[name], min(per_category, len(groups[name])))]


def prepare(
    records: list[Record],
    config: PrepareConfig,
    report: Callable[[str], None] = print,
    entries: Sequence[int] | None = None,
) -> Splits:
    """Filter, de-duplicate and split records, printing counts after each step.

    entries: how many of the records, in order, each data entry gave (None: one entry).
    Each entry is split on its own, so data added in a new entry never moves an earlier
    entry's reviews between splits; a product an earlier entry placed keeps its split.
    """
    entry_of = {id(record): 0 for record in records}
    if entries is not None:
        if sum(entries) != len(records):
            raise PrepareError(f"entries count {sum(entries)} records, but there are {len(records)}")
        starts = [sum(entries[:i]) for i in range(len(entries))]
        entry_of = {id(records[start + k]): i for i, start in enumerate(starts) for k in range(entries[i])}
    records = _step("read", records, report)
    records = _step(
        f"helpful votes >= {config.min_helpful_votes}",
        [r for r in records if r.helpful_votes is None or r.helpful_votes >= config.min_helpful_votes],
        report,
    )
    records = _step(f"usable for {config.task}", [r for r in records if usable(r, config.task)], report)
    seen: set[str] = set()
    unique = []
    for record in records:
        # McAuley 2018 repeats a review once per product variant; the same text in two
        # splits would also let the test set leak into training.
        key = normalized(record.text)
        if key not in seen:
            seen.add(key)
            unique.append(record)
    records = _step("exact duplicates dropped", unique, report)
    records = _step(
        f"length {config.min_chars}..{config.max_chars} characters",
        [r for r in records if config.min_chars <= len(normalized(r.text)) <= config.max_chars],
        report,
    )
    if not records:
        raise PrepareError("the filters left no records; lower min_helpful_votes or widen the length bounds")
    splits = Splits([], [], [])
    placed: dict[str, str] = {}
    for entry in sorted(set(entry_of.values())):
        part = split_by_group([r for r in records if entry_of[id(r)] == entry], config, placed)
        for name, members in part.items():
            getattr(splits, name).extend(members)
    splits.train = cap_balanced(splits.train, config.max_train_examples, config.seed, config.balance)
    for name, members in splits.items():
        _step(f"split {name}", members, report)
    if not splits.train:
        raise PrepareError("the training split is empty; lower val_fraction/test_fraction or add data")
    return splits


def write_splits(splits: Splits, folder: Path) -> dict[str, Path]:
    """Each split as JSON lines of the common record; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, members in splits.items():
        path = folder / f"{name}.jsonl"
        path.write_text("".join(r.to_json() + "\n" for r in members), encoding="utf-8")
        paths[name] = path
    return paths


def data_files(data: Sequence[Path | str | Sequence[Path | str]]) -> list[Path]:
    """Every file of a recipe's data entries, in order (an entry is a file or a list of files)."""
    return [Path(f) for entry in data for f in ([entry] if isinstance(entry, (str, Path)) else entry)]


def load_and_prepare(
    data: Sequence[Path | str | Sequence[Path | str]], config: PrepareConfig, report: Callable[[str], None] = print
) -> Splits:
    """Read data entries and prepare splits, reporting per-file skips first.

    An entry is a file, or a list of files split together (see prepare).
    """
    records: list[Record] = []
    entries = []
    for entry in data:
        got, reports = read_files(data_files([entry]), text_column=config.text_column, task=config.task)
        for file_report in reports:
            report(file_report.summary())
        records.extend(got)
        entries.append(len(got))
    return prepare(records, config, report, entries)


def main(data: Sequence[Path | str], out: Path, config: PrepareConfig) -> dict[str, Path]:
    """Read, prepare and write the splits of the given files."""
    return write_splits(load_and_prepare(data, config), out)


def build_parser() -> ConfigParser:
    """The command line: the files to read and where to write, then every PrepareConfig field."""
    return ConfigParser(PrepareFiles, PrepareConfig, prog="python -m train.prepare", description=__doc__.split("\n")[0])


if __name__ == "__main__":
    try:
        files, config = build_parser().parse(sys.argv[1:])
        written = main(files.data, files.out, config)
    except (PrepareError, ValueError) as error:
        sys.exit(f"error: {error}")
    print("\n".join(f"wrote {path}" for path in written.values()))
