"""Rating guidance: off at 1, the contrastive formula on a tiny model, the setting at the edges,
and a guided text's two sequences decoded in the same steps (and, on llama.cpp, the same pass)."""

from __future__ import annotations

import time

import pytest

from autowrite import decode, sampling
from autowrite.backends.transformers import TransformersBackend
from autowrite.batcher import StepBatcher
from autowrite.formats import Task
from autowrite.service import Request, contrast_rating
from autowrite.settings import SamplingSettings, SettingsError
from autowrite.ui.share import PageState, from_query, to_query
from tests.decoding import last

SETTINGS = SamplingSettings(temperature=0.9, top_k=30, top_p=0.95, max_new_tokens=10, seed=11)


def test_guidance_one_gives_todays_text(tiny_backend):
    asked, contrast = tiny_backend.encode("Rating: 1/5\nReview:"), tiny_backend.encode("Rating: 5/5\nReview:")
    plain = last(decode.sample_many(tiny_backend, asked, [SETTINGS]))
    with_contrast = last(
        decode.sample_many(tiny_backend, asked, [SETTINGS], options=decode.Options(contrast_ids=contrast))
    )
    assert plain == with_contrast  # the contrast prompt is not even decoded at g = 1


def test_guided_tokens_follow_the_formula_step_by_step(tiny_backend):
    asked, contrast = tiny_backend.encode("Rating: 1/5\nReview:"), tiny_backend.encode("Rating: 5/5\nReview:")
    guided = SETTINGS.replace(rating_guidance=2.5)
    sample = last(
        decode.sample_many(tiny_backend, asked, [guided], options=decode.Options(inspect=True, contrast_ids=contrast))
    )[0]
    generator = sampling.make_generator(guided.seed)
    text, other = list(asked), list(contrast)
    for step in sample.steps:
        a, c = tiny_backend.next_logits(text).float(), tiny_backend.next_logits(other).float()
        mixed = c + 2.5 * (a - c)
        assert sampling.guide(a, c, 2.5).tolist() == pytest.approx(mixed.tolist())
        token = sampling.choose(mixed, guided, text, generator)
        assert token == step.token_id
        assert step.raw == pytest.approx(float(a.softmax(-1)[token]), rel=1e-4)  # the raw column is unguided
        if token == tiny_backend.eos_token_id:
            break
        text.append(token)
        other.append(token)
    unguided = last(decode.sample_many(tiny_backend, asked, [SETTINGS], options=decode.Options(contrast_ids=contrast)))[
        0
    ]
    assert unguided.text != sample.text  # 2.5 moves this tiny model's text


def test_guided_variants_count_twice_in_a_step():
    guided, plain = SETTINGS.replace(rating_guidance=2.0), SETTINGS
    assert [len(p) for p in decode.parts([guided] * 5, 8, guided=True)] == [4, 1]
    assert [len(p) for p in decode.parts([plain, guided, guided, plain], 4, guided=True)] == [2, 2]
    assert [len(p) for p in decode.parts([guided] * 5, 8)] == [5]


def _recorded(tiny_backend, width: int = 4, step_s: float = 0.002) -> tuple[TransformersBackend, list]:
    """The tiny model with its generations' steps shared, as llama.cpp's are, and each step's sequences recorded.

    step_s: each step takes at least this long, so a generation started meanwhile joins the
    steps under way instead of a new run of them.
    """
    backend = TransformersBackend(tiny_backend.model, tiny_backend.tokenizer, max_slots=width)
    backend.batches_generations = True
    steps: list[list[tuple[int, ...]]] = []
    compute = backend.logits_many

    def logits_many(sequences):
        steps.append([tuple(s) for s in sequences])
        time.sleep(step_s)
        return compute(sequences)

    backend.logits_many = logits_many
    return backend, steps


def test_a_guided_texts_two_sequences_share_every_step_beside_other_texts(tiny_backend):
    """Its prompt and the contrast join a step together (waiting for room for both) and never part."""
    backend, steps = _recorded(tiny_backend, width=4)
    batcher = StepBatcher(backend)
    asked, contrast = backend.encode("Rating: 1/5\nReview:"), backend.encode("Rating: 5/5\nReview:")
    guided = SETTINGS.replace(rating_guidance=2.0, max_new_tokens=30, top_k=0, top_p=1.0)
    options = decode.Options(contrast_ids=contrast)
    before = [SamplingSettings(seed=s, max_new_tokens=6) for s in (1, 2, 3)]  # 3 of the 4 sequences
    columns = decode.sample_many(backend, backend.encode("The blender"), before, batcher=batcher)
    next(columns)  # running: one free sequence, too few for the guided text
    text = decode.sample_many(backend, asked, [guided], batcher=batcher, options=options)
    next(text)  # its first step: after the columns ended
    beside = decode.sample_many(backend, backend.encode("My kettle"), [SETTINGS], batcher=batcher)
    columns, beside, sample = last(columns), last(beside), last(text)[0]

    def sequence_of(step, prompt):
        return [i for i, ids in enumerate(step) if ids[: len(prompt)] == tuple(prompt)]

    pairs = 0
    for step in steps:
        assert len(step) <= 4
        mine, theirs = sequence_of(step, asked), sequence_of(step, contrast)
        assert len(mine) == len(theirs) <= 1
        if mine:  # the contrast right after the prompt, both reading the same text
            assert theirs == [mine[0] + 1] and step[mine[0]][len(asked) :] == step[theirs[0]][len(contrast) :]
            pairs += 1
    assert pairs == sample.tokens  # one step per token, each with both sequences
    assert any(len(step) == 3 for step in steps if sequence_of(step, asked))  # beside another person's text
    alone = last(decode.sample_many(tiny_backend, asked, [guided], options=options))[0]
    assert (sample.text, sample.tokens) == (alone.text, alone.tokens)  # what ran beside it changed nothing


