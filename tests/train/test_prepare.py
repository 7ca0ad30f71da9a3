"""Preparation: helpful-vote and length filters, de-duplication, a seeded split with no product leaks."""

from __future__ import annotations

from collections import Counter

import pytest

from train.prepare import (
    cap_balanced,
    count_table,
    group_key,
    load_and_prepare,
    prepare,
    write_splits,
)
from train.readers import Record, read_file, read_records
from train.recipe import PrepareConfig, PrepareError


def _review(text: str, product: str, rating: int = 5, votes: int | None = 3, category: str = "Books") -> Record:
    return Record(text=text, rating=rating, headline="Head", category=category, product_id=product, helpful_votes=votes)


def test_filters_in_order_with_counts_printed():
    records = [
        _review("A long enough review text one.", "p1", votes=0),  # no helpful votes
        _review("A long enough review text two.", "p2", votes=1),
        _review("A long enough   review text two.", "p3", votes=5),  # duplicate up to whitespace
        _review("Short.", "p4"),  # under min_chars
        _review("x" * 50, "p5"),  # over max_chars
        Record(text="A long enough ad text with no votes.", category="Books", rating=4, headline="H", product_id="p6"),
        Record(text="A long enough review, no headline.", rating=3, category="Books", product_id="p8", helpful_votes=2),
    ]
    lines: list[str] = []
    config = PrepareConfig(min_helpful_votes=1, min_chars=20, max_chars=40, val_fraction=0.0, test_fraction=0.0)
    splits = prepare(records, config, report=lines.append)
    assert sorted(r.product_id for r in splits.train) == ["p2", "p6"]
    steps = [line.split(":")[0].strip("=\n ") for line in lines]
    assert steps[:5] == [
        "read",
        "helpful votes >= 1",
        "usable for review",
        "exact duplicates dropped",
        "length 20..40 characters",
    ]
    # Counts per step: 7 read, 6 with votes (None counts as no votes published), 5 with a headline.
    assert [int(line.split(": ")[1].split()[0]) for line in lines[:5]] == [7, 6, 5, 4, 2]


def test_count_table_per_category_and_rating():
    table = count_table([_review("a", "p", 5), _review("b", "q", 1), _review("c", "r", 5, category="Electronics")])
    lines = table.splitlines()
    assert lines[0].split() == ["category", "1", "5", "total"]
    assert lines[1].split() == ["Books", "1", "1", "2"]
    assert lines[2].split() == ["Electronics", "0", "1", "1"]
    assert lines[3].split() == ["total", "1", "2", "3"]


def test_real_split_has_no_product_in_two_splits_and_is_seeded(shared_data, capsys):
    files = [shared_data / "reviews" / "mdsd_2023_format" / f"{n}.jsonl.gz" for n in ("Books", "Electronics")]
    files.append(shared_data / "reviews" / "gift_cards_2018" / "Gift_Cards_5.json.gz")
    config = PrepareConfig(min_helpful_votes=0, val_fraction=0.1, test_fraction=0.1, seed=3)
    splits = load_and_prepare(files, config)
    products = {name: {group_key(r) for r in members} for name, members in splits.items()}
    assert not products["train"] & products["val"]
    assert not products["train"] & products["test"]
    assert not products["val"] & products["test"]
    total = sum(len(m) for _, m in splits.items())
    assert 0.09 < len(splits.test) / total < 0.2
    assert 0.09 < len(splits.val) / total < 0.2
    # Gift-card duplicates (one per variant) are dropped: no text appears twice anywhere.
    texts = [" ".join(r.text.split()) for _, m in splits.items() for r in m]
    assert len(texts) == len(set(texts))
    out = capsys.readouterr().out
    assert "== exact duplicates dropped" in out and "Gift Cards" in out

    again = load_and_prepare(files, config, report=lambda _: None)
    assert [r.text for r in again.test] == [r.text for r in splits.test]
    other = load_and_prepare(
        files, PrepareConfig(min_helpful_votes=0, val_fraction=0.1, test_fraction=0.1, seed=4), report=lambda _: None
    )
    assert {r.text for r in other.test} != {r.text for r in splits.test}


