"""The reference backend and decoding: exact outputs, seeds, settings semantics, prefix reuse."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from transformers import AutoModelForCausalLM
from transformers.generation.logits_process import (
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from autowrite import sampling
from autowrite.backends.base import Backend
from autowrite.backends.transformers import TransformersBackend
from autowrite.loading import load_pretrained
from autowrite.settings import SamplingSettings
from tests import decoding


@pytest.mark.parametrize("fixture", ["tiny_gpt2_dir", "tiny_gptneo_dir"])
def test_greedy_matches_transformers_generate(fixture, request):
    folder = request.getfixturevalue(fixture)
    model, tokenizer = load_pretrained(folder)
    backend = TransformersBackend(model, tokenizer)
    prompt = backend.encode("The battery life is")
    settings = SamplingSettings(do_sample=False, repetition_penalty=1.0, max_new_tokens=15)
    ours = decoding.generate(backend, prompt, settings)

    reference = AutoModelForCausalLM.from_pretrained(folder)
    out = reference.generate(
        torch.tensor([prompt]), max_new_tokens=15, do_sample=False, pad_token_id=0, eos_token_id=None
    )
    expected = tokenizer.decode(out[0, len(prompt) :], skip_special_tokens=True)
    assert ours == expected[: len(ours)]
    assert len(ours) > 0


def test_same_seed_same_text_other_seed_other_text(tiny_backend):
    prompt = tiny_backend.encode("This speaker")
    settings = SamplingSettings(temperature=1.5, top_k=0, top_p=1.0, max_new_tokens=20, seed=11)
    first = decoding.generate(tiny_backend, prompt, settings)
    again = decoding.generate(tiny_backend, prompt, settings)
    other = decoding.generate(tiny_backend, prompt, settings.replace(seed=12))
    assert first == again
    assert first != other


@pytest.mark.parametrize(
    "settings",
    [
        SamplingSettings(temperature=0.7, top_k=5, top_p=0.9, repetition_penalty=1.3),
        SamplingSettings(temperature=1.3, top_k=0, top_p=0.5, repetition_penalty=1.0),
        SamplingSettings(temperature=0.5, top_k=40, top_p=1.0, repetition_penalty=2.0),
        # top-k off over a real vocabulary's size: the nucleus found among the likeliest few
        # hundred (peaked logits), and found by sorting everything (flat logits).
        (SamplingSettings(temperature=0.8, top_k=0, top_p=0.95, repetition_penalty=1.2), 49152, 12.0),
        (SamplingSettings(temperature=1.5, top_k=0, top_p=0.99, repetition_penalty=1.2), 49152, 0.5),
    ],
)
def test_adjust_means_what_transformers_means(settings):
    settings, size, scale = settings if isinstance(settings, tuple) else (settings, 600, 3.0)
    torch.manual_seed(0)
    logits = torch.randn(size) * scale
    previous = [1, 5, 5, 42, 300]
    ours = sampling.adjust(logits, settings, previous)

    ids = torch.tensor([previous])
    scores = logits.unsqueeze(0).clone()
    scores = RepetitionPenaltyLogitsProcessor(settings.repetition_penalty)(ids, scores)
    scores = TemperatureLogitsWarper(settings.temperature)(ids, scores)
    if settings.top_k:
        scores = TopKLogitsWarper(settings.top_k)(ids, scores)
    if settings.top_p < 1:
        scores = TopPLogitsWarper(settings.top_p)(ids, scores)
    theirs = scores[0]
    assert torch.equal(torch.isinf(ours), torch.isinf(theirs))
    finite = ~torch.isinf(ours)
    assert torch.allclose(ours[finite], theirs[finite], atol=1e-5)


@pytest.mark.parametrize(
    "settings",
    [
        SamplingSettings(temperature=0.9, top_k=6, top_p=0.9, repetition_penalty=1.3),
        SamplingSettings(temperature=1.2, top_k=0, top_p=1.0, repetition_penalty=1.0),
    ],
)
def test_draw_follows_the_adjusted_distribution(settings):
    torch.manual_seed(1)
    logits = torch.randn(40) * 2
    previous = [3, 3, 17]
    expected = torch.softmax(sampling.adjust(logits, settings, previous), dim=-1)
    generator = sampling.make_generator(5)
    draws = 20_000
    counts = torch.bincount(
        torch.tensor([sampling.choose(logits, settings, previous, generator) for _ in range(draws)]), minlength=40
    )
    assert not counts[expected == 0].any()  # filtered-out tokens are never drawn
    # Binomial counts: 5 standard deviations is far outside chance for 40 tokens.
    tolerance = 5 * torch.sqrt(draws * expected * (1 - expected)) + 1
    assert torch.all((counts - draws * expected).abs() <= tolerance)


def test_seeded_draw_is_reproducible_and_seeds_differ():
    logits = torch.randn(300)
    settings = SamplingSettings(temperature=1.0, top_k=100, top_p=1.0, repetition_penalty=1.0)

    def draws(seed: int) -> list[int]:
        generator = sampling.make_generator(seed)
        return [sampling.choose(logits, settings, [], generator) for _ in range(30)]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)


def test_prefix_is_not_recomputed(tiny_backend):
    text = tiny_backend.encode("The sound quality of this speaker is great and the battery lasts")
    tiny_backend.next_logits(text)
    before = tiny_backend.tokens_computed
    longer = text + tiny_backend.encode(" all day")
    tiny_backend.next_logits(longer)
    assert tiny_backend.tokens_computed - before == len(longer) - len(text)
    # Backspacing over the last word reuses everything before it.
    before = tiny_backend.tokens_computed
    tiny_backend.next_logits(text[:-1])
    assert tiny_backend.tokens_computed - before == 1


def test_asking_a_text_again_keeps_its_slot_from_eviction(tiny_backend):
    backend = decoding.CountingTransformersBackend(tiny_backend.model, tiny_backend.tokenizer, max_slots=2)
    first, second, third = (backend.encode(t) for t in ("One person types", "Two people type", "Zebra crossing"))
    backend.next_logits(first)
    backend.next_logits(second)
    backend.next_logits(first)  # the first typist's text again (words, then the ghost)
    backend.next_logits(third)  # takes the least recently used slot: the second typist's
    before = backend.tokens_computed
    backend.next_logits(first)
    assert backend.tokens_computed == before


def test_a_generation_computes_on_caches_of_its_own(tiny_backend):
    """Whatever a typist computed, a generation computes its prompt afresh: a link reproduces."""
    prompt = tiny_backend.encode("The battery lasts all day and the screen")
    settings = SamplingSettings(seed=5, max_new_tokens=8)
    first = decoding.generate(tiny_backend, prompt, settings)
    for n in range(1, len(prompt) + 1):  # a typist on the same model, token by token
        tiny_backend.next_logits(prompt[:n])
    typed = tiny_backend.tokens_computed
    assert decoding.generate(tiny_backend, prompt, settings) == first
    assert tiny_backend.tokens_computed == typed  # the generation left the typist's caches alone
    generation = tiny_backend.for_generation()
    assert generation is not tiny_backend.for_generation() and generation.lock is tiny_backend.lock
    generation.next_logits(prompt)
    assert generation.tokens_computed == len(prompt)  # nothing reused from the typist's prefix


def test_a_generations_samples_each_keep_a_cache_and_equal_their_solo_texts(tiny_backend, monkeypatch):
    """Samples diverge after the prompt; sharing one cache, each would recompute the others' tokens."""
    prompt = tiny_backend.encode("The battery lasts all day and the screen")
    variants = [SamplingSettings(seed=seed, temperature=1.5, max_new_tokens=30) for seed in (1, 2, 3, 4)]
    generation = tiny_backend.for_generation()
    monkeypatch.setattr(generation, "for_generation", lambda: generation)  # to read its count
    *_, texts = decoding.stream_many(generation, prompt, variants)
    assert len(set(texts)) == 4
    # The prompt once, then at most one position per sample and new token (it was 2,000+).
    assert len(prompt) < generation.tokens_computed <= len(prompt) + 4 * 30
    for variant, text in zip(variants, texts, strict=True):
        assert decoding.generate(tiny_backend, prompt, variant) == text
    # A typist's candidate words still share the typist's slot: the other slots stay.
    typist = decoding.CountingTransformersBackend(tiny_backend.model, tiny_backend.tokenizer)
    other = typist.encode("Another person types here")
    typist.next_logits(other)
    typist.logits_many([prompt + typist.encode(word) for word in (" is", " was", " looks", " seems", " has")])
    before = typist.tokens_computed
    typist.next_logits(other)
    assert typist.tokens_computed == before


