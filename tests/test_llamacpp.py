"""The llama.cpp backend against the reference: same top-1 token, same settings, batching, adapters."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from autowrite.settings import SamplingSettings
from tests import decoding
from tests.conftest import SHARED_DATA

llama_cpp = pytest.importorskip("llama_cpp")

from autowrite.backends.llamacpp import LlamaCppBackend  # noqa: E402
from autowrite.backends.transformers import TransformersBackend  # noqa: E402
from autowrite.loading import embedded_folder, embedded_gguf_path, embedded_tokenizer, load_pretrained  # noqa: E402


def held_out_texts(count: int = 8) -> list[str]:
    """Real reviews the shipped adapters never trained on (the Gift Cards 2018 file)."""
    path = SHARED_DATA / "reviews" / "gift_cards_2018" / "Gift_Cards_5.json.gz"
    if not path.exists():
        pytest.skip("shared data not found")
    texts = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            text = json.loads(line).get("reviewText", "")
            if 200 < len(text) < 600:
                texts.append(text)
            if len(texts) == count:
                break
    return texts


@pytest.fixture(scope="module")
def reference():
    model, tokenizer = load_pretrained(embedded_folder())
    return model, tokenizer


@pytest.fixture(scope="module")
def fast():
    return decoding.CountingLlamaCppBackend(embedded_gguf_path(), embedded_tokenizer())


def _agreement(fast_backend, model, tokenizer, texts) -> float:
    agree = total = 0
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False)
        with torch.inference_mode():
            expected = model(torch.tensor([ids])).logits[0].argmax(-1).tolist()
        for n in range(1, len(ids)):
            agree += int(torch.argmax(fast_backend.next_logits(ids[:n]))) == expected[n - 1]
            total += 1
    return agree / total


def test_top1_agrees_with_reference_on_held_out_text(fast, reference):
    model, tokenizer = reference
    assert _agreement(fast, model, tokenizer, held_out_texts()) >= 0.95


def test_merged_adapter_agrees_with_reference(tmp_path, reference, monkeypatch):
    from peft import LoraConfig, get_peft_model

    from autowrite.gguf_merge import merge

    model, tokenizer = reference
    base, _ = load_pretrained(embedded_folder())
    torch.manual_seed(0)
    lora = get_peft_model(
        base,
        LoraConfig(
            r=4,
            lora_alpha=8,
            init_lora_weights=False,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        ),
    )
    for name, parameter in lora.named_parameters():
        if "lora_B" in name:
            parameter.data.normal_(0, 0.1)  # strong enough that the base model disagrees often
    lora.save_pretrained(tmp_path / "adapter")
    merged_model, _ = load_pretrained(embedded_folder(), tmp_path / "adapter")
    merged = LlamaCppBackend(merge(embedded_gguf_path(), tmp_path / "adapter", tmp_path / "merged.gguf"), tokenizer)
    texts = held_out_texts(2)
    assert _agreement(merged, merged_model, tokenizer, texts) >= 0.95
    # The adapter matters: the unmerged base agrees much less with the adapted reference.
    assert _agreement(LlamaCppBackend(embedded_gguf_path(), tokenizer), merged_model, tokenizer, texts) < 0.9


def test_settings_mean_the_same_in_both_backends(fast, reference):
    model, tokenizer = reference
    reference_backend = TransformersBackend(model, tokenizer)
    prompt = fast.encode("This gift card was the perfect present for my")
    # Greedy paths may part at a near tie (4-bit kernels against fp32), but every fast greedy
    # token is one the reference also ranks in its top two.
    continuation = decoding.generate(fast, prompt, SamplingSettings(do_sample=False, max_new_tokens=16))
    ids = prompt + fast.encode(continuation)
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0]
    for position in range(len(prompt), len(ids)):
        assert ids[position] in torch.topk(logits[position - 1], 2).indices.tolist()
    for settings in (
        SamplingSettings(temperature=0.7, top_k=5, top_p=0.9, repetition_penalty=1.2),
        SamplingSettings(temperature=1.3, top_k=0, top_p=0.5, repetition_penalty=1.0),
        SamplingSettings(temperature=0.4, top_k=40, top_p=1.0, repetition_penalty=1.8),
    ):
        ours = decoding.distribution(fast, prompt, settings, top=8)
        theirs = {c.token: c for c in decoding.distribution(reference_backend, prompt, settings, top=8)}
        # The same two leading candidates; probabilities close. Why 0.1: llama.cpp multiplies
        # the 4-bit weights with 8-bit activations, which moves a logit gap by up to ~0.15
        # against fp32 here, and temperature 0.4 multiplies that by 2.5. A setting applied
        # differently (top-k or top-p ignored, temperature inverted) moves far more.
        assert [c.token for c in ours[:2]] == sorted(theirs, key=lambda t: -theirs[t].adjusted)[:2]
        for candidate in ours[:4]:
            assert abs(candidate.adjusted - theirs[candidate.token].adjusted) < 0.1


def test_columns_decode_as_one_batch(fast):
    prompt = fast.encode("The best thing about this blender is")
    variants = [SamplingSettings(seed=s, max_new_tokens=8, temperature=1.0, top_k=0, top_p=1.0) for s in range(4)]
    before = fast.for_generation().decode_calls
    texts = decoding.last(decoding.stream_many(fast, prompt, variants))
    steps = fast.for_generation().decode_calls - before
    assert steps <= 8 + 2  # one call per step for all four (plus the shared prompt), not four
    # Batching changes nothing: each column equals the same settings run alone.
    for variant, text in zip(variants, texts):
        assert decoding.generate(fast, prompt, variant) == text


def test_generations_started_by_different_people_share_steps_and_equal_solo_runs(fast):
    """Staggered requests join and leave one batch; none changes another's text.

    The first request runs long while a dozen short ones come and go, so slots are reused
    (their cells freed) under it: in one shared key/value buffer its later tokens then land
    in freed cells below its earlier ones, and its text parts from its solo run. Each
    request starts once the one before has taken its first step, so each joins a batch
    that is running.
    """
    texts = held_out_texts(12)
    requests = [
        (
            "Category: Books\nRating: 5/5\nTitle: A wonderful read\nReview:",
            [SamplingSettings(seed=1, max_new_tokens=60)],
        )
    ]
    requests.append(
        (
            "Category: Electronics\nRating: 1/5\nTitle: Broke\nReview:",
            [SamplingSettings(seed=s, max_new_tokens=10) for s in (3, 4)],
        )
    )
    for i, text in enumerate(texts):
        settings = SamplingSettings(seed=10 + i, max_new_tokens=6 + i % 4, temperature=1.2, top_k=0)
        requests.append((text[: 40 + 7 * i], [settings]))
    solo = [decoding.last(decoding.stream_many(fast, fast.encode(p), vs)) for p, vs in requests]
    counted = decoding.count_steps(decoding.batcher_for(fast))
    steps = counted.steps
    together = [None] * len(requests)
    stepped = [threading.Event() for _ in requests]

    def run(i: int) -> None:
        prompt, variants = requests[i]
        try:
            for texts in decoding.stream_many(fast, fast.encode(prompt), variants):
                together[i] = texts
                stepped[i].set()
        finally:
            stepped[i].set()  # a request that fails lets the next one start, and the comparison says why

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for thread, first_step in zip(threads, stepped, strict=True):
        thread.start()
        assert first_step.wait(timeout=120)  # a safety net: a step takes milliseconds
    for thread in threads:
        thread.join()
    assert together == solo
    tokens = sum(v.max_new_tokens for _, vs in requests for v in vs)
    assert counted.steps - steps < tokens / 2


def test_logits_many_of_branches_match_single_calls(fast):
    prefix = fast.encode("I bought this for my")
    branches = [fast.encode(" son"), fast.encode(" daughter and she"), fast.encode(" car")]
    batched = fast.logits_many([prefix + branch for branch in branches])
    for branch, logits in zip(branches, batched):
        assert torch.allclose(logits, fast.next_logits(prefix + branch), atol=1e-3)


class _Queue(list):
    """A combiner's queue of calls that says when one joins it."""

    def __init__(self) -> None:
        super().__init__()
        self.joined = threading.Condition()

    def append(self, call) -> None:
        super().append(call)
        with self.joined:
            self.joined.notify_all()