def test_ads_variants_stay_in_one_split():
    base = "Band Compatible with Apple Watch 38mm 40mm Silicone"
    records = [Record(text=f"{base} {colour}") for colour in ("Black", "Blue", "Red", "Pink")]
    records += [Record(text=f"Other listing number {i} with its own words") for i in range(40)]
    splits = prepare(
        records, PrepareConfig(task="ad", val_fraction=0.2, test_fraction=0.2, min_chars=5), report=lambda _: None
    )
    where = {name for name, members in splits.items() for r in members if r.text.startswith(base)}
    assert len(where) == 1


def test_training_cap_balances_category_and_rating():
    records = [_review(f"five {i}", f"p{i}", 5) for i in range(90)] + [
        _review(f"one {i}", f"q{i}", 1) for i in range(10)
    ]
    capped = cap_balanced(records, 20, seed=0, balance=True)
    assert Counter(r.rating for r in capped) == {5: 10, 1: 10}
    natural = cap_balanced(records, 20, seed=0, balance=False)
    assert len(natural) == 20 and Counter(r.rating for r in natural)[5] > 10
    assert cap_balanced(records, 0, seed=0, balance=True) == records


def test_invalid_settings_and_empty_results():
    with pytest.raises(PrepareError):
        PrepareConfig(min_chars=100, max_chars=10)
    with pytest.raises(PrepareError):
        PrepareConfig(val_fraction=0.6, test_fraction=0.5)
    with pytest.raises(ValueError):
        PrepareConfig(task="poem")
    with pytest.raises(PrepareError, match="left no records"):
        prepare([_review("tiny", "p")], PrepareConfig(), report=lambda _: None)


def test_splits_written_and_read_back(tmp_path):
    records = [_review(f"Review number {i} is long enough.", f"p{i}") for i in range(30)]
    splits = prepare(records, PrepareConfig(val_fraction=0.2, test_fraction=0.2), report=lambda _: None)
    paths = write_splits(splits, tmp_path / "data")
    assert read_records(paths["train"]) == splits.train
    assert read_file(paths["test"])[1].format == "records"


def test_each_data_entry_splits_on_its_own(shared_data):
    """Adding an entry never moves an earlier entry's reviews between splits."""
    first = [
        [
            shared_data / "reviews" / "mdsd_2023_format" / "Books.jsonl.gz",
            shared_data / "reviews" / "mdsd_2023_format" / "Electronics.jsonl.gz",
        ]
    ]
    added = [shared_data / "reviews" / "mcauley_2014" / "reviews_Electronics_5.json.gz"]
    config = PrepareConfig(min_helpful_votes=0, max_chars=2000)
    alone = load_and_prepare(first, config, report=lambda _: None)
    grown = load_and_prepare(first + added, config, report=lambda _: None)
    for name, members in alone.items():
        earlier = {r.text for r in members}
        assert earlier <= {r.text for r in getattr(grown, name)}, name
    # The added file is split too, with no product in two splits across both entries.
    assert any(r.source == "mcauley2014" for r in grown.test)
    keys = {name: {group_key(r) for r in members} for name, members in grown.items()}
    assert not (keys["train"] & keys["test"]) and not (keys["train"] & keys["val"]) and not (keys["val"] & keys["test"])


def test_a_product_placed_by_an_earlier_entry_keeps_its_split():
    earlier = [_review(f"Earlier review number {i}.", f"p{i}") for i in range(40)]
    later = [_review(f"Later review of the same product {i}.", f"p{i}") for i in range(40)]
    config = PrepareConfig(min_helpful_votes=0, val_fraction=0.2, test_fraction=0.2)
    splits = prepare(earlier + later, config, report=lambda _: None, entries=[40, 40])
    for members in (splits.train, splits.val, splits.test):
        products = {r.product_id for r in members}
        assert {r.product_id for r in members if r.text.startswith("Later")} == products
    assert len(splits.test) == 2 * len({r.product_id for r in splits.test}) > 0


def test_untitled_sources_train_and_titled_rows_without_a_title_do_not():
    untitled = Record(text="My cats love this food a lot.", rating=5, category="Pet Supplies", source="salminen2022")
    broken = Record(text="A titled source's row, title lost.", rating=5, category="Books", source="amazon2023")
    config = PrepareConfig(min_helpful_votes=0, val_fraction=0.0, test_fraction=0.0)
    splits = prepare([untitled, broken], config, report=lambda _: None)
    assert splits.train == [untitled]
    # A review with no product is its own group, not one with every review that starts alike.
    assert group_key(untitled) != group_key(
        Record(text="My cats love this food too.", rating=5, category="Pet Supplies")
    )
