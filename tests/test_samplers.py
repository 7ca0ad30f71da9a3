"""min_p and no_repeat_ngram_size: the meaning transformers gives them, on fixed distributions."""

from __future__ import annotations

import math

import pytest
import torch
from transformers.generation.logits_process import (
    MinPLogitsWarper,
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from autowrite import sampling
from autowrite.settings import SamplingSettings, SettingsError


def transformers_adjust(logits: torch.Tensor, settings: SamplingSettings, previous: list[int]) -> torch.Tensor:
    """The scores transformers' generate() samples from, processor by processor in its order."""
    ids = torch.tensor([previous])
    scores = logits.unsqueeze(0).clone()
    scores = RepetitionPenaltyLogitsProcessor(settings.repetition_penalty)(ids, scores)
    if settings.no_repeat_ngram_size:
        scores = NoRepeatNGramLogitsProcessor(settings.no_repeat_ngram_size)(ids, scores)
    if not settings.do_sample:
        return scores[0]
    scores = TemperatureLogitsWarper(settings.temperature)(ids, scores)
    if settings.top_k:
        scores = TopKLogitsWarper(settings.top_k)(ids, scores)
    if settings.top_p < 1:
        scores = TopPLogitsWarper(settings.top_p)(ids, scores)
    if settings.min_p:
        scores = MinPLogitsWarper(settings.min_p)(ids, scores)
    return scores[0]


@pytest.mark.parametrize(
    ("settings", "size"),
    [
        (SamplingSettings(temperature=1.0, top_k=0, top_p=1.0, min_p=0.1, repetition_penalty=1.0), 600),
        (SamplingSettings(temperature=0.7, top_k=50, top_p=0.9, min_p=0.05, repetition_penalty=1.3), 600),
        (SamplingSettings(temperature=1.5, top_k=0, top_p=0.95, min_p=0.2), 600),
        # Min-p alone over a real vocabulary's size: the tail cut before anything is sorted.
        (SamplingSettings(temperature=1.0, top_k=0, top_p=1.0, min_p=0.02), 49152),
        (SamplingSettings(temperature=0.9, top_k=20, no_repeat_ngram_size=2), 600),
        (SamplingSettings(temperature=0.9, top_k=0, top_p=1.0, no_repeat_ngram_size=1, min_p=0.3), 600),
        (SamplingSettings(do_sample=False, repetition_penalty=1.0, no_repeat_ngram_size=3), 600),
    ],
)
def test_adjust_means_what_transformers_means(settings, size):
    torch.manual_seed(3)
    logits = torch.randn(size) * 3.0
    previous = [7, 8, 9, 7, 8, 5, 7, 8, 9, 11, 7, 8]  # ends in 7 8: "7 8 9" and "7 8 5" were seen
    ours = sampling.adjust(logits, settings, previous)
    theirs = transformers_adjust(logits, settings, previous)
    assert torch.equal(torch.isinf(ours), torch.isinf(theirs))
    finite = ~torch.isinf(ours)
    assert torch.allclose(ours[finite], theirs[finite], atol=1e-5)


def test_min_p_keeps_tokens_within_its_share_of_the_top_one():
    # Probabilities 0.5, 0.3, 0.15, 0.05: min_p 0.25 keeps those at least 0.125 (three).
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    settings = SamplingSettings(temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0, min_p=0.25)
    kept = torch.softmax(sampling.adjust(logits, settings), dim=-1)
    assert torch.allclose(kept, torch.tensor([0.5, 0.3, 0.15, 0.0]) / 0.95)
    # At temperature 2 the ratios are square roots: 0.05 against 0.5 is 0.316, kept at min_p 0.3.
    hotter = settings.replace(temperature=2.0, min_p=0.3)
    assert not torch.isinf(sampling.adjust(logits, hotter)).any()
    assert torch.isinf(sampling.adjust(logits, hotter.replace(min_p=0.33)))[3]


def test_min_p_zero_and_no_ban_change_nothing():
    torch.manual_seed(4)
    logits = torch.randn(300)
    previous = [1, 2, 1, 2, 1]
    plain = SamplingSettings(temperature=0.8, top_k=40, top_p=0.9)
    explicit = plain.replace(min_p=0.0, no_repeat_ngram_size=0)
    assert torch.equal(sampling.adjust(logits, plain, previous), sampling.adjust(logits, explicit, previous))
    draws = [sampling.choose(logits, explicit, previous, sampling.make_generator(9)) for _ in range(3)]
    assert draws == [sampling.choose(logits, plain, previous, sampling.make_generator(9)) for _ in range(3)]


def test_repeated_ngram_ends_by_hand():
    previous = [4, 5, 6, 3, 5, 7, 9, 4, 5]
    assert sampling.repeated_ngram_ends(previous, 3) == [6]  # "4 5" came before, followed by 6
    assert sampling.repeated_ngram_ends(previous, 2) == [6, 7]  # "5" was followed by 6 and by 7
    assert sampling.repeated_ngram_ends(previous, 1) == [3, 4, 5, 6, 7, 9]  # every token seen
    assert sampling.repeated_ngram_ends(previous, 4) == []  # "9 4 5" never came before
    assert sampling.repeated_ngram_ends([4, 5], 3) == []  # shorter than one n-gram


def test_greedy_never_repeats_a_banned_ngram():
    # The likeliest token would repeat "4 5 6"; greedy takes the next likeliest.
    logits = torch.zeros(10)
    logits[6], logits[8] = 5.0, 4.0
    settings = SamplingSettings(do_sample=False, repetition_penalty=1.0, no_repeat_ngram_size=3)
    assert sampling.choose(logits, settings, [4, 5, 6, 1, 4, 5], sampling.make_generator(0)) == 8
    assert sampling.choose(logits, settings.replace(no_repeat_ngram_size=0), [4, 5, 6, 1, 4, 5], None) == 6


def test_draw_follows_min_p():
    logits = torch.log(torch.tensor([0.4, 0.3, 0.2, 0.06, 0.04]))
    settings = SamplingSettings(temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0, min_p=0.2)
    generator = sampling.make_generator(2)
    draws = [sampling.choose(logits, settings, [], generator) for _ in range(4000)]
    assert set(draws) == {0, 1, 2}  # 0.06 and 0.04 are under a fifth of 0.4
    share = draws.count(0) / len(draws)
    assert abs(share - 0.4 / 0.9) < 5 * math.sqrt(0.25 / len(draws))


@pytest.mark.parametrize(("name", "value"), [("min_p", 1.5), ("min_p", -0.1), ("no_repeat_ngram_size", 11)])
def test_new_settings_are_bounded(name, value):
    with pytest.raises(SettingsError, match=name):
        SamplingSettings(**{name: value})


def test_words_and_dry_reach_a_local_model_through_the_service(tiny_service):
    """Banned words, logit bias and DRY are compiled against the model's vocabulary on the way in."""
    from autowrite.service import Request

    request = Request(model="tiny-gpt2", text="The battery")
    greedy = SamplingSettings(do_sample=False, repetition_penalty=1.0, max_new_tokens=12)
    plain = tiny_service.generate(request, greedy).texts[0]
    word = next(w for w in plain.split() if len(w) >= 2 and w.isalpha())
    banned = tiny_service.generate(request, greedy.replace(banned_words=word)).texts[0]
    assert word not in banned and banned != plain
    assert tiny_service.generate(request, greedy.replace(dry_multiplier=0.8, logit_bias=f"{word}:-5")).texts[0]
    candidates = tiny_service.distribution(request, greedy.replace(banned_words=word))
    assert all(word not in c.token or c.adjusted == 0 for c in candidates)


def test_a_named_sampler_order_reaches_the_model_and_its_link(tiny_service):
    """Only the named cuts act: top-k then temperature writes what the built-in chain writes without top-p."""
    from urllib.parse import parse_qsl

    from autowrite.service import Request
    from autowrite.ui.share import PageState, from_query, to_query

    request = Request(model="tiny-gpt2", text="The battery")
    settings = SamplingSettings(top_k=20, top_p=0.5, min_p=0.2, max_new_tokens=8, seed=3)
    named = tiny_service.generate(request, settings.replace(samplers="top_k, temperature")).texts[0]
    assert named == tiny_service.generate(request, settings.replace(top_p=1.0, min_p=0.0)).texts[0]
    query = to_query(PageState("tiny-gpt2", request.task, "Hi", settings.replace(samplers=["min_p", "temperature"])))
    assert "samplers=min_p%2C+temperature" in query
    assert from_query(tiny_service, dict(parse_qsl(query[1:]))).settings.order == ("min_p", "temperature")
    bad = from_query(tiny_service, {"model": "tiny-gpt2", "samplers": "top_k, nonsense"})
    assert bad.settings.samplers == "" and any("no sampler 'nonsense'" in n for n in bad.notices)