def test_the_service_guides_reviews_at_the_ends_and_says_why_not_elsewhere(tiny_service):
    settings = tiny_service.settings("tiny-gptneo", rating_guidance=2.0, max_new_tokens=6)
    one = Request(model="tiny-gptneo", task=Task.REVIEW, rating=1, category="Books")
    guided = last(tiny_service.stream(one, settings))
    assert guided.warnings == []
    assert guided.texts != last(tiny_service.stream(one, settings.replace(rating_guidance=1.0))).texts
    three = last(tiny_service.stream(Request(model="tiny-gptneo", task=Task.REVIEW, rating=3), settings))
    assert "at 3 stars" in three.warnings[0]
    free = last(tiny_service.stream(Request(model="tiny-gpt2", text="The"), settings))
    assert "applies to reviews" in free.warnings[0]
    assert [contrast_rating(r) for r in range(1, 6)] == [5, 5, None, 1, 1]


@pytest.mark.parametrize("value", [0.5, 5.5, float("nan"), "lots"])
def test_out_of_range_guidance_is_refused_by_name(value):
    with pytest.raises(SettingsError, match="rating_guidance"):
        SamplingSettings.from_mapping({"rating_guidance": value})


def test_links_carry_guidance(tiny_service):
    settings = tiny_service.settings("tiny-gptneo", rating_guidance=2.5)
    state = PageState("tiny-gptneo", Task.REVIEW, "", settings, rating=1)
    query = to_query(state)
    assert "rating_guidance=2.5" in query
    params = dict(p.split("=", 1) for p in query[1:].split("&"))
    assert from_query(tiny_service, params).settings.rating_guidance == 2.5
    bad = from_query(tiny_service, {**params, "rating_guidance": "9"})
    assert bad.settings.rating_guidance == 1.0 and "rating_guidance must be between 1 and 5" in bad.notices[0]


def test_a_link_made_before_guidance_writes_unguided(tiny_service):
    from dataclasses import replace

    entry = tiny_service.entries["tiny-gptneo"]
    tiny_service.entries["tiny-gptneo"] = replace(entry, defaults=entry.defaults.replace(rating_guidance=2.0))
    older = {"model": "tiny-gptneo", "mode": "review", "rating": "1", "temperature": "0.8", "seed": "4"}
    assert from_query(tiny_service, older).settings.rating_guidance == 1.0
    assert from_query(tiny_service, {"model": "tiny-gptneo"}).settings.rating_guidance == 2.0  # the card's
    compare = {**older, "tab": "compare", "presets": "Card defaults,Greedy", "c1_temperature": "0.9"}
    columns = from_query(tiny_service, compare).columns
    assert columns[0].settings.rating_guidance == 1.0  # an older link's column
    fresh = from_query(tiny_service, {**compare, "c1_rating_guidance": "2"}).columns[0]
    assert fresh.settings.rating_guidance == 2.0


# --- on llama.cpp: a step is one pass over the weights -----------------------------------


@pytest.fixture(scope="module")
def fast():
    """The embedded model on llama.cpp, its generation context swapped for one that counts graph passes."""
    pytest.importorskip("llama_cpp")
    from llama_cpp import _internals, llama_cpp

    from autowrite.backends import llamacpp
    from autowrite.loading import embedded_gguf_path, embedded_tokenizer

    backend = llamacpp.LlamaCppBackend(embedded_gguf_path(), embedded_tokenizer())
    generation = backend.for_generation()
    nodes = [0]

    @llama_cpp.ggml_backend_sched_eval_callback
    def count(tensor, ask, user_data):  # noqa: ARG001 - the C callback signature
        nodes[0] += bool(ask)  # asked once per node of each graph llama.cpp computes
        return True

    # The generation context's own settings (LlamaCppBackend._open_context), plus the callback.
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = llamacpp.GENERATION_CONTEXT * llamacpp.GENERATION_SEQUENCES
    params.n_batch = params.n_ubatch = llamacpp.BATCH
    params.n_threads = params.n_threads_batch = generation._threads
    params.n_seq_max = llamacpp.GENERATION_SEQUENCES
    params.kv_unified = False
    params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
    params.cb_eval = count
    generation._ctx = _internals.LlamaContext(model=generation._model, params=params, verbose=False)
    generation.nodes, generation.keep_callback = nodes, count
    generation.forget()
    return backend


