"""Readers: each published format detected from its rows, gzipped or not, with skips counted."""

from __future__ import annotations

import gzip
import json
import re
import shutil

import pytest

from train.readers import (
    ADS_CSV,
    AMAZON_2023,
    CSV,
    JSONL,
    LISTINGS,
    MCAULEY_2014,
    MCAULEY_2018,
    RECORDS,
    SALMINEN_CSV,
    TEXT,
    ReadError,
    Record,
    read_file,
    read_meta,
    sniff,
)


def test_mcauley_2014_reviews_with_titles_from_python_literal_meta(shared_data):
    records, report = read_file(shared_data / "reviews" / "digital_music_2014" / "reviews_Digital_Music_5.json.gz")
    assert report.format == MCAULEY_2014
    assert len(records) == 6401 and report.skipped == {}
    first = records[0]
    assert first.product_id == "5555991584"
    assert first.rating == 5 and first.helpful_votes == 3
    assert first.headline == "Enya's last great album"
    assert first.category == "Digital Music"
    # The title comes from the meta file, a Python literal (single quotes), not JSON.
    assert first.product_title == "Memory of Trees"
    assert first.text.startswith("It's hard to believe")


def test_amazon_text_is_read_as_the_page_shows_it(shared_data, tmp_path):
    """The dumps keep the page's markup; a model trained on it writes `&quot;` back."""
    records, _ = read_file(shared_data / "reviews" / "digital_music_2014" / "reviews_Digital_Music_5.json.gz")
    # Row 29 reads 'THE HIT &quot;STROKE YOU UP&quot; ... THE FLOODED R&amp;B MARKET' in the file.
    assert 'THE HIT "STROKE YOU UP" FEAT' in records[29].text
    assert "THE FLOODED R&B MARKET" in records[29].text
    # Row 23's "R&amp;B" resolves the same way; an ampersand before a word that names no
    # entity ("r&b; samples") loses the stray semicolon.
    assert records[23].text.startswith("In 1994, the R&B market")
    leftover = [r.text for r in records if re.search(r"&(?:[A-Za-z]+|#\d+);", r.text + r.headline + r.product_title)]
    assert leftover == []
    # The dump dropped line breaks with nothing in their place: "groove!Now to the real meat".
    assert "late night groove! Now to the real meat" in records[3181].text
    assert "Thumbs up. Originality: Thumbs up" in records[442].text
    run_together = re.compile(r"[a-z][.!?][A-Z][a-z]")
    assert not [r.text for r in records if run_together.search(r.text)]  # 2,559 rows in the file
    # Ad titles too ("Tilt &amp; Swivel"), and 2023's line-break tags become line breaks.
    ads, _ = read_file(shared_data / "ads" / "amazon_tv_wearable_ads.csv")
    assert not [a.text for a in ads if "&amp;" in a.text] and any(" & " in a.text for a in ads)
    path = tmp_path / "Electronics.jsonl"
    path.write_text(
        json.dumps(
            {"rating": 1, "title": "Q&amp;A", "text": "Broke.<br /><br />Twice &#8217;.To much!", "parent_asin": "B1"}
        )
        + "\n"
    )
    (record,), _ = read_file(path)
    assert record.headline == "Q&A" and record.text == "Broke.\n\nTwice \u2019. To much!"


