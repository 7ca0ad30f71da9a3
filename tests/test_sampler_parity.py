"""The peers' samplers mean what their reference implementations mean.

XTC, DRY, top-n-sigma, typical-p, mirostat v2 and logit bias against llama.cpp's own
samplers (llama-cpp-python's low-level API on a llama_token_data_array); typical-p,
epsilon and eta against transformers' warpers. Random logits and histories, over a small
vocabulary and the embedded model's 49,152 tokens, and greedy cases.
"""

from __future__ import annotations

import ctypes
import math
import random

import llama_cpp
import numpy as np
import pytest
import torch
from transformers.generation.logits_process import EpsilonLogitsWarper, EtaLogitsWarper, TypicalLogitsWarper

from autowrite import sampling
from autowrite.loading import embedded_gguf_path
from autowrite.sampling import filters
from autowrite.settings import SamplingSettings

SIZES = (600, 49152)  # a small vocabulary, and the embedded model's
# Only the sampler under test: no temperature change, no other cut, no penalty.
PLAIN = SamplingSettings(temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=1.0)


def random_logits(size: int, seed: int, spread: float = 3.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(size, generator=generator) * spread


def llama_apply(sampler, logits: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Logits after a llama.cpp sampler (-inf for the tokens it dropped), and the index it selected (-1: none)."""
    size = len(logits)
    data = (llama_cpp.llama_token_data * size)()
    view = np.ctypeslib.as_array(data)
    view["id"] = np.arange(size, dtype=np.int32)
    view["logit"] = logits.numpy().astype(np.float32)
    view["p"] = 0.0
    array = llama_cpp.llama_token_data_array(data, size, -1, False)
    llama_cpp.llama_sampler_apply(sampler, ctypes.byref(array))
    after = np.ctypeslib.as_array(array.data, shape=(array.size,)).copy()
    result = torch.full((size,), float("-inf"))
    result[torch.from_numpy(after["id"].astype(np.int64))] = torch.from_numpy(after["logit"].copy())
    selected = int(after["id"][array.selected]) if array.selected >= 0 else -1
    return result, selected


def llama_sampler(init, *args):
    sampler = init(*args)
    assert sampler, "llama.cpp refused the sampler"
    return sampler


def kept(adjusted: torch.Tensor) -> set[int]:
    return set(torch.isfinite(adjusted).nonzero().squeeze(1).tolist())


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("n", [0.5, 1.0, 2.0])
def test_top_n_sigma_keeps_what_llama_cpp_keeps(size, n):
    for seed in range(3):
        logits = random_logits(size, seed)
        logits[torch.randperm(size, generator=torch.Generator().manual_seed(seed))[:20]] = float("-inf")
        theirs, _ = llama_apply(llama_sampler(llama_cpp.llama_sampler_init_top_n_sigma, n), logits)
        ours = sampling.adjust(logits, PLAIN.replace(top_n_sigma=n))
        assert kept(ours) == kept(theirs)


def transformers_kept(warper, logits: torch.Tensor) -> set[int]:
    return kept(warper(torch.zeros(1, 1, dtype=torch.long), logits.unsqueeze(0).clone())[0])


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mass", [0.2, 0.5, 0.9, 0.95])
def test_typical_p_keeps_what_llama_cpp_and_transformers_keep(size, mass):
    for seed in range(3):
        logits = random_logits(size, seed, spread=2.0 + seed)
        ours = kept(sampling.adjust(logits, PLAIN.replace(typical_p=mass)))
        theirs, _ = llama_apply(llama_sampler(llama_cpp.llama_sampler_init_typical, mass, 1), logits)
        # llama.cpp sums the running mass in float over thousands of tokens, so its cut lands a
        # few tokens either side of the exact one (its kept mass even falls short of p): the
        # tokens on which the two differ carry under 0.05% of the probability.
        differ = list(ours ^ kept(theirs))
        assert float(torch.softmax(logits.double(), 0)[differ].sum()) < 5e-4
        assert ours == transformers_kept(TypicalLogitsWarper(mass), logits)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("cutoff", [3e-4, 1e-3, 0.02, 0.09])
def test_epsilon_and_eta_keep_what_transformers_keeps(size, cutoff):
    for seed in range(3):
        logits = random_logits(size, seed, spread=1.0 + 2 * seed)
        assert kept(sampling.adjust(logits, PLAIN.replace(epsilon_cutoff=cutoff))) == transformers_kept(
            EpsilonLogitsWarper(cutoff), logits
        )
        ours = kept(sampling.adjust(logits, PLAIN.replace(eta_cutoff=cutoff)))
        theirs = transformers_kept(EtaLogitsWarper(cutoff), logits)
        # The entropy is summed in float in another order (transformers' over ids, ours likeliest
        # first): a token whose probability is the cut itself, to 5 digits, may fall either side.
        p = torch.softmax(logits.double(), 0)
        entropy = float(-(p * p.log()).sum())
        cut = min(cutoff, math.sqrt(cutoff) * math.exp(-entropy))
        assert all(abs(float(p[t]) / cut - 1) < 1e-5 for t in ours ^ theirs)


def test_typical_p_after_temperature_and_top_k_is_transformers_chain():
    logits = random_logits(49152, 5)
    settings = PLAIN.replace(temperature=0.7, top_k=40, typical_p=0.8)
    scores = logits.unsqueeze(0) / 0.7
    scores = scores.masked_fill(scores < torch.topk(scores, 40).values[..., -1:], float("-inf"))
    assert kept(sampling.adjust(logits, settings)) == transformers_kept(TypicalLogitsWarper(0.8), scores[0])


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("threshold", [0.02, 0.1, 0.2])
def test_xtc_cuts_what_llama_cpp_cuts_when_its_coin_says_so(size, threshold):
    for seed in range(4):
        logits = random_logits(size, seed, spread=4.0)
        settings = PLAIN.replace(top_k=30, xtc_probability=1.0, xtc_threshold=threshold)
        ours = sampling.draw(logits, settings, [], sampling.make_generator(seed))
        top30 = torch.full_like(logits, float("-inf"))
        ids = torch.topk(logits, 30).indices
        top30[ids] = logits[ids]
        theirs, _ = llama_apply(llama_sampler(llama_cpp.llama_sampler_init_xtc, 1.0, threshold, 1, seed), top30)
        assert set(ours.kept.tolist()) == kept(theirs)


def test_xtc_cuts_as_often_as_its_probability():
    logits = torch.tensor([3.0, 2.9, 2.8, 0.0, -1.0])  # three tokens above 0.1: a cut leaves the third and the tail
    settings = PLAIN.replace(xtc_probability=0.3, xtc_threshold=0.1)
    stream = sampling.make_generator(7)
    cuts = sum(len(sampling.draw(logits, settings, [], stream).kept) == 3 for _ in range(4000))
    assert abs(cuts / 4000 - 0.3) < 0.03


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(("tau", "eta"), [(5.0, 0.1), (3.0, 0.5), (8.0, 0.2)])
def test_mirostat_v2_keeps_and_moves_mu_as_llama_cpp(size, tau, eta):
    """Each step's kept tokens and probabilities as llama.cpp's; mu moves by the token llama.cpp drew."""
    theirs = llama_sampler(llama_cpp.llama_sampler_init_mirostat_v2, 11, tau, eta)
    settings = PLAIN.replace(mirostat=2, mirostat_tau=tau, mirostat_eta=eta)
    mu = 2 * tau
    for step in range(6):
        logits = random_logits(size, 100 + step, spread=2.0 + step % 3)
        after, token = llama_apply(theirs, logits)
        ours = sampling.adjust(logits, settings) if step == 0 else None
        candidates = filters.mirostat_keep(logits, mu)
        assert set(candidates.nonzero().squeeze(1).tolist()) == kept(after)
        if ours is not None:
            assert kept(ours) == kept(after)
        p = torch.softmax(logits[candidates], dim=-1)
        chosen = float(p[candidates.nonzero().squeeze(1).tolist().index(token)])
        mu = filters.mirostat_mu(mu, chosen, tau, eta)


def test_mirostat_v2_draws_keep_their_state_per_stream():
    logits = random_logits(49152, 1, spread=3.0)
    settings = PLAIN.replace(mirostat=2, mirostat_tau=3.0, mirostat_eta=0.5)
    stream = sampling.make_generator(3)
    first = sampling.draw(logits, settings, [], stream)
    assert stream.mu is not None and stream.mu != 6.0
    again = sampling.make_generator(3)
    assert sampling.draw(logits, settings, [], again).token == first.token  # the same seed, the same first draw


def test_logit_bias_adds_what_llama_cpp_adds(vocabulary):
    settings = PLAIN.replace(logit_bias="great: 2.5, awful: -5, love: 1")
    lexicon = sampling.resolve(settings, vocabulary.texts, vocabulary.encode).lexicon
    pairs = list(zip(lexicon.bias_tokens.tolist(), lexicon.bias_values.tolist(), strict=True))
    assert {vocabulary.texts[t].strip() for t, _ in pairs} >= {"great", "awful", "love"}
    biases = (llama_cpp.llama_logit_bias * len(pairs))(*[llama_cpp.llama_logit_bias(t, b) for t, b in pairs])
    logits = random_logits(len(vocabulary.texts), 2)
    init = llama_cpp.llama_sampler_init_logit_bias
    theirs, _ = llama_apply(llama_sampler(init, len(logits), len(pairs), biases), logits)
    assert torch.allclose(lexicon.apply(logits, []), theirs)


class Vocabulary:
    """The embedded model's tokens as llama.cpp spells them, and its tokenizer."""

    def __init__(self) -> None:
        self.model = llama_cpp.Llama(str(embedded_gguf_path()), vocab_only=True, verbose=False)
        self.vocab = llama_cpp.llama_model_get_vocab(self.model.model)
        size = self.model.n_vocab()
        self.texts = [self.model.detokenize([i], special=True).decode("utf-8", errors="replace") for i in range(size)]

    def encode(self, text: str) -> list[int]:
        return self.model.tokenize(text.encode(), add_bos=False, special=False)


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return Vocabulary()


def llama_dry(vocabulary: Vocabulary, settings: SamplingSettings, history: list[int]):
    breakers = [b.encode() for b in settings.breakers]
    array = (ctypes.c_char_p * len(breakers))(*breakers)
    # llama.cpp reads -1 as the model's training context, which a vocabulary-only load lacks:
    # the whole history is what -1 means here.
    last_n = settings.dry_penalty_last_n if settings.dry_penalty_last_n >= 0 else len(history)
    sampler = llama_sampler(
        llama_cpp.llama_sampler_init_dry, vocabulary.vocab, settings.dry_multiplier, settings.dry_base,
        settings.dry_allowed_length, last_n, array, len(breakers),
    )  # fmt: skip
    for token in history:
        llama_cpp.llama_sampler_accept(sampler, token)
    return sampler


def repetitive_history(vocabulary: Vocabulary, seed: int, length: int) -> list[int]:
    """Text-like ids with many repeats: phrases from a small pool, now and then a breaker between them."""
    rng = random.Random(seed)
    words = vocabulary.encode(" the cat sat on a mat and the dog ran to the door")
    newline, colon = vocabulary.encode("\n")[0], vocabulary.encode(":")[0]
    history: list[int] = []
    while len(history) < length:
        start = rng.randrange(len(words) - 3)
        history += words[start : start + rng.randrange(2, 8)]
        if rng.random() < 0.2:
            history.append(rng.choice([newline, colon]))
    return history[:length]


DRY_CASES = [
    SamplingSettings(dry_multiplier=0.8, dry_base=1.75, dry_allowed_length=2),
    SamplingSettings(dry_multiplier=2.0, dry_base=1.1, dry_allowed_length=3, dry_penalty_last_n=40),
    SamplingSettings(dry_multiplier=0.5, dry_base=3.0, dry_allowed_length=1, dry_sequence_breakers='"\\n", " door"'),
    SamplingSettings(dry_multiplier=1.0, dry_sequence_breakers=""),
]


@pytest.mark.parametrize("case", range(len(DRY_CASES)))
def test_dry_penalizes_what_llama_cpp_penalizes(case, vocabulary):
    settings = DRY_CASES[case].replace(repetition_penalty=1.0)
    resolved = sampling.resolve(settings, vocabulary.texts, vocabulary.encode)
    penalized = 0
    for seed in range(4):
        history = repetitive_history(vocabulary, seed, 30 + 70 * seed)
        logits = random_logits(len(vocabulary.texts), seed)
        theirs, _ = llama_apply(llama_dry(vocabulary, settings, history), logits)
        ours = sampling.apply_penalties(logits, resolved, history, resolved.lexicon)
        assert torch.allclose(ours, theirs, rtol=0, atol=1e-5)
        penalized += int((ours != logits).sum())
    assert penalized  # the histories repeat enough for DRY to act


def test_greedy_picks_what_llama_cpp_picks_after_dry_and_bias(vocabulary):
    greedy = SamplingSettings(do_sample=False, repetition_penalty=1.0, dry_multiplier=3.0, logit_bias="cat: 4")
    resolved = sampling.resolve(greedy, vocabulary.texts, vocabulary.encode)
    lexicon = resolved.lexicon
    for seed in range(5):
        history = repetitive_history(vocabulary, seed, 120)
        logits = random_logits(len(vocabulary.texts), seed, spread=1.0)
        # The history's likeliest continuation, made the top token, so DRY has something to turn down.
        logits[history[-1]] += 4.0
        biased = logits.clone().index_add_(0, lexicon.bias_tokens, lexicon.bias_values)
        theirs, _ = llama_apply(llama_dry(vocabulary, greedy, history), biased)
        ours = sampling.draw(logits, resolved, history, sampling.make_generator(0))
        assert ours.token == int(torch.argmax(theirs))


def test_a_banned_word_is_banned_in_every_tokenization(vocabulary):
    settings = SamplingSettings(banned_words="delicious, great")
    lexicon = sampling.resolve(settings, vocabulary.texts, vocabulary.encode).lexicon
    texts = vocabulary.texts
    for before in ["It was", "It was del", "It was delic", "It was d", "So gr", "So grea", "Great"]:
        history = vocabulary.encode(before)
        banned = set(lexicon.banned(history).tolist())
        so_far = "".join(texts[t] for t in history)
        for token in range(len(texts)):
            written = so_far + texts[token]
            completes = any(word in written[max(len(so_far) - len(word) + 1, 0) :] for word in ("delicious", "great"))
            assert (token in banned) == completes, (before, texts[token])


def test_unresolved_settings_that_need_the_vocabulary_are_refused():
    with pytest.raises(ValueError, match="need the model's vocabulary"):
        sampling.draw(torch.zeros(10), SamplingSettings(banned_words="x"), [], sampling.make_generator(0))
    assert math.isfinite(float(sampling.adjust(torch.zeros(10), SamplingSettings(banned_words="x"))[0]))


# --- a named order (the samplers setting) --------------------------------------------------

BUILT_IN = "top_n_sigma, temperature, top_k, typ_p, top_p, min_p, epsilon, eta, xtc"
MIXED = SamplingSettings(temperature=0.7, top_k=40, top_p=0.9, min_p=0.05, repetition_penalty=1.0)


def llama_chain(*samplers):
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    for sampler in samplers:
        llama_cpp.llama_sampler_chain_add(chain, sampler)
    return chain


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    "changes", [{}, {"typical_p": 0.8}, {"top_n_sigma": 1.5}, {"epsilon_cutoff": 3e-4, "eta_cutoff": 1e-3}]
)
def test_the_built_in_order_named_keeps_what_the_built_in_chain_keeps(size, changes):
    settings = MIXED.replace(**changes)
    for seed in range(3):
        logits = random_logits(size, seed)
        ours = sampling.adjust(logits, settings.replace(samplers=BUILT_IN))
        built_in = sampling.adjust(logits, settings)
        assert kept(ours) == kept(built_in)
        assert torch.allclose(torch.softmax(ours, -1), torch.softmax(built_in, -1), atol=1e-6)


@pytest.mark.parametrize("size", SIZES)
def test_llama_cpps_default_order_keeps_and_weighs_what_its_chain_does(size):
    """Temperature last, as llama.cpp's server orders it: top-p and min-p read the unscaled distribution."""
    settings = MIXED.replace(samplers="top_k, typ_p, top_p, min_p, temperature", typical_p=0.95)
    for seed in range(3):
        logits = random_logits(size, seed)
        chain = llama_chain(
            llama_sampler(llama_cpp.llama_sampler_init_top_k, settings.top_k),
            llama_sampler(llama_cpp.llama_sampler_init_typical, settings.typical_p, 1),
            llama_sampler(llama_cpp.llama_sampler_init_top_p, settings.top_p, 1),
            llama_sampler(llama_cpp.llama_sampler_init_min_p, settings.min_p, 1),
            llama_sampler(llama_cpp.llama_sampler_init_temp, settings.temperature),
        )
        theirs, _ = llama_apply(chain, logits)
        llama_cpp.llama_sampler_free(chain)
        ours = sampling.adjust(logits, settings)
        assert kept(ours) == kept(theirs)
        assert torch.allclose(torch.softmax(ours, -1), torch.softmax(theirs, -1), atol=1e-5)


def test_only_the_named_cuts_act_and_the_order_changes_what_survives():
    logits = random_logits(600, 4)
    without_top_p = sampling.adjust(logits, MIXED.replace(samplers="top_k, temperature"))
    assert kept(without_top_p) == kept(sampling.adjust(logits, MIXED.replace(top_p=1.0, min_p=0.0)))
    hot = MIXED.replace(temperature=1.8, top_k=0, top_p=1.0, min_p=0.1)
    before = kept(sampling.adjust(logits, hot.replace(samplers="temperature, min_p")))
    after = kept(sampling.adjust(logits, hot.replace(samplers="min_p, temperature")))
    assert before > after  # min-p on the flattened distribution keeps more


def test_a_named_order_draws_from_the_stream_as_the_built_in_chain_does():
    logits = random_logits(49152, 2)
    for seed in range(5):
        named = sampling.draw(logits, MIXED.replace(samplers=BUILT_IN), (), sampling.make_generator(seed))
        built_in = sampling.draw(logits, MIXED, (), sampling.make_generator(seed))
        assert named.token == built_in.token