def _passes(generation, run) -> list[tuple[int, int]]:
    """Run run(); for each llama.cpp decode it made on the generation context: (tokens, graph passes)."""
    import unittest.mock

    from llama_cpp import llama_cpp

    decode_batch, calls = llama_cpp.llama_decode, []

    def counted(ctx, batch):
        before = generation.nodes[0]
        code = decode_batch(ctx, batch)
        calls.append((batch.n_tokens, generation.nodes[0] - before))
        return code

    with unittest.mock.patch.object(llama_cpp, "llama_decode", counted):
        generation.forget()
        generation.logits_many([[1, 2]])
        generation.logits_many([[1, 2, 3]])  # one token of one sequence: one pass
        run()
    per_pass = calls[1][1]
    return [(tokens, nodes / per_pass) for tokens, nodes in calls[2:]]


def test_llama_cpp_decodes_sequences_in_one_pass_only_in_consecutive_slots(fast):
    """The rule the generation context's slots follow (LlamaCppBackend._assign_packed and _run_plan)."""
    generation = fast.for_generation()
    ids = fast.encode("Category: Books\nRating: 1/5\nReview:")

    def passes(slots: list[int], in_slot_order: bool = True) -> float:
        """Graph passes of a step of one token for each of slots, after their prompts."""

        def run():
            with generation.lock:
                generation.forget()
                generation._run_plan([(slot, ids + [100 + slot], 0) for slot in slots])
                if in_slot_order:
                    generation._run_plan([(slot, ids + [100 + slot, 7], len(ids) + 1) for slot in slots])
                    return
                batch = generation._batch.batch  # the step's tokens in the order given, as llama.cpp reads them
                for j, slot in enumerate(slots):
                    batch.token[j], batch.pos[j], batch.n_seq_id[j], batch.logits[j] = 7, len(ids) + 1, 1, True
                    batch.seq_id[j][0] = slot
                batch.n_tokens = len(slots)
                generation._decode(set(slots))

        return _passes(generation, run)[-1][1]

    assert passes([0, 1]) == passes([1, 0]) == passes([3, 1, 2, 0]) == 1  # written in slot order
    assert passes([0, 2]) == 2  # a gap: a pass for each run of slots
    assert passes([1, 0], in_slot_order=False) == 2  # as llama.cpp reads a batch out of order


def test_every_generation_step_is_one_llama_cpp_pass_as_texts_come_and_go(fast):
    """Guided and unguided texts join and leave the steps; each step still reads the weights once."""
    generation = fast.for_generation()
    batcher = StepBatcher(generation)
    asked = fast.encode("Category: Books\nRating: 1/5\nTitle:\nReview:")
    contrast = fast.encode("Category: Books\nRating: 5/5\nTitle:\nReview:")
    guided = SETTINGS.replace(rating_guidance=2.0, max_new_tokens=16)
    options = decode.Options(contrast_ids=contrast)
    early = [SamplingSettings(seed=s, max_new_tokens=6) for s in (1, 2)]
    other = fast.encode("The kettle")
    results = {}

    def run():
        first = decode.sample_many(generation, other, early, batcher=batcher)
        next(first)
        text = decode.sample_many(generation, asked, [guided], batcher=batcher, options=options)
        next(text)
        beside = decode.sample_many(generation, other, [SETTINGS.replace(max_new_tokens=12)], batcher=batcher)
        next(beside)
        results["early"] = last(first)  # slots 0 and 1 left: the texts above them move down
        later = decode.sample_many(generation, other, [SETTINGS.replace(seed=4, max_new_tokens=4)], batcher=batcher)
        results.update(later=last(later), guided=last(text), beside=last(beside))

    calls = _passes(generation, run)
    steps = [passes for tokens, passes in calls if passes and tokens <= 5]  # one token per sequence
    assert len(steps) >= 16 and set(steps) == {1}
    assert results["guided"] == last(decode.sample_many(generation, asked, [guided], batcher=batcher, options=options))
    assert results["early"] == last(decode.sample_many(generation, other, early, batcher=batcher))


def test_a_guided_prompt_too_long_keeps_its_end_like_its_contrast(fast):
    """The contrast decodes beside the prompt on the generation context, within the same room."""
    from autowrite.local import LocalModel

    model = LocalModel(fast, StepBatcher(fast.for_generation()))
    body = "The sound is clear and the bass is deep. " * 120  # past the 1,024 positions of a generation
    settings = SamplingSettings(do_sample=False, max_new_tokens=4, rating_guidance=2.0)
    *_, (samples, warnings) = model.stream_many(
        f"Rating: 1/5\nReview: {body}", [settings], contrast=f"Rating: 5/5\nReview: {body}"
    )
    assert samples[0].tokens == 4 and "only its last" in warnings[0]
