"""Prompt formats: built and parsed in one place, round trips exactly."""

from __future__ import annotations

import pytest

from autowrite.formats import (
    CATEGORIES,
    Ad,
    FormatError,
    Review,
    Task,
    canonical_category,
    parse_ad,
    parse_review,
    prompt_for,
    review_header,
    split_example,
)


def test_review_round_trip():
    review = Review(category="Home and Kitchen", rating=2, headline="Wobbly legs", body="It tips over.\n\nAvoid.")
    prompt, completion = split_example(Task.REVIEW, review)
    assert prompt == "Category: Home and Kitchen\nRating: 2/5\nTitle: Wobbly legs\nReview:"
    assert completion.startswith(" ")
    assert parse_review(prompt + completion) == review


def test_header_without_headline_asks_for_one():
    header = review_header("Books", 5)
    assert header.endswith("Title:")
    parsed = parse_review(header + " Loved it\nReview: Five stars from me.")
    assert parsed.headline == "Loved it" and parsed.body == "Five stars from me."


def test_header_fields_stay_on_one_line():
    header = review_header("Books\nRating: 1/5", 5, "Great\nReview: fake")
    assert header.count("\n") == 3
    assert parse_review(header + " body").rating == 5


def test_ad_round_trip():
    prompt, completion = split_example(Task.AD, "Sony 65 inch 4K TV\nwith HDR")
    assert prompt == "Ad:" and completion == " Sony 65 inch 4K TV with HDR"
    assert parse_ad(prompt + completion) == "Sony 65 inch 4K TV with HDR"


def test_a_review_without_headline_trains_on_the_prompt_the_app_sends():
    """Sources without titles train on an empty title line, as the app asks with no headline."""
    prompt, completion = split_example(
        Task.REVIEW, Review(category="Pet Supplies", rating=2, headline="", body="Torn bag.")
    )
    assert prompt == "Category: Pet Supplies\nRating: 2/5\nTitle:\nReview:" and completion == " Torn bag."
    assert prompt == prompt_for(Task.REVIEW, category="Pet Supplies", rating=2)
    assert parse_review(prompt + completion) == Review("Pet Supplies", 2, "", "Torn bag.")


def test_an_ad_with_a_category():
    prompt, completion = split_example(Task.AD, Ad(text="Chrome metal polish, 16 oz", category="Automotive"))
    assert prompt == "Category: Automotive\nAd:" and completion == " Chrome metal polish, 16 oz"
    assert prompt == prompt_for(Task.AD, category="Automotive")
    assert parse_ad(prompt + completion) == "Chrome metal polish, 16 oz"
    assert prompt_for(Task.AD, category="") == "Ad:"


def test_invalid_fields():
    with pytest.raises(FormatError, match="rating"):
        Review(category="Books", rating=6, headline="x")
    with pytest.raises(FormatError):
        parse_review("just some text")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Home_and_Kitchen", "Home and Kitchen"),
        ("Movies & TV", "Movies and TV"),
        ("Digital_Music", "Digital Music"),
        ("Arts, Crafts & Sewing", "Arts Crafts and Sewing"),  # a 2023 main_category
        ("Clothing_Shoes_and_Jewelry", "Clothing Shoes and Jewelry"),
        ("pet supplies", "Pet Supplies"),
        ("Toys", "Toys"),
    ],
)
def test_canonical_category(raw, expected):
    assert canonical_category(raw) == expected


def test_every_category_reads_back_from_its_file_spelling():
    """A data file's name (spaces as underscores, and as ampersand) maps to the name the app offers."""
    for name in CATEGORIES:
        assert canonical_category(name.replace(" and ", " & ").replace(" ", "_")) == name


def test_prompt_for_each_task():
    assert prompt_for(Task.FREE, text="hello") == "hello"
    assert prompt_for(Task.AD, text="Sony TV") == "Ad: Sony TV"
    assert prompt_for(Task.REVIEW, category="Books", rating=2, text="It") == (
        "Category: Books\nRating: 2/5\nTitle:\nReview: It"  # no headline: the body under an empty title
    )
    assert prompt_for(Task.REVIEW, category="Books", rating=2, text="It", title_next=True) == (
        "Category: Books\nRating: 2/5\nTitle: It"  # the title being typed
    )
    assert prompt_for(Task.REVIEW, category="Books", rating=1, headline="Dull", text="I") == (
        "Category: Books\nRating: 1/5\nTitle: Dull\nReview: I"
    )
