"""Readers for Amazon review dumps, the ads CSV and plain corpora, into one common record.

Formats are detected from the first rows, not from file names, because the same data is
published under many names (and gzipped or not); only CSV against plain text, which rows
of prose cannot tell apart, goes by the .csv name. Rows that cannot be read are counted and
reported, never fatal: real dumps contain a few broken lines, and one should not cost an
hour-long run. A file with nothing usable is an error, because that is a wrong path or a
wrong column, not bad luck.
"""

from __future__ import annotations

import ast
import csv
import gzip
import html
import io
import json
import logging
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autowrite.formats import CATEGORIES, Ad, Review, Task, canonical_category

log = logging.getLogger(__name__)

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


def _parse_object(line: str) -> dict | None:
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
        objects = [o for o in map(_parse_object, braced) if o is not None]
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


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = value.replace(",", "").strip()
    return int(float(value))


def _rating(value: Any) -> int:
    rating = int(round(float(value)))
    if not 1 <= rating <= 5:
        raise ValueError(f"rating {value!r} out of 1..5")
    return rating


def _clean(text: Any) -> str:
    return str(text or "").strip()


_LINE_BREAK_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)
# What is left looking like an entity after unescaping names none: the residue of an
# ampersand before a word ("r&b; samples", "bongos&latin; gourd" in the 2014 dumps).
_NOT_AN_ENTITY = re.compile(r"&([A-Za-z]+);")


def _prose(text: Any) -> str:
    """Review or listing text as people read it on the page: HTML entities and line-break tags resolved.

    Amazon's dumps carry the page's markup: a quarter of the 2014 Digital Music reviews hold
    `&quot;`, `&amp;` or `&#8217;`, 2023 reviews break lines with `<br />`, and ad titles
    read "Tilt &amp; Swivel". A model trained on them writes the entities back ("&quot;How
    Do You Want It&quot;"), and each costs several tokens where the character costs one.
    """
    text = _NOT_AN_ENTITY.sub(r"&\1", html.unescape(_clean(text)))
    return _LINE_BREAK_TAG.sub("\n", text).strip()


# A sentence's end run into the next sentence's start: "a superb late night groove!Now to",
# "Thumbs up.Originality:". The 2014 dumps dropped each line break with no space in its
# place (2,559 of the 6,401 Digital Music reviews); 2023's reviews hold a few as typos ("on
# the floor.To much!", 102 of 5,862); a model trained on them writes "release.I wish".
# Initials stay as written ("R.Kelly", "C.S.I team"): a single capital before the stop is
# not a sentence's end.
_RUN_TOGETHER = re.compile(r"(?:(?<=[^\s.!?A-Z][.!?])|(?<=[A-Z]{2}[.!?])|(?<=\.\.\.))(?=[A-Z][a-z' ])")


def _review_body(text: Any) -> str:
    """A review's text as the page shows it, with a space between sentences run together."""
    return _RUN_TOGETHER.sub(" ", _prose(text))


def category_from_name(path: Path) -> str:
    """A category from a dump's file name: reviews_Digital_Music_5.json.gz -> Digital Music.

    A subset of a 5-core file keeps the category before "_5": Pet_Supplies_5_cat_food -> Pet Supplies.
    """
    stem = path.name.split(".")[0]
    stem = re.sub(r"^(reviews_|meta_)", "", stem)
    stem = re.sub(r"_5(_.*)?$", "", stem)
    return canonical_category(stem)


def meta_path_for(path: Path) -> Path | None:
    """The metadata file published next to a review dump, if it is there."""
    stem = path.name.split(".")[0]
    base = re.sub(r"_5$", "", re.sub(r"^reviews_", "", stem))
    for candidate in sorted(path.parent.glob(f"meta_{base}.*")):
        if candidate != path:
            return candidate
    return None


_ASIN_IN_LINE = re.compile(r"""['"](?:parent_asin|asin)['"]\s*:\s*['"]([^'"]+)['"]""")


def read_meta(path: Path, wanted: set[str] | None = None) -> dict[str, dict[str, str]]:
    """Product title and main category by product id, from a 2014 (Python literal) or 2023 meta file.

    Only the products in `wanted` are parsed: a 2014 meta line is a large Python literal,
    and ast.literal_eval on every line of a full dump would take minutes.
    """
    found: dict[str, dict[str, str]] = {}
    with open_text(path) as stream:
        for line in stream:
            match = _ASIN_IN_LINE.search(line)
            if wanted is not None and (not match or match.group(1) not in wanted):
                continue
            obj = _parse_object(line)
            if obj is None:
                continue
            product = obj.get("parent_asin") or obj.get("asin")
            if product:
                found[str(product)] = {
                    "title": _prose(obj.get("title")),
                    "main_category": _clean(obj.get("main_category")),
                }
    return found


def _from_mcauley2014(obj: dict, category: str) -> Record:
    helpful = obj.get("helpful") or [0, 0]
    return Record(
        text=_review_body(obj.get("reviewText")),
        rating=_rating(obj["overall"]),
        headline=_prose(obj.get("summary")),
        category=category,
        product_id=_clean(obj.get("asin")),
        helpful_votes=int(helpful[0]),
        source=MCAULEY_2014,
    )


