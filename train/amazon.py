"""Amazon's published review and meta formats: McAuley 2014 and 2018, Amazon Reviews 2023, the
fake-reviews data set's originals, and listing titles read as ads.

Text is read as the page shows it (markup resolved, run-together sentences parted); the
category comes from the store department in the meta file or from the dump's file name.
"""

from __future__ import annotations

import csv
import html
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from autowrite.formats import CATEGORIES, canonical_category
from train.records import (
    AMAZON_2023,
    LISTINGS,
    MCAULEY_2014,
    MCAULEY_2018,
    SALMINEN_CSV,
    ReadReport,
    Record,
    clean,
    int_or_none,
    json_rows,
    open_text,
    parse_object,
    rating_of,
)

_LINE_BREAK_TAG = re.compile(r"<br\s*/?>", re.IGNORECASE)
# What is left looking like an entity after unescaping names none: the residue of an
# ampersand before a word ("r&b; samples", "bongos&latin; gourd" in the 2014 dumps).
_NOT_AN_ENTITY = re.compile(r"&([A-Za-z]+);")


def prose(text: Any) -> str:
    """Review or listing text as people read it on the page: HTML entities and line-break tags resolved.

    Amazon's dumps carry the page's markup: a quarter of the 2014 Digital Music reviews hold
    `&quot;`, `&amp;` or `&#8217;`, 2023 reviews break lines with `<br />`, and ad titles
    read "Tilt &amp; Swivel". A model trained on them writes the entities back ("&quot;How
    Do You Want It&quot;"), and each costs several tokens where the character costs one.
    """
    text = _NOT_AN_ENTITY.sub(r"&\1", html.unescape(clean(text)))
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
    return _RUN_TOGETHER.sub(" ", prose(text))


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
            obj = parse_object(line)
            if obj is None:
                continue
            product = obj.get("parent_asin") or obj.get("asin")
            if product:
                found[str(product)] = {
                    "title": prose(obj.get("title")),
                    "main_category": clean(obj.get("main_category")),
                }
    return found


def _from_mcauley2014(obj: dict, category: str) -> Record:
    helpful = obj.get("helpful") or [0, 0]
    return Record(
        text=_review_body(obj.get("reviewText")),
        rating=rating_of(obj["overall"]),
        headline=prose(obj.get("summary")),
        category=category,
        product_id=clean(obj.get("asin")),
        helpful_votes=int(helpful[0]),
        source=MCAULEY_2014,
    )


def _from_mcauley2018(obj: dict, category: str) -> Record:
    # vote is published only when at least one person voted, as a string with thousands
    # separators ("1,234"); its absence means zero votes, not unknown.
    return Record(
        text=_review_body(obj.get("reviewText")),
        rating=rating_of(obj["overall"]),
        headline=prose(obj.get("summary")),
        category=category,
        product_id=clean(obj.get("asin")),
        helpful_votes=int_or_none(obj.get("vote")) or 0,
        source=MCAULEY_2018,
    )


def _from_amazon2023(obj: dict, category: str) -> Record:
    return Record(
        text=_review_body(obj.get("text")),
        rating=rating_of(obj["rating"]),
        headline=prose(obj.get("title")),
        category=category,
        # Variants of one product share parent_asin; splitting by it keeps them together.
        product_id=clean(obj.get("parent_asin") or obj.get("asin")),
        helpful_votes=int_or_none(obj.get("helpful_vote")) or 0,
        source=AMAZON_2023,
    )


def review_records(path: Path, fmt: str, report: ReadReport, category: str | None) -> list[Record]:
    convert = {MCAULEY_2014: _from_mcauley2014, MCAULEY_2018: _from_mcauley2018, AMAZON_2023: _from_amazon2023}
    records = []
    default_category = category or category_from_name(path)
    for obj in json_rows(path, report):
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


_ORIGINAL_LABEL = "OR"


def salminen_records(path: Path, report: ReadReport) -> list[Record]:
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
                rating = rating_of(row["rating"])
            except ValueError:
                report.skipped["bad field (ValueError)"] += 1
                continue
            category = category_from_name(Path(row["category"].strip())) or category_from_name(path)
            records.append(
                Record(text=_review_body(row["text_"]), rating=rating, category=category, source=SALMINEN_CSV)
            )
    return records


def listing_records(path: Path, report: ReadReport) -> list[Record]:
    """Product listing titles from a meta file, as ads in the store department the listing names."""
    records = []
    for obj in json_rows(path, report):
        title = prose(obj.get("title"))
        if not title:
            report.skipped["no title"] += 1
            continue
        department = canonical_category(clean(obj.get("main_category")))
        category = department if department in CATEGORIES else category_from_name(path)
        product = clean(obj.get("parent_asin") or obj.get("asin"))
        records.append(Record(text=title, category=category, product_id=product, source=LISTINGS))
    return records
