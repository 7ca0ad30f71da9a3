"""Live suggestions: partial words complete consistently, the prefix is cached, ghost text follows."""

from __future__ import annotations

import pytest

from autowrite.suggest import _Memo, _split, memo, suggest, suggest_words


@pytest.mark.parametrize("text", ["The sound is gre", "I love this pro", "Batt", "It works well", "Great value, b"])
def test_completions_extend_the_typed_letters(tiny_backend, text):
    result = suggest(tiny_backend, text, ghost_tokens=4, min_probability=0.0)
    partial = text.split(" ")[-1].split(",")[-1].strip()
    assert result.partial == partial
    for word in result.words:
        assert word.word.startswith(partial), word
        assert (text + word.append).endswith(word.word) or word.append.startswith(" ")
        assert 0.0 < word.probability <= 1.0
    assert [w.probability for w in result.words] == sorted((w.probability for w in result.words), reverse=True)


def test_after_a_space_words_are_whole_next_words(tiny_backend):
    result = suggest(tiny_backend, "The battery life is ", ghost_tokens=0, min_probability=0.0)
    assert result.partial == ""
    assert result.words, "a next-word list is expected"
    for word in result.words:
        assert word.append.strip() and not word.append.startswith(" ")


def test_split_backs_off_the_partial_token(tiny_backend):
    prefix, remainder = _split(tiny_backend, "", "The sound is gre")
    assert tiny_backend.decode(prefix) + remainder == "The sound is gre"
    assert remainder.endswith("gre") and len(remainder) <= len(" gre")


def test_context_is_not_part_of_the_typed_word(tiny_backend):
    context = "Category: Books\nRating: 5/5\nTitle: Great\nReview:"
    result = suggest(tiny_backend, " Wond", context=context, ghost_tokens=3, min_probability=0.0)
    assert result.partial == "Wond"
    assert all(w.word.startswith("Wond") for w in result.words)


def test_typing_one_more_letter_reuses_the_prefix(tiny_backend):
    text = "The speaker has a clear sound and the bass is dee"
    suggest(tiny_backend, text, ghost_tokens=0)
    before = tiny_backend.tokens_computed
    suggest(tiny_backend, text + "p", ghost_tokens=0)
    computed = tiny_backend.tokens_computed - before
    # Only the last token or two of the prefix plus the few candidate branches are run, never
    # the whole text again.
    assert computed < len(tiny_backend.encode(text)) + 3 * 10
    prefix, _ = _split(tiny_backend, "", text + "p")
    assert computed < len(prefix) * 4


def test_the_same_text_again_runs_no_model(tiny_backend):
    text = "The battery lasts all day and the scr"
    first = suggest(tiny_backend, text, ghost_tokens=4, min_probability=0.0)
    before = tiny_backend.tokens_computed
    again = suggest(tiny_backend, text, ghost_tokens=4, min_probability=0.0)
    assert tiny_backend.tokens_computed == before
    assert again == first


def test_remembered_positions_do_not_change_suggestions(tiny_gpt2_dir, tiny_backend):
    from autowrite.backends.transformers import TransformersBackend
    from autowrite.loading import load_pretrained

    text = "Great sound, the bass is deep and cle"
    for end in range(len(text) - 8, len(text) + 1):  # type the last letters one by one
        typed = suggest(tiny_backend, text[:end], ghost_tokens=3, min_probability=0.0)
    assert memo(tiny_backend).hits > 0
    fresh = suggest(TransformersBackend(*load_pretrained(tiny_gpt2_dir)), text, ghost_tokens=3, min_probability=0.0)
    assert [w.word for w in typed.words] == [w.word for w in fresh.words]
    assert [w.probability for w in typed.words] == pytest.approx([w.probability for w in fresh.words], abs=1e-5)
    assert typed.ghost == fresh.ghost


def test_the_runner_up_rides_along_when_the_model_runs(tiny_backend):
    prefix, _, result, paths = suggest_words(
        tiny_backend, "Quiet fan, the motor hums and the blades spi", min_probability=0
    )
    assert len(paths) > 1
    # Finishing the best word ran the model; the second candidate's next position came with
    # it, so a letter that makes the second the best finishes it without a call.
    assert memo(tiny_backend).holds([*prefix, *paths[1].ids])