def _queued_while_held(backend, calls):
    """Run calls to logits_many on threads while the model is held, so they queue up."""
    results, errors = [None] * len(calls), [None] * len(calls)
    queue = backend._combiner._calls = _Queue()

    def one(i):
        try:
            results[i] = backend.logits_many(calls[i])
        except Exception as error:  # noqa: BLE001 - the test looks at it
            errors[i] = error

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    with backend.lock:
        for thread in threads:
            thread.start()
        # The first call is taken for a batch of its own; the rest wait together behind it.
        with queue.joined:
            assert queue.joined.wait_for(lambda: len(queue) == len(calls) - 1, timeout=30), len(queue)
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


def test_people_typing_at_once_share_decodes():
    backend = decoding.CountingLlamaCppBackend(embedded_gguf_path(), embedded_tokenizer())
    texts = ["The blender is loud but", "This album is", "I gave the book to my", "Battery life is great and", "Nice"]
    calls = [[backend.encode(t), backend.encode(t + " really")] for t in texts]
    before = backend.decode_calls
    results, errors = _queued_while_held(backend, calls)
    assert errors == [None] * len(calls)
    # The first call alone takes two decodes (its two sequences' shared prefix, then the two);
    # the four calls queued behind it take two together, not eight.
    assert backend.decode_calls - before == 4
    solo = LlamaCppBackend(embedded_gguf_path(), embedded_tokenizer())
    for call, logits in zip(calls, results):
        for sequence, row in zip(call, logits):
            assert torch.allclose(row, solo.next_logits(sequence), atol=1e-3)