def test_a_corpus_of_ones_own_keeps_its_markup(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text('text\n"Use &lt;br&gt; for breaks, &amp; more"\n')
    (record,), _ = read_file(path)
    assert record.text == "Use &lt;br&gt; for breaks, &amp; more"


def test_mcauley_2018_vote_strings_and_variant_duplicates(shared_data):
    records, report = read_file(shared_data / "reviews" / "gift_cards_2018" / "Gift_Cards_5.json.gz")
    assert report.format == MCAULEY_2018
    assert report.rows == 2972
    assert report.skipped == {"empty text": 6}
    assert {r.category for r in records} == {"Gift Cards"}
    # Absent vote means zero; duplicates (one per gift-card variant) are kept here, dropped by prepare.
    assert sum(r.helpful_votes == 0 for r in records) > 2500
    assert len({r.text for r in records}) < len(records)


def test_vote_with_thousands_separator(tmp_path):
    path = tmp_path / "Gift_Cards_5.json"
    rows = [
        {
            "overall": 4.0,
            "vote": "1,234",
            "asin": "B1",
            "reviewText": "Lovely card.",
            "summary": "Nice",
            "verified": True,
        },
        {"overall": 2.0, "asin": "B2", "reviewText": "Meh.", "summary": "Meh", "verified": False},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    records, report = read_file(path)
    assert report.format == MCAULEY_2018
    assert [r.helpful_votes for r in records] == [1234, 0]
    assert [r.rating for r in records] == [4, 2]


def test_amazon_2023_fields_and_main_category_from_meta(shared_data):
    records, report = read_file(shared_data / "reviews" / "mdsd_2023_format" / "Books.jsonl.gz")
    assert report.format == AMAZON_2023
    assert len(records) == 1804
    first = records[0]
    assert (first.rating, first.helpful_votes, first.product_id) == (1, 4, "0312355645")
    assert first.headline == "Horrible book, horrible."
    assert first.category == "Books"
    assert first.product_title.startswith("Running with Scissors")
    # The data has no 3-star reviews (converted from the MDSD corpus).
    assert {r.rating for r in records} == {1, 2, 4, 5}


def test_meta_category_overrides_file_name(tmp_path):
    reviews = tmp_path / "Whatever.jsonl"
    reviews.write_text(
        json.dumps({"rating": 5, "title": "t", "text": "Great pan.", "parent_asin": "P1", "helpful_vote": 2}) + "\n"
    )
    meta = tmp_path / "meta_Whatever.jsonl"
    meta.write_text(json.dumps({"parent_asin": "P1", "title": "Pan", "main_category": "Home & Kitchen"}) + "\n")
    records, _ = read_file(reviews)
    assert records[0].category == "Home and Kitchen"
    assert records[0].product_title == "Pan"
    assert read_meta(meta) == {"P1": {"title": "Pan", "main_category": "Home & Kitchen"}}


def test_a_store_department_does_not_replace_a_category_the_app_offers(tmp_path):
    reviews = tmp_path / "Electronics.jsonl"
    row = {"rating": 5, "title": "t", "text": "Clear sound.", "parent_asin": "P1", "helpful_vote": 2}
    reviews.write_text(json.dumps(row) + "\n" + json.dumps({**row, "parent_asin": "P2"}) + "\n")
    meta = tmp_path / "meta_Electronics.jsonl"
    departments = [("P1", "All Electronics"), ("P2", "Movies & TV")]
    meta.write_text(
        "".join(json.dumps({"parent_asin": p, "title": "x", "main_category": d}) + "\n" for p, d in departments)
    )
    records, _ = read_file(reviews)
    # The full 2023 dumps name departments the app does not offer; a known one still counts.
    assert [r.category for r in records] == ["Electronics", "Movies and TV"]


def test_ads_csv(shared_data):
    records, report = read_file(shared_data / "ads" / "amazon_tv_wearable_ads.csv")
    assert report.format == ADS_CSV
    assert len(records) == 11793
    assert records[0].text.startswith("Spigen Rugged Armor Pro")
    assert records[0].rating is None and records[0].helpful_votes is None


def test_gzip_detected_from_bytes_not_name(shared_data, tmp_path):
    plain = tmp_path / "reviews.data"  # uncompressed, unhelpful name
    with gzip.open(shared_data / "reviews" / "mdsd_2023_format" / "Electronics.jsonl.gz", "rt") as src:
        plain.write_text("".join(next(src) for _ in range(50)))
    gzipped = tmp_path / "copy.txt"  # gzipped, misleading name
    shutil.copy(shared_data / "reviews" / "mdsd_2023_format" / "Electronics.jsonl.gz", gzipped)
    assert sniff(plain) == AMAZON_2023
    assert sniff(gzipped) == AMAZON_2023
    assert len(read_file(plain)[0]) == 50


def test_a_truncated_gzip_keeps_the_rows_before_the_cut(shared_data, tmp_path):
    whole = (shared_data / "reviews" / "mdsd_2023_format" / "Electronics.jsonl.gz").read_bytes()
    cut = tmp_path / "Electronics.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])  # a download that stopped half way
    records, report = read_file(cut)
    complete, _ = read_file(shared_data / "reviews" / "mdsd_2023_format" / "Electronics.jsonl.gz")
    assert 0 < len(records) < len(complete)
    assert [r.text for r in records] == [r.text for r in complete[: len(records)]]
    assert report.skipped["rest of a truncated or corrupt gzip file"] == 1


def test_a_csv_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "ads.csv"  # as spreadsheet programs export it
    path.write_bytes("\ufeffad\nSony 55-inch 4K TV with HDR\nFitbit Charge 6 fitness tracker\n".encode())
    records, report = read_file(path)
    assert report.format == ADS_CSV and [r.text for r in records][0] == "Sony 55-inch 4K TV with HDR"


def test_malformed_rows_counted_not_fatal(tmp_path):
    path = tmp_path / "reviews.jsonl"
    good = {"rating": 4, "title": "ok", "text": "Works.", "asin": "A", "helpful_vote": 1}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({**good, "rating": "five"}),
        json.dumps({**good, "rating": 9}),
        json.dumps(good),
    ]
    path.write_text("\n".join(lines) + "\n")
    records, report = read_file(path)
    assert len(records) == 2
    assert report.rows == 5
    assert report.skipped == {"malformed line": 1, "bad field (ValueError)": 2}
    assert "2/5 rows read" in report.summary()


def test_nothing_usable_is_a_clear_error(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text("{broken\n{also broken\n")
    with pytest.raises(ReadError, match="no usable rows"):
        read_file(path)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(ReadError, match="empty"):
        read_file(empty)
    with pytest.raises(ReadError, match="no such file"):
        read_file(tmp_path / "missing.csv")


def test_mcauley_2014_five_core_files_take_their_category_from_the_name(shared_data):
    records, report = read_file(
        shared_data / "reviews" / "mcauley_2014" / "reviews_Clothing_Shoes_and_Jewelry_5.json.gz"
    )
    assert report.format == MCAULEY_2014 and report.skipped == {}
    assert len(records) == 4738
    assert {r.category for r in records} == {"Clothing Shoes and Jewelry"}
    # The part drawn to hold more low ratings: every star level is there.
    assert {r.rating for r in records} == {1, 2, 3, 4, 5}
    assert all(r.headline for r in records) and records[0].product_id


def test_fake_reviews_originals_csv(shared_data, tmp_path):
    records, report = read_file(shared_data / "reviews" / "fake_reviews_dataset_originals" / "Pet_Supplies.csv")
    assert report.format == SALMINEN_CSV and report.skipped == {}
    assert len(records) == 1929
    first = records[0]
    assert (first.category, first.rating, first.headline, first.product_id) == ("Pet Supplies", 5, "", "")
    assert first.text.startswith("My 8 and my son's 2 love this food")
    assert first.helpful_votes is None  # the data set publishes no votes, so no vote filter drops them
    # The published file also holds the data set's machine-written reviews (label CG): never read as reviews.
    published = tmp_path / "Pet_Supplies.csv"
    published.write_text(
        "category,rating,label,text_\n"
        "Pet_Supplies_5,5.0,CG,Love this! My dog loves it.\n"
        "Pet_Supplies_5,2.0,OR,The bag arrived torn and half empty.\n"
    )
    records, report = read_file(published)
    assert [(r.rating, r.text) for r in records] == [(2, "The bag arrived torn and half empty.")]
    assert report.skipped == {"machine-written (label CG)": 1}


def test_a_subset_of_a_2018_five_core_file_keeps_its_category(shared_data):
    records, report = read_file(shared_data / "reviews" / "pet_supplies_2018" / "Pet_Supplies_5_cat_food.json.gz")
    assert report.format == MCAULEY_2018
    assert len(records) == 1090
    assert {r.category for r in records} == {"Pet Supplies"}
    assert records[1].headline == "Happy cat" and records[1].product_id == "B0000AH3RM"


def test_amazon_2023_subsets_take_the_department_from_meta(shared_data):
    folder = shared_data / "reviews" / "amazon_2023_subsets"
    records, report = read_file(folder / "Arts_Crafts_and_Sewing.jsonl.gz")
    assert report.format == AMAZON_2023 and len(records) == 2709
    # meta says "Arts, Crafts & Sewing": the app's spelling has no comma or ampersand.
    assert {r.category for r in records} == {"Arts Crafts and Sewing"}
    assert all(r.product_title for r in records)
    # A few Health listings name a department the app does not offer; the file's category stays.
    health, _ = read_file(folder / "Health_and_Household.jsonl.gz")
    assert {r.category for r in health} == {"Health and Household"}
    assert {r.rating for r in health} == {1, 2, 3, 4, 5}


def test_listing_titles_are_ads_in_their_department(shared_data):
    meta = shared_data / "reviews" / "amazon_2023_subsets" / "meta_Automotive.jsonl.gz"
    records, report = read_file(meta, task="ad")
    assert report.format == LISTINGS and len(records) == 1219
    first = records[0]
    assert first.text == "Fit System K Source 80700 Towing Mirror Ram 1500 2002-08"
    assert (first.category, first.product_id, first.rating) == ("Automotive", "T18FAD6158", None)


def test_meta_file_given_as_data_is_refused(shared_data):
    with pytest.raises(ReadError, match="metadata file"):
        read_file(shared_data / "reviews" / "mdsd_2023_format" / "meta_Books.jsonl.gz")


def test_plain_text_paragraphs(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("First paragraph,\nhard-wrapped.\n\nSecond one.\n\n\n  \nThird.\n")
    records, report = read_file(path)
    assert report.format == TEXT
    assert [r.text for r in records] == ["First paragraph, hard-wrapped.", "Second one.", "Third."]


def test_csv_and_jsonl_with_named_text_column(tmp_path):
    table = tmp_path / "posts.csv"
    table.write_text('id,body\n1,"Hello, world"\n2,Second post\n3\n')
    records, report = read_file(table, text_column="body")
    assert report.format == CSV
    assert [r.text for r in records] == ["Hello, world", "Second post"]
    assert report.skipped == {"wrong number of cells": 1}
    with pytest.raises(ReadError, match="no column 'text'"):
        read_file(table)

    lines = tmp_path / "posts.jsonl"
    lines.write_text(json.dumps({"body": "One"}) + "\n" + json.dumps({"other": "x"}) + "\n")
    records, report = read_file(lines, text_column="body", category="Books")
    assert report.format == JSONL
    assert [(r.text, r.category) for r in records] == [("One", "Books")]
    assert report.skipped == {"no 'body' field": 1}


def test_prepared_records_round_trip(tmp_path):
    record = Record(
        text="Body", rating=5, headline="Head", category="Books", product_id="P", helpful_votes=2, source="x"
    )
    path = tmp_path / "train.jsonl"
    path.write_text(record.to_json() + "\n")
    records, report = read_file(path)
    assert report.format == RECORDS
    assert records == [record]