def test_cached_logits_equal_fresh_logits(tiny_gpt2_dir, tiny_backend):
    ids = tiny_backend.encode("Great little speaker, clear sound")
    for n in range(2, len(ids) + 1):
        tiny_backend.next_logits(ids[:n])
    fresh = TransformersBackend(*load_pretrained(tiny_gpt2_dir))
    assert torch.allclose(tiny_backend.next_logits(ids), fresh.next_logits(ids), atol=1e-4)


def test_long_prompt_keeps_its_end_with_a_warning(tiny_backend):
    text = "word " * 400
    prepared = decoding.prepare_prompt(tiny_backend, text, max_new_tokens=20)
    assert len(prepared.ids) == tiny_backend.context_length - 20
    assert prepared.ids == tiny_backend.encode(text)[-(tiny_backend.context_length - 20) :]
    assert "only its last" in prepared.warnings[0]


def test_stop_event_ends_the_stream(tiny_backend):
    import threading

    stop = threading.Event()
    settings = SamplingSettings(max_new_tokens=50, do_sample=False, repetition_penalty=1.0)
    prompt = tiny_backend.encode("Hello there")
    before = tiny_backend.tokens_computed
    pieces = []
    for text in decoding.stream(tiny_backend, prompt, settings, stop):
        pieces.append(text)
        if len(pieces) == 3:
            stop.set()
    assert len(pieces) == 3
    # The prompt once, then one position per token fed back; nothing after the stop.
    assert tiny_backend.tokens_computed - before <= len(prompt) + 2