def test_memo_keeps_at_most_its_capacity(tiny_backend):
    small = _Memo(capacity=3)
    sequences = [[1, 2, k] for k in range(5)]
    small.logits_many(tiny_backend, sequences)
    assert len(small.entries) == 3 and small.misses == 5
    small.logits_many(tiny_backend, sequences[-2:])  # the most recent are kept
    assert small.hits == 2


def test_ghost_continues_the_best_word(tiny_backend):
    result = suggest(tiny_backend, "Great value, b", ghost_tokens=6, min_probability=0.0)
    if result.words:
        assert result.ghost.startswith(result.words[0].append) or result.words[0].append.startswith(" ")
    assert "\n" not in result.ghost


def test_real_model_completes_gre_to_great():
    """On the embedded SmolLM2: "gre" after "The sound quality is" suggests "great", not a new word."""
    from autowrite.backends.transformers import TransformersBackend
    from autowrite.loading import embedded_folder, load_pretrained

    backend = TransformersBackend(*load_pretrained(embedded_folder()))
    result = suggest(backend, "The sound quality is gre", ghost_tokens=0)
    words = [w.word for w in result.words]
    assert "great" in words and all(w.startswith("gre") for w in words)
    assert all(w.probability >= 0.01 for w in result.words)
    assert result.words[0].append in {"at", "atly", "ater"}


def _counting_calls(backend, monkeypatch) -> list[int]:
    calls: list[int] = []
    compute = backend.logits_many
    monkeypatch.setattr(backend, "logits_many", lambda sequences: (calls.append(len(sequences)), compute(sequences))[1])
    return calls


def test_words_without_finishing_take_one_model_call(tiny_backend, monkeypatch):
    """The live tab's words come from one call; the best word is finished only from remembered positions."""
    memo(tiny_backend).clear()
    calls = _counting_calls(tiny_backend, monkeypatch)
    text = "My daughter loves the colour and the "
    quick = suggest(tiny_backend, text, ghost_tokens=0, min_probability=0.0, finish=False)
    assert len(calls) == 1
    full = suggest(tiny_backend, text, ghost_tokens=0, min_probability=0.0)
    assert len(calls) == 2  # finishing the best word needs the position after it
    # Once that position is remembered (the ghost of the previous keystroke computes it),
    # the quick words are the finished ones, still without a call.
    again = suggest(tiny_backend, text, ghost_tokens=0, min_probability=0.0, finish=False)
    assert len(calls) == 2
    assert [w.word for w in again.words] == [w.word for w in full.words]
    # Finishing only ever extends the best candidate; the others are the same words.
    best, others = quick.words[0].word, {w.word for w in quick.words[1:]}
    assert any(w.word.startswith(best) for w in full.words)
    assert others <= {w.word for w in full.words}


def test_ghost_steps_wait_for_other_peoples_keystrokes(tiny_backend, monkeypatch):
    """A ghost's decodes let a keystroke in progress go first (here with a long patience)."""
    import threading

    memo(tiny_backend).clear()
    waiting, released, early = threading.Event(), threading.Event(), []

    def patient(limit_s: float = 30) -> None:
        """The real waiting logic, with a limit of 30 s instead of 0.1 s; says when it starts and if it ends early."""
        waiting.set()
        type(tiny_backend).yield_to_keystrokes(tiny_backend, 30)
        if not released.is_set():
            early.append("a step went before the keystroke ended")

    monkeypatch.setattr(tiny_backend, "yield_to_keystrokes", patient)
    prefix, remainder, result, paths = suggest_words(tiny_backend, "The strap broke after a", min_probability=0.0)
    calls = _counting_calls(tiny_backend, monkeypatch)
    done = threading.Event()
    from autowrite.suggest import ghost_text

    worker = threading.Thread(
        target=lambda: (ghost_text(tiny_backend, prefix, paths[0], remainder, tokens=4), done.set()), daemon=True
    )
    with tiny_backend.keystroke():
        worker.start()
        assert waiting.wait(30)  # a safety net: the ghost's first step comes at once, and waits
        assert calls == []  # still waiting for the keystroke
        released.set()
    assert done.wait(30)
    assert calls and not early