def test_an_error_in_a_shared_decode_reaches_every_caller():
    backend = LlamaCppBackend(embedded_gguf_path(), embedded_tokenizer())
    compute = backend._compute

    def failing(calls):
        if len(calls) > 1:
            raise RuntimeError("decode failed")
        return compute(calls)

    backend._compute = failing
    calls = [[backend.encode(t)] for t in ("One", "Two", "Three")]
    results, errors = _queued_while_held(backend, calls)
    assert results[0] is not None and errors[0] is None
    assert [str(e) for e in errors[1:]] == ["decode failed", "decode failed"]
    backend._compute = compute
    assert backend.logits_many([backend.encode("Still works")])[0].shape == (backend.vocab_size,)


def test_a_full_typing_cache_drops_the_least_recently_used_texts(monkeypatch):
    import random

    import autowrite.backends.llamacpp as llamacpp

    # A cache of 512 cells for texts of 200 tokens: the third text finds no room unless old
    # texts make way (with the real 8,192 cells, five people typing long reviews).
    monkeypatch.setattr(llamacpp, "CACHE_POSITIONS", 512)
    backend = decoding.CountingLlamaCppBackend(embedded_gguf_path(), embedded_tokenizer(), context_length=256)
    rng = random.Random(0)
    texts = [[rng.randrange(1000, 20000) for _ in range(200)] for _ in range(6)]
    logits = [backend.next_logits(ids) for ids in texts]
    solo = LlamaCppBackend(embedded_gguf_path(), embedded_tokenizer(), context_length=256)

    def same(a, b):
        # Where a text's cells lie in a shared cache moves its logits by up to ~0.6 (its
        # probabilities by ~0.001), as anywhere in the typing cache: the same, not bit for bit.
        return int(a.argmax()) == int(b.argmax()) and torch.allclose(a.softmax(-1), b.softmax(-1), atol=5e-3)

    for ids, row in zip(texts, logits):
        solo.forget()
        assert same(row, solo.next_logits(ids))
    # The first text was dropped to make room: it is computed again, whole.
    before = backend.tokens_computed
    assert same(backend.next_logits(texts[0]), logits[0])
    assert backend.tokens_computed - before == len(texts[0])


def test_typists_who_overfill_the_cache_together_are_served_one_by_one(monkeypatch):
    import random

    import autowrite.backends.llamacpp as llamacpp
    from autowrite.backends.combine import CacheFull, Call

    # Three texts of 200 tokens in 512 cells: together they cannot fit, each alone can (with
    # the real 8,192 cells, four people typing near the 2,040-token words limit).
    monkeypatch.setattr(llamacpp, "CACHE_POSITIONS", 512)
    backend = LlamaCppBackend(embedded_gguf_path(), embedded_tokenizer(), context_length=256)
    rng = random.Random(1)
    texts = [[rng.randrange(1000, 20000) for _ in range(200)] for _ in range(3)]
    calls = [Call([ids]) for ids in texts]
    backend._combiner.serve(calls)  # as the combiner serves the keystrokes that queued during one decode
    assert [c.error for c in calls] == [None] * 3
    solo = LlamaCppBackend(embedded_gguf_path(), embedded_tokenizer(), context_length=256)
    for ids, call in zip(texts, calls, strict=True):
        solo.forget()
        row, alone = call.result[0], solo.next_logits(ids)
        # The same up to where its cells lie in the cache (logits ~0.4 apart here); random
        # tokens give a flat distribution, so the argmax is no test.
        assert torch.allclose(row.softmax(-1), alone.softmax(-1), atol=5e-3)
    # One call that cannot fit even alone says so.
    with pytest.raises(CacheFull, match="512 cells"):
        backend.logits_many(texts)
    assert backend.next_logits(texts[0]).shape == (backend.vocab_size,)  # and the backend still serves


