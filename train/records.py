"""The common record every reader gives, and the reading of rows: gzip up to a cut, JSON or Python literals.

Rows that cannot be read are counted in a ReadReport, never fatal: real dumps contain a few
broken lines, and one should not cost an hour-long run.
"""

from __future__ import annotations

import ast
import gzip
import io
import json
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autowrite.formats import Ad, Review, Task

# Formats read_file recognises; the names appear in reports and in Record.source.
MCAULEY_2014 = "mcauley2014"
MCAULEY_2018 = "mcauley2018"
AMAZON_2023 = "amazon2023"
ADS_CSV = "ads_csv"
SALMINEN_CSV = "salminen2022"  # the fake-reviews data set's CSV: category, rating, label, text_
LISTINGS = "listings"  # product titles from a meta file, read as ad copy
RECORDS = "records"  # files written by train.prepare (the common record as JSON lines)
JSONL = "jsonl"
CSV = "csv"
TEXT = "text"
META = "meta"  # product metadata, not reviews: a helpful error if given as data

# Why 20: enough rows to see past a header or a first broken line, few enough to be instant.
SNIFF_ROWS = 20
GZIP_MAGIC = b"\x1f\x8b"


class ReadError(ValueError):
    """A file cannot be read as any known format, or has no usable rows."""


@dataclass(frozen=True)
class Record:
    """One training text with whatever conditioning fields its source provides."""

    text: str
    rating: int | None = None
    headline: str = ""
    category: str = ""
    product_id: str = ""
    helpful_votes: int | None = None  # None: the source has no votes (ads, plain text)
    source: str = ""
    product_title: str = ""

    def item(self, task: Task | str) -> Review | Ad | str:
        """The record as the prompt format's item for a task (formats.split_example)."""
        task = Task(task)
        if task is Task.REVIEW:
            return Review(category=self.category, rating=self.rating or 0, headline=self.headline, body=self.text)
        if task is Task.AD:
            return Ad(text=self.text, category=self.category)
        return self.text

    def to_json(self) -> str:
        """One JSON line, as train.prepare writes its splits."""
        return json.dumps(asdict(self), ensure_ascii=False)


@dataclass
class ReadReport:
    """What one file gave: its detected format, rows read and rows skipped with reasons."""

    path: Path
    format: str = ""
    rows: int = 0
    records: int = 0
    skipped: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        """One line for the console."""
        skipped = ", ".join(f"{n} {why}" for why, n in self.skipped.most_common()) or "none"
        return f"{self.path.name}: {self.format}, {self.records}/{self.rows} rows read, skipped: {skipped}"


class _GzipUpToTheCut(io.RawIOBase):
    """A gzip file's bytes that end where a truncated or corrupt file stops, counting the cut.

    A download cut short is common with multi-GB dumps; the rows before the cut are good.
    """

    def __init__(self, path: Path, report: ReadReport | None) -> None:
        self._file = gzip.open(path, "rb")  # noqa: SIM115 - closed by close(), with the stream
        self._report = report
        self._cut = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._cut:
            return 0
        try:
            data = self._file.read(len(buffer))
        except (EOFError, gzip.BadGzipFile, zlib.error):
            self._cut = True
            if self._report is not None:
                self._report.skipped["rest of a truncated or corrupt gzip file"] += 1
            return 0
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


def open_text(path: Path, report: ReadReport | None = None) -> io.TextIOBase:
    """A text stream over a file, gunzipped when its first bytes say gzip (whatever its name).

    utf-8-sig: a byte-order mark (spreadsheet CSV exports) is not part of the first column's name.
    """
    with open(path, "rb") as raw:
        magic = raw.read(2)
    if magic == GZIP_MAGIC:
        stream = io.BufferedReader(_GzipUpToTheCut(path, report))
        return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
    return open(path, encoding="utf-8-sig", errors="replace", newline="")


def parse_object(line: str) -> dict | None:
    # McAuley 2014 metadata is Python literals (single quotes), not JSON; try JSON first
    # because it is stricter and much faster.
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        try:
            value = ast.literal_eval(line)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


def json_rows(path: Path, report: ReadReport) -> Iterator[dict]:
    with open_text(path, report) as stream:
        for line in stream:
            if not line.strip():
                continue
            report.rows += 1
            obj = parse_object(line)
            if obj is None:
                report.skipped["malformed line"] += 1
                continue
            yield obj


def int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = value.replace(",", "").strip()
    return int(float(value))


def rating_of(value: Any) -> int:
    rating = int(round(float(value)))
    if not 1 <= rating <= 5:
        raise ValueError(f"rating {value!r} out of 1..5")
    return rating


def clean(text: Any) -> str:
    return str(text or "").strip()
