"""Readers for Amazon review dumps, the ads CSV and plain corpora, into one common record.

Formats are detected from the first rows, not from file names, because the same data is
published under many names (and gzipped or not); only CSV against plain text, which rows
of prose cannot tell apart, goes by the .csv name. Rows that cannot be read are counted and
reported, never fatal: real dumps contain a few broken lines, and one should not cost an
hour-long run. A file with nothing usable is an error, because that is a wrong path or a
wrong column, not bad luck.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from autowrite.formats import Task, canonical_category
from train.amazon import listing_records, prose, read_meta, review_records, salminen_records
from train.records import (
    ADS_CSV,
    AMAZON_2023,
    CSV,
    GZIP_MAGIC,
    JSONL,
    LISTINGS,
    MCAULEY_2014,
    MCAULEY_2018,
    META,
    RECORDS,
    SALMINEN_CSV,
    SNIFF_ROWS,
    TEXT,
    ReadError,
    ReadReport,
    Record,
    clean,
    json_rows,
    open_text,
    parse_object,
)

# Names other modules and tests read from here, where every reader is.
__all__ = [
    "ADS_CSV",
    "AMAZON_2023",
    "CSV",
    "GZIP_MAGIC",
    "JSONL",
    "LISTINGS",
    "MCAULEY_2014",
    "MCAULEY_2018",
    "META",
    "RECORDS",
    "SALMINEN_CSV",
    "TEXT",
    "ReadError",
    "ReadReport",
    "Record",
    "classify_object",
    "open_text",
    "read_file",
    "read_files",
    "read_meta",
    "read_records",
    "sniff",
]

log = logging.getLogger(__name__)


def classify_object(obj: dict) -> str:
    """The format of one JSON object, from its field names."""
    keys = set(obj)
    if {"reviewText", "overall"} <= keys or {"reviewText", "asin"} <= keys:
        # 2014 has helpful [yes, total]; 2018 has vote (a string, only when >= 1) instead.
        return MCAULEY_2014 if "helpful" in keys else MCAULEY_2018
    if {"text", "rating"} <= keys and keys & {"helpful_vote", "parent_asin", "asin", "user_id"}:
        return AMAZON_2023
    if {"text", "product_id", "source"} <= keys:
        return RECORDS
    if "main_category" in keys or ("asin" in keys and keys & {"title", "categories", "related", "salesRank"}):
        return META
    return JSONL


def sniff(path: Path) -> str:
    """The format of a file, from its first non-empty rows."""
    with open_text(path) as stream:
        lines = [line for line in (stream.readline() for _ in range(SNIFF_ROWS * 5)) if line.strip()][:SNIFF_ROWS]
    if not lines:
        raise ReadError(f"{path}: the file is empty")
    braced = [line for line in lines if line.lstrip().startswith("{")]
    if len(braced) * 2 >= len(lines):
        # Mostly objects: a JSON-lines file, even if its first rows are broken (then they
        # are counted as malformed, not read as prose).
        objects = [o for o in map(parse_object, braced) if o is not None]
        if not objects:
            return JSONL
        return Counter(classify_object(o) for o in objects).most_common(1)[0][0]
    header = [h.strip().lower() for h in next(csv.reader([lines[0]]), [])]
    if header == ["ad"]:
        return ADS_CSV
    if header == ["category", "rating", "label", "text_"]:
        return SALMINEN_CSV
    if path.name.lower().removesuffix(".gz").endswith(".csv"):
        return CSV
    return TEXT


def _from_records(obj: dict) -> Record:
    known = set(Record.__dataclass_fields__)
    return Record(**{k: v for k, v in obj.items() if k in known})


def _from_jsonl(obj: dict, text_column: str, source: str = JSONL) -> Record:
    if text_column not in obj:
        raise KeyError(text_column)
    return Record(text=clean(obj[text_column]), source=source)


def _csv_records(
    path: Path, report: ReadReport, text_column: str, source: str, read: Callable[[str], str] = str.strip
) -> list[Record]:
    records = []
    with open_text(path, report) as stream:
        reader = csv.DictReader(stream)
        columns = reader.fieldnames or []
        if text_column not in columns:
            raise ReadError(f"{path}: no column {text_column!r}; columns are {', '.join(columns) or 'none'}")
        for row in reader:
            report.rows += 1
            value = row.get(text_column)
            if value is None or None in row:
                # csv puts extra cells under the key None and missing cells as None
                report.skipped["wrong number of cells"] += 1
                continue
            records.append(Record(text=read(value), source=source))
    return records


# The fake-reviews data set (Salminen et al. 2022) labels Amazon's own reviews OR and its


def _text_records(path: Path, report: ReadReport) -> list[Record]:
    # One record per paragraph (blank-line separated), not per line: corpora are often
    # hard-wrapped, and a wrapped line is not a unit of text.
    with open_text(path, report) as stream:
        paragraphs = re.split(r"\n\s*\n", stream.read())
    records = []
    for paragraph in paragraphs:
        text = " ".join(paragraph.split())
        if text:
            report.rows += 1
            records.append(Record(text=text, source=TEXT))
    return records


def read_file(
    path: Path | str,
    *,
    text_column: str = "text",
    fmt: str | None = None,
    category: str | None = None,
    task: Task | str = Task.REVIEW,
) -> tuple[list[Record], ReadReport]:
    """All records of one file and a report of what was skipped; the format is detected unless given.

    A product metadata file is data only for ads: its listing titles are the ad copy.
    """
    path = Path(path)
    if not path.is_file():
        raise ReadError(f"{path}: no such file")
    report = ReadReport(path=path, format=fmt or sniff(path))
    if report.format == META:
        if Task(task) is not Task.AD:
            raise ReadError(f"{path}: this is a product metadata file, not reviews; pass the reviews file")
        report.format = LISTINGS
    if report.format in (MCAULEY_2014, MCAULEY_2018, AMAZON_2023):
        records = review_records(path, report.format, report, category)
    elif report.format == RECORDS:
        records = []
        for obj in json_rows(path, report):
            try:
                records.append(_from_records(obj))
            except TypeError:
                report.skipped["bad field (TypeError)"] += 1
    elif report.format == JSONL:
        records = []
        for obj in json_rows(path, report):
            try:
                records.append(_from_jsonl(obj, text_column))
            except KeyError:
                report.skipped[f"no {text_column!r} field"] += 1
    elif report.format == ADS_CSV:
        records = _csv_records(path, report, "ad", ADS_CSV, read=prose)
    elif report.format == SALMINEN_CSV:
        records = salminen_records(path, report)
    elif report.format == LISTINGS:
        records = listing_records(path, report)
    elif report.format == CSV:
        records = _csv_records(path, report, text_column, CSV)
    elif report.format == TEXT:
        records = _text_records(path, report)
    else:
        raise ReadError(f"{path}: unknown format {report.format!r}")
    if category and report.format not in (MCAULEY_2014, MCAULEY_2018, AMAZON_2023, SALMINEN_CSV, LISTINGS):
        records = [Record(**{**asdict(r), "category": canonical_category(category)}) for r in records]
    empty = sum(1 for r in records if not r.text)
    if empty:
        report.skipped["empty text"] += empty
        records = [r for r in records if r.text]
    report.records = len(records)
    if not records:
        raise ReadError(f"{path}: no usable rows ({report.summary()})")
    return records, report


def read_files(paths: Iterable[Path | str], **options: Any) -> tuple[list[Record], list[ReadReport]]:
    """Records of several files, in order, with one report per file."""
    records: list[Record] = []
    reports: list[ReadReport] = []
    for path in paths:
        got, report = read_file(path, **options)
        log.info(report.summary())
        records.extend(got)
        reports.append(report)
    return records, reports


def read_records(path: Path | str) -> list[Record]:
    """The records of a split written by train.prepare."""
    records, _ = read_file(path, fmt=RECORDS)
    return records
