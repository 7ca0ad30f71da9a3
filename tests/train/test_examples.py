"""Training examples: the prompt/completion layout round-trips through the app's parser and tokenizers."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from autowrite.formats import parse_ad, parse_review
from train.finetune import to_example
from train.metrics import tokenize_example
from train.readers import Record

EOS = "<|endoftext|>"


def test_review_example_round_trips_through_parse_review():
    record = Record(
        text="  Sturdy pan.\n\nHeats evenly.  ", rating=4, headline="Good  pan\n", category="Home and Kitchen"
    )
    example = to_example(record, "review", EOS)
    assert example["prompt"] == "Category: Home and Kitchen\nRating: 4/5\nTitle: Good pan\nReview:"
    assert example["completion"] == " Sturdy pan.\n\nHeats evenly." + EOS
    parsed = parse_review(example["prompt"] + example["completion"].removesuffix(EOS))
    assert (parsed.category, parsed.rating, parsed.headline, parsed.body) == (
        "Home and Kitchen",
        4,
        "Good pan",
        "Sturdy pan.\n\nHeats evenly.",
    )


def test_ad_and_free_examples():
    ad = to_example(Record(text="Sony 55-inch\nTV"), "ad", EOS)
    assert ad == {"prompt": "Ad:", "completion": " Sony 55-inch TV" + EOS}
    assert parse_ad(ad["prompt"] + ad["completion"].removesuffix(EOS)) == "Sony 55-inch TV"
    assert to_example(Record(text=" Free text. "), "free", EOS) == {"prompt": "", "completion": "Free text." + EOS}


def test_review_without_rating_is_refused():
    with pytest.raises(ValueError, match="rating"):
        to_example(Record(text="Body", headline="Head", category="Books"), "review", EOS)


@pytest.mark.parametrize("which", ["tiny", "smollm2"])
def test_body_tokens_follow_the_prompt_tokens(which, tiny_tokenizer_dir):
    if which == "tiny":
        tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    else:
        from autowrite.loading import LoadError, embedded_folder

        try:
            tokenizer = AutoTokenizer.from_pretrained(embedded_folder())
        except LoadError as error:
            pytest.skip(str(error))
    record = Record(
        text="Loud, clear and the battery lasts.", rating=5, headline="Great speaker", category="Electronics"
    )
    example = tokenize_example(tokenizer, record, "review", max_body_tokens=1000)
    prompt = "Category: Electronics\nRating: 5/5\nTitle: Great speaker\nReview:"
    # The prompt tokenizes alone exactly as inside the full text, so the model is trained on
    # the context it sees at inference, and the body starts with its leading space.
    assert example.prompt_ids == tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(example.body_ids) == " Loud, clear and the battery lasts."
    assert tokenizer.decode(example.prompt_ids + example.body_ids) == prompt + " Loud, clear and the battery lasts."