def test_a_failed_decode_leaves_no_stale_logits(fast, monkeypatch):
    from llama_cpp import llama_cpp as bindings

    typed = fast.encode("The kettle boils fast and")
    fast.next_logits(typed)
    grown = typed + fast.encode(" quietly")
    decode = bindings.llama_decode
    monkeypatch.setattr(bindings, "llama_decode", lambda ctx, batch: -3)
    with pytest.raises(RuntimeError, match="returned -3"):
        fast.next_logits(grown)
    monkeypatch.setattr(bindings, "llama_decode", decode)
    # The slot that claimed the longer text while its decode failed must not answer with
    # the shorter text's logits.
    fresh = LlamaCppBackend(embedded_gguf_path(), embedded_tokenizer())
    assert torch.allclose(fast.next_logits(grown), fresh.next_logits(grown), atol=1e-3)


def test_generations_leave_the_typing_cache_alone(fast):
    typed = fast.encode("The headphones fit well and the sound is")
    fast.next_logits(typed)
    decoding.last(decoding.stream_many(fast, fast.encode("A gift for my dad"), [SamplingSettings(max_new_tokens=4)]))
    before = fast.tokens_computed
    fast.next_logits(typed + fast.encode(" clear"))
    assert fast.tokens_computed - before == len(fast.encode(" clear"))  # the prefix is still there
    assert fast.for_generation() is not fast and fast.for_generation().for_generation() is fast.for_generation()


def test_prefix_is_not_recomputed(fast):
    ids = fast.encode("Gift cards are easy to give and the recipient can choose what they like")
    fast.next_logits(ids)
    before = fast.tokens_computed
    fast.next_logits(ids + fast.encode(" most"))
    assert fast.tokens_computed - before == len(fast.encode(" most"))


def test_the_best_words_next_position_rides_along_with_longer_spellings():
    """ "spea" is also spelled " sp" + "ea...": one batched call computes those branches and the
    best word's next position, which finishing the word then finds remembered."""
    from autowrite.suggest import suggest

    backend = LlamaCppBackend(embedded_gguf_path(), embedded_tokenizer())
    text = "I ordered this spea"
    for end in range(1, len(text)):
        suggest(backend, text[:end], ghost_tokens=0)
    calls: list[int] = []
    compute = backend.logits_many
    backend.logits_many = lambda sequences: (calls.append(len(sequences)), compute(sequences))[1]
    result = suggest(backend, text, ghost_tokens=0)
    assert result.words and result.words[0].word.startswith("spea")
    assert len(calls) == 1 and calls[0] > 1, calls  # before: one call for the spellings, one to finish


def test_nbytes_counts_what_loading_takes():
    """The model cache's byte bound is only as good as nbytes: weights and both key/value caches.

    Measured in a fresh process: in this one, earlier tests' freed memory would be reused
    without growing the resident size.
    """
    script = """
import json
from autowrite.backends.llamacpp import LlamaCppBackend
from autowrite.loading import embedded_gguf_path, embedded_tokenizer

def rss():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))

tokenizer = embedded_tokenizer()
before = rss()
backend = LlamaCppBackend(embedded_gguf_path(), tokenizer)
print(json.dumps({"grown": rss() - before, "nbytes": backend.nbytes}))
"""
    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        cwd=Path(__file__).parents[1],
    )
    measured = json.loads(run.stdout.strip().splitlines()[-1])
    assert 0.8 * measured["grown"] <= measured["nbytes"] <= 1.5 * measured["grown"], measured


def test_threads_drop_to_one_while_people_type_beside_other_requests(fast, monkeypatch):
    """llama.cpp keeps every core for one request or generations alone; typing among others gets one."""
    from llama_cpp import llama_cpp

    from autowrite.scheduling import CAPACITY

    ids = fast.encode("The lid cracked after")

    def threads_used() -> int:
        fast.forget()
        fast.logits_many([ids])
        return llama_cpp.llama_n_threads(fast._ctx.ctx)

    with fast.traffic.serving(keystroke=True):
        assert threads_used() == CAPACITY.cores
        with fast.traffic.serving():  # a generation beside the keystroke
            assert threads_used() == 1
    with fast.traffic.serving(), fast.traffic.serving():  # two generations while someone typed a moment ago
        assert threads_used() == 1
    monkeypatch.setattr(fast.traffic, "last_keystroke", -float("inf"))
    with fast.traffic.serving(), fast.traffic.serving():  # two generations, nobody typing
        assert threads_used() == CAPACITY.cores
    assert threads_used() == CAPACITY.cores
