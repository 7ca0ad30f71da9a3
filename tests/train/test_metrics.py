"""Scoring: body-only NLL equals the model's own loss, bodies are cut alike, copied spans are found."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from train.metrics import body_nll, copies_span, span_hashes, tokenize_example
from train.readers import Record


def test_body_nll_matches_the_models_own_loss(tiny_llama_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    context, body = [5, 17, 42, 8], [99, 3, 250, 7, 61]
    labels = torch.tensor([[-100] * len(context) + body])
    with torch.no_grad():
        mean = model(input_ids=torch.tensor([context + body]), labels=labels).loss
    assert body_nll(model, context, body) == pytest.approx(float(mean) * len(body), rel=1e-5)
    # Without context the first body token has nothing to be predicted from and is not scored.
    with torch.no_grad():
        mean_free = model(input_ids=torch.tensor([body]), labels=torch.tensor([body])).loss
    assert body_nll(model, [], body) == pytest.approx(float(mean_free) * (len(body) - 1), rel=1e-5)


def test_long_bodies_are_cut_the_same_for_every_model(tiny_tokenizer_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    record = Record(text="word " * 200, rating=2, headline="Long", category="Books")
    example = tokenize_example(tokenizer, record, "review", max_body_tokens=50)
    assert len(example.body_ids) == 50 and example.group == "Books"


def test_copied_spans_are_found_only_when_long_enough():
    training = [[1, 2, 3, 4, 5, 6, 7, 8]]
    index = span_hashes(training, 4)
    assert copies_span([9, 9, 3, 4, 5, 6, 9], index, 4)
    assert not copies_span([9, 9, 3, 4, 5, 9, 6], index, 4)
    assert not copies_span([3, 4, 5], index, 4)