def _from_mcauley2018(obj: dict, category: str) -> Record:
    # vote is published only when at least one person voted, as a string with thousands
    # separators ("1,234"); its absence means zero votes, not unknown.
    return Record(
        text=_review_body(obj.get("reviewText")),
        rating=_rating(obj["overall"]),
        headline=_prose(obj.get("summary")),
        category=category,
        product_id=_clean(obj.get("asin")),
        helpful_votes=_int_or_none(obj.get("vote")) or 0,
        source=MCAULEY_2018,
    )


def _from_amazon2023(obj: dict, category: str) -> Record:
    return Record(
        text=_review_body(obj.get("text")),
        rating=_rating(obj["rating"]),
        headline=_prose(obj.get("title")),
        category=category,
        # Variants of one product share parent_asin; splitting by it keeps them together.
        product_id=_clean(obj.get("parent_asin") or obj.get("asin")),
        helpful_votes=_int_or_none(obj.get("helpful_vote")) or 0,
        source=AMAZON_2023,
    )


def _from_records(obj: dict) -> Record:
    known = set(Record.__dataclass_fields__)
    return Record(**{k: v for k, v in obj.items() if k in known})


def _from_jsonl(obj: dict, text_column: str, source: str = JSONL) -> Record:
    if text_column not in obj:
        raise KeyError(text_column)
    return Record(text=_clean(obj[text_column]), source=source)


def _json_rows(path: Path, report: ReadReport) -> Iterator[dict]:
    with open_text(path, report) as stream:
        for line in stream:
            if not line.strip():
                continue
            report.rows += 1
            obj = _parse_object(line)
            if obj is None:
                report.skipped["malformed line"] += 1
                continue
            yield obj


def _review_records(path: Path, fmt: str, report: ReadReport, category: str | None) -> list[Record]:
    convert = {MCAULEY_2014: _from_mcauley2014, MCAULEY_2018: _from_mcauley2018, AMAZON_2023: _from_amazon2023}
    records = []
    default_category = category or category_from_name(path)
    for obj in _json_rows(path, report):
        try:
            record = convert[fmt](obj, default_category)
        except (KeyError, ValueError, TypeError) as error:
            report.skipped[f"bad field ({type(error).__name__})"] += 1
            continue
        records.append(record)
    meta = meta_path_for(path)
    if meta is not None and records:
        products = read_meta(meta, {r.product_id for r in records})
        records = [_with_meta(r, products.get(r.product_id), fixed_category=category is not None) for r in records]
    return records


def _with_meta(record: Record, meta: dict[str, str] | None, fixed_category: bool) -> Record:
    if not meta:
        return record
    changes = {"product_title": meta["title"]}
    # 2023 metadata names the store department (main_category); the 2014 dumps have none
    # that matches the file, so the file name stays the category there. A department the
    # app does not offer ("All Electronics", "Amazon Home" in the full 2023 dumps) does not
    # replace a file name that is one: the prompt's category must be one the dropdown has.
    if meta["main_category"] and not fixed_category:
        department = canonical_category(meta["main_category"])
        if department in CATEGORIES or record.category not in CATEGORIES:
            changes["category"] = department
    return Record(**{**asdict(record), **changes})


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
# machine-written ones CG; only the originals are reviews people wrote.
_ORIGINAL_LABEL = "OR"


def _salminen_records(path: Path, report: ReadReport) -> list[Record]:
    """The original reviews of the fake-reviews CSV: a category ("Pet_Supplies_5"), a rating, no title."""
    records = []
    with open_text(path, report) as stream:
        for row in csv.DictReader(stream):
            report.rows += 1
            if None in row or any(value is None for value in row.values()):
                report.skipped["wrong number of cells"] += 1
                continue
            if row["label"].strip() != _ORIGINAL_LABEL:
                report.skipped[f"machine-written (label {row['label'].strip()})"] += 1
                continue
            try:
                rating = _rating(row["rating"])
            except ValueError:
                report.skipped["bad field (ValueError)"] += 1
                continue
            category = category_from_name(Path(row["category"].strip())) or category_from_name(path)
            records.append(
                Record(text=_review_body(row["text_"]), rating=rating, category=category, source=SALMINEN_CSV)
            )
    return records


def _listing_records(path: Path, report: ReadReport) -> list[Record]:
    """Product listing titles from a meta file, as ads in the store department the listing names."""
    records = []
    for obj in _json_rows(path, report):
        title = _prose(obj.get("title"))
        if not title:
            report.skipped["no title"] += 1
            continue
        department = canonical_category(_clean(obj.get("main_category")))
        category = department if department in CATEGORIES else category_from_name(path)
        product = _clean(obj.get("parent_asin") or obj.get("asin"))
        records.append(Record(text=title, category=category, product_id=product, source=LISTINGS))
    return records


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
        records = _review_records(path, report.format, report, category)
    elif report.format == RECORDS:
        records = []
        for obj in _json_rows(path, report):
            try:
                records.append(_from_records(obj))
            except TypeError:
                report.skipped["bad field (TypeError)"] += 1
    elif report.format == JSONL:
        records = []
        for obj in _json_rows(path, report):
            try:
                records.append(_from_jsonl(obj, text_column))
            except KeyError:
                report.skipped[f"no {text_column!r} field"] += 1
    elif report.format == ADS_CSV:
        records = _csv_records(path, report, "ad", ADS_CSV, read=_prose)
    elif report.format == SALMINEN_CSV:
        records = _salminen_records(path, report)
    elif report.format == LISTINGS:
        records = _listing_records(path, report)
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
