"""What the fine-tune changed: a text's log-probabilities under the base and the fine-tuned model."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from autowrite import changes
from autowrite.formats import Task
from autowrite.service import Request, UserError
from tests.conftest import make_tiny_service

TEXT = " The battery lasts all day and the sound is great."


@pytest.fixture(scope="module")
def tiny_adapter_dir(tmp_path_factory, tiny_gpt2_dir) -> Path:
    """A LoRA adapter on the tiny GPT-2 with non-zero weights, so it changes what the model says."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_gpt2_dir),
        LoraConfig(r=4, lora_alpha=16, target_modules=["c_attn"], fan_in_fan_out=True),
    )
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)
    folder = tmp_path_factory.mktemp("tiny-adapter")
    model.save_pretrained(folder)
    return folder


@pytest.fixture()
def tuned_service(tiny_gpt2_dir, tiny_gptneo_dir, tiny_adapter_dir):
    """The tiny catalog plus the tiny GPT-2 with its adapter."""
    service = make_tiny_service(tiny_gpt2_dir, tiny_gptneo_dir)
    base = service.entries["tiny-gpt2"]
    tuned = replace(base, name="tiny-gpt2-tuned", adapter=str(tiny_adapter_dir), prompt_format="autowrite")
    service.entries[tuned.name] = tuned
    return service


def by_hand(backend, context: list[int], ids: list[int]) -> list[float]:
    """Each token's log-probability from the logits of the whole sequence, one forward pass."""
    context = context or backend.start_ids
    sequence = torch.tensor([context + ids])
    with torch.no_grad():
        logits = backend.model(sequence).logits[0].float()
    logprobs = torch.log_softmax(logits, -1)
    return [float(logprobs[len(context) + i - 1, token]) for i, token in enumerate(ids)]


@pytest.mark.parametrize("task", [Task.REVIEW, Task.FREE])
def test_scores_match_a_forward_pass_of_each_model(tuned_service, task):
    request = Request(model="tiny-gpt2-tuned", task=task, rating=1, category="Books")
    name, result = tuned_service.changes(replace(request, text=TEXT))
    assert name == "tiny-gpt2"  # the catalog's entry for the same weights without the adapter
    base, tuned = tuned_service.load("tiny-gpt2").backend, tuned_service.load("tiny-gpt2-tuned").backend
    prompt = tuned_service.prompt(tuned_service.entry("tiny-gpt2-tuned"), request)
    assert ("Rating: 1/5" in prompt) == (task is Task.REVIEW)
    context = tuned.encode(prompt)
    ids = [t.token_id for t in result.tokens]
    assert tuned.decode(ids) == TEXT and "".join(t.text for t in result.tokens) == TEXT
    for model, key in ((base, "base"), (tuned, "tuned")):
        expected = by_hand(model, context, ids)
        assert [getattr(t, key) for t in result.tokens] == pytest.approx(expected, abs=1e-4)
    assert result.base_perplexity == pytest.approx(math.exp(-sum(t.base for t in result.tokens) / len(ids)))
    assert result.tuned_perplexity == pytest.approx(math.exp(-sum(t.tuned for t in result.tokens) / len(ids)))
    assert any(abs(t.change) > 0.05 for t in result.tokens)  # the adapter moves something


def test_words_gather_their_tokens_and_rank_by_mean_change():
    tokens = [
        changes.TokenChange(" great", 1, -3.0, -1.0),  # +2
        changes.TokenChange(" bad", 2, -1.0, -2.5),  # -1.5
        changes.TokenChange("ly", 3, -1.0, -1.5),  # the same word: -0.5 more
        changes.TokenChange(" great", 1, -2.0, -2.0),  # 0: great's mean is +1
        changes.TokenChange("\nok", 4, -1.0, -0.75),  # +0.25
    ]
    assert changes.words(tokens) == [("great", 2.0), ("badly", -2.0), ("great", 0.0), ("ok", 0.25)]
    raised, lowered = changes.moved_words(tokens)
    assert [(w.word, w.change, w.count) for w in raised] == [("great", 1.0, 2), ("ok", 0.25, 1)]
    assert [(w.word, w.change) for w in lowered] == [("badly", -2.0)]


def test_punctuation_stands_apart_from_words_and_out_of_the_lists():
    tokens = [
        changes.TokenChange(" sweat", 1, -3.0, -2.0),  # +1
        changes.TokenChange(".", 2, -1.0, -3.0),  # -2: punctuation, its own unit
        changes.TokenChange(" It's", 3, -1.0, -1.5),
        changes.TokenChange("!!", 4, -1.0, -1.0),
    ]
    assert changes.words(tokens) == [("sweat", 1.0), (".", -2.0), ("It's", -0.5), ("!!", 0.0)]
    raised, lowered = changes.moved_words(tokens)
    assert [w.word for w in raised] == ["sweat"] and [w.word for w in lowered] == ["It's"]


def test_a_model_without_an_adapter_or_an_empty_text_is_refused(tuned_service):
    with pytest.raises(UserError, match="no adapter.*fine-tuned: tiny-gpt2-tuned"):
        tuned_service.changes(Request(model="tiny-gpt2", text=TEXT))
    with pytest.raises(UserError, match="the text is empty"):
        tuned_service.changes(Request(model="tiny-gpt2-tuned", text=""))


def test_a_base_missing_from_the_catalog_is_made_from_the_entry(tuned_service):
    del tuned_service.entries["tiny-gpt2"]
    name, result = tuned_service.changes(Request(model="tiny-gpt2-tuned", text=TEXT))
    assert name == "tiny-gpt2-tuned without its adapter" and result.tokens


def test_scoring_goes_in_parts_and_stops_where_it_is_closed(tuned_service):
    """A long text is scored PART_TOKENS positions at a time; a closed scoring (a Stop, a client
    that left) computes no further part and gives its place back."""
    long_text = TEXT * 5  # about 80 tokens: three parts, within the tiny model's 128 positions
    name, parts = tuned_service.scoring(Request(model="tiny-gpt2-tuned", text=long_text, caller="a"))
    backend = tuned_service.load(name).backend
    calls = []
    next_logits = backend.next_logits
    backend.next_logits = lambda ids: calls.append(len(ids)) or next_logits(ids)
    try:
        first = next(parts)
        assert 0 < first < 0.5 and len(calls) == changes.PART_TOKENS
        assert tuned_service.admission.jobs("a") == 1
        parts.close()
        assert len(calls) == changes.PART_TOKENS and tuned_service.admission.jobs("a") == 0
    finally:
        del backend.next_logits
    whole = tuned_service.changes(Request(model="tiny-gpt2-tuned", text=long_text))[1]
    assert len(whole.tokens) > 2 * changes.PART_TOKENS
    with pytest.raises(UserError, match="this model reads at most .* after its prompt: score a shorter text"):
        tuned_service.changes(Request(model="tiny-gpt2-tuned", text=TEXT * 12))