def test_distribution_raw_and_adjusted(tiny_backend):
    prompt = tiny_backend.encode("This")
    greedy = decoding.distribution(tiny_backend, prompt, SamplingSettings(do_sample=False, repetition_penalty=1.0))
    assert greedy[0].adjusted == 1.0 and all(c.adjusted == 0.0 for c in greedy[1:])
    assert greedy == sorted(greedy, key=lambda c: -c.raw)
    top2 = decoding.distribution(tiny_backend, prompt, SamplingSettings(top_k=2, top_p=1.0, repetition_penalty=1.0))
    assert sum(c.adjusted > 0 for c in top2) == 2
    assert abs(sum(c.adjusted for c in top2) - 1.0) < 1e-5


class _SlowBackend(Backend):
    """A model that takes 30 ms per step, records who ran when, and says when its first step is done."""

    context_length = 64
    eos_token_id = None
    start_ids = [0]

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.stepped = threading.Event()

    def encode(self, text: str) -> list[int]:
        return [1] * len(text)

    def decode(self, ids) -> str:
        return "x" * len(ids)

    def next_logits(self, ids) -> torch.Tensor:
        with self.lock:
            time.sleep(0.03)  # a step's own work
            self.events.append("generation step")
            self.stepped.set()
            return torch.zeros(8)

    @property
    def vocab_size(self) -> int:
        return 8

    @property
    def nbytes(self) -> int:
        return 0


def test_waiting_keystrokes_go_before_the_next_generation_step():
    backend = _SlowBackend()  # 30 ms a generation step
    settings = SamplingSettings(do_sample=False, max_new_tokens=20)
    worker = threading.Thread(target=lambda: decoding.last(decoding.stream(backend, [1, 2], settings)))
    worker.start()
    assert backend.stepped.wait(timeout=60)  # a safety net: the generation is under way
    together = threading.Barrier(4)  # three keystrokes under way at once, and this thread

    def keystroke() -> None:
        with backend.keystroke():
            together.wait()
            time.sleep(0.08)  # the suggestions' own work: over two generation steps
            backend.events.append("keystroke")

    typists = [threading.Thread(target=keystroke) for _ in range(3)]
    for typist in typists:
        typist.start()
    together.wait()
    under_way = len(backend.events)
    for typist in typists:
        typist.join()
    worker.join()
    # While the keystrokes run, the generation finishes at most the step it had started;
    # without priority it would have taken two or three more.
    first = backend.events.index("keystroke")
    assert backend.events[under_way:first].count("generation step") <= 1, backend.events
    assert backend.events[first : first + 3] == ["keystroke"] * 3
    assert backend.events.count("generation step") == 20
