"""The report card: its figures by hand, a model per column, seeds in parts, the probe, the endpoint."""

from __future__ import annotations

import math

import pytest
import torch

from autowrite.backends.base import Sample
from autowrite.catalog import Entry
from autowrite.formats import Task
from autowrite.probe import POOLED, ToneProbe
from autowrite.report import Asked, as_asked, distinct, fit, repetition, report_columns, score
from autowrite.service import Request, Variant
from autowrite.settings import SamplingSettings
from tests.conftest import SHARED_DATA

# --- the figures, by hand ------------------------------------------------------------------


def test_distinct_counts_ngrams_across_the_samples():
    texts = ["the cat sat", "the cat ran"]
    assert distinct(texts, 1) == 4 / 6  # the, cat, sat, ran of six words
    assert distinct(texts, 2) == 3 / 4  # (the cat) twice, (cat sat), (cat ran)
    assert distinct(["one"], 2) is None


def test_repetition_is_the_share_of_4grams_seen_before_in_the_same_sample():
    looping = "it is very good it is very good it is"  # 7 four-grams, 3 of them repeats
    fresh = "a b c d e"  # 2 four-grams, none repeated
    assert repetition([looping]) == 3 / 7
    assert repetition([looping, fresh]) == 3 / 9
    assert repetition(["too short"]) is None
    # Repeats across samples are diversity's business, not repetition's.
    assert repetition(["a b c d", "a b c d"]) == 0.0


def test_fit_is_the_mean_log_probability_per_token_over_samples_that_carry_one():
    samples = [Sample("x", tokens=4, logprob=-8.0), Sample("y", tokens=2, logprob=-1.0), Sample("z", tokens=3)]
    assert fit(samples) == -9.0 / 6
    assert fit([Sample("remote", tokens=0, logprob=None)]) is None


def test_rating_verdicts_and_ad_lengths():
    probe = ToneProbe({POOLED: {"great": 2.0, "broke": -3.0}})
    assert as_asked(probe.positive_probability("great"), 5) is True
    assert as_asked(probe.positive_probability("it broke"), 1) is True
    assert as_asked(0.9, 3) is None
    samples = [Sample("great great", 3, -3.0, True), Sample("it broke", 3, -6.0, False), Sample("great", 2, -1.0, True)]
    review = score(1, "m", "Greedy", samples, Asked(Task.REVIEW, rating=5, category="Books"), probe)
    assert review.read_as_asked == 2 / 3
    assert review.positive == pytest.approx(
        (1 / (1 + math.exp(-4)) + 1 / (1 + math.exp(3)) + 1 / (1 + math.exp(-2))) / 3
    )
    assert review.ended == 2 / 3 and review.words == 5 / 3 and review.fit == -10.0 / 8
    assert review.sample_notes[1].startswith("reads negative")
    ads = [Sample("Sony 55-inch TV"), Sample("A" * 81)]
    ad = score(1, "m", "Greedy", ads, Asked(Task.AD, headline_chars=80), None)
    assert ad.within_headline == 0.5 and ad.read_as_asked is None
    no_probe = score(1, "m", "Greedy", samples, Asked(Task.REVIEW, rating=1), None)
    assert no_probe.read_as_asked is None and no_probe.positive is None


def test_report_columns_take_their_seeds_in_order_and_keep_failures_in_place():
    samples = [Sample(f"column {c} seed {k}") for c in (0, 2) for k in range(3)]
    samples = samples[:3] + [Sample("")] * 3 + samples[3:]
    reports = report_columns(
        [("a", "Greedy"), ("b", "Creative"), ("a", "Precise")], samples, 3, Asked(Task.FREE), {}, {1: "no model b"}
    )
    assert [r.samples[0].text for r in (reports[0], reports[2])] == ["column 0 seed 0", "column 2 seed 0"]
    assert reports[1].error == "no model b" and reports[1].samples == []
    assert reports[1].as_dict()["error"] == "no model b"


def test_a_report_part_way_counts_only_the_finished_samples_each_with_its_seed():
    samples = [Sample("a b", 6, -3.0), Sample("c", 2, -1.0, ended=True), Sample("d e", 4, -2.0)]  # limit 6
    samples += [Sample("")] * 3  # column 2 not started
    reports = report_columns([("a", "Greedy"), ("a", "Creative")], samples, 3, Asked(Task.FREE), {}, {}, limit=6)
    assert [s.text for s in reports[0].samples] == ["a b", "c"] and reports[0].offsets == [0, 1]
    assert reports[0].fit == -4.0 / 8 and reports[1].samples == []
    every = report_columns([("a", "Greedy")], samples[:3], 3, Asked(Task.FREE), {}, {})
    assert len(every[0].samples) == 3 and every[0].offsets == [0, 1, 2]


def test_the_table_shows_the_tasks_own_figures_and_why_a_column_failed():
    from autowrite.ui.report import headers, legend, stopped, table_rows, widths

    review, ad = headers(Task.REVIEW), headers(Task.AD)
    assert "as asked" in review and "in limit" not in review
    assert "in limit" in ad and "as asked" not in ad and "P(pos.)" not in ad
    assert all(len(widths(t)) == len(headers(t)) for t in Task)
    assert all(f"**{h}**" in legend(Task.REVIEW) for h in review[4:])  # a line for each figure shown
    samples = [Sample("great sound", 4, -4.0, True), Sample("it broke", 4, -6.0, True)]
    reports = report_columns([("a", "Greedy"), ("b", "Creative")], samples + [Sample("")] * 2, 2, Asked(Task.AD),
                             {}, {1: "no model b"})  # fmt: skip
    rows = table_rows(reports, Task.AD, 2)
    assert rows[0][:4] == ["1", "a", "Greedy", "2"] and rows[0][-1] == "1.00"
    assert rows[1][4] == "could not write: no model b"
    writing = [samples[0], Sample("it broke and", 4, -6.0)]  # neither ended nor at the limit
    part_way = report_columns([("a", "Greedy")], writing, 2, Asked(Task.AD), {}, {}, limit=99)
    assert table_rows(part_way, Task.AD, 2)[0][3:5] == ["1 of 2", "1.00"]
    assert "Stopped after 3 of 8 samples" in stopped((3, 8))[0] and stopped((3, 8))[1] is None


# --- the probe ------------------------------------------------------------------------------


def test_the_shipped_probe_reads_as_the_evaluation_probe(tmp_path):
    from train.evaluate import SentimentProbe
    from train.readers import read_files

    path = SHARED_DATA / "reviews" / "mdsd_2023_format" / "Books.jsonl.gz"
    records, _ = read_files([path])
    train, test = records[:1200], records[1200:1400]
    trained = SentimentProbe(train)
    exact = trained.tone_probe(min_count=1)
    exact.save(tmp_path / "probe.json.gz")
    loaded = ToneProbe.load(tmp_path / "probe.json.gz")
    for record in test:
        want = trained.positive_probability(record.text, record.category)
        assert exact.positive_probability(record.text, record.category) == pytest.approx(want, abs=1e-9)
        # Four decimals per weight in the file move a probability by far less than a verdict needs.
        assert loaded.positive_probability(record.text, record.category) == pytest.approx(want, abs=1e-3)
    with pytest.raises(ValueError, match="not a tone probe"):
        (tmp_path / "bad.json.gz").write_bytes(b"not gzip")
        ToneProbe.load(tmp_path / "bad.json.gz")


def test_the_review_checkpoint_ships_a_probe_that_reads_held_out_reviews():
    from autowrite.catalog import load_catalog

    entry = next(e for e in load_catalog() if e.task is Task.REVIEW and e.adapter)
    probe = ToneProbe.load(entry.folder / "rating_probe.json.gz")
    assert probe.about["balanced_accuracy_on_test"] > 0.7
    assert (
        probe.positive_probability("Terrible. It broke after a week and support never answered.", "Electronics") < 0.5
    )
    assert probe.positive_probability("Excellent sound, I love it and would buy it again.", "Electronics") > 0.5


# --- the service: a model per column, seeds, failures -----------------------------------------


def test_each_sample_carries_the_log_probability_of_what_was_chosen(tiny_backend):
    from autowrite import decode

    prompt = tiny_backend.encode("The sound")
    greedy = SamplingSettings(do_sample=False, repetition_penalty=1.0, max_new_tokens=7)
    sample = decode.last(decode.sample_many(tiny_backend, prompt, [greedy]))[0]
    ids, total = list(prompt), 0.0
    for _ in range(sample.tokens):  # greedy: the argmax of the raw logits, step by step
        row = tiny_backend.next_logits(ids).float()
        token = int(torch.argmax(row))
        total += float(torch.log_softmax(row, 0)[token])
        ids.append(token)
    assert sample.tokens == 7 and not sample.ended
    assert sample.logprob == pytest.approx(total, abs=1e-4)
    assert sample.text == tiny_backend.decode(ids[len(prompt) :])


def test_columns_on_two_models_each_write_as_they_would_alone(tiny_service):
    settings = SamplingSettings(temperature=0.9, top_k=20, max_new_tokens=8, seed=5)
    request = Request(model="tiny-gpt2", task=Task.REVIEW, text="The battery", category="Books", rating=2)
    columns = [
        Variant("tiny-gpt2", settings),
        Variant("tiny-gptneo", settings),
        Variant("tiny-gpt2", settings.replace(top_k=3)),
    ]
    shown, outputs = tiny_service.compare(request, columns)
    texts = [o.texts for o in outputs][-1]
    for column, text in zip(columns, texts, strict=True):
        alone = tiny_service.generate(Request(**{**request.__dict__, "model": column.model}), column.settings)
        assert text == alone.texts[0]
    assert [c.model for c in shown] == ["tiny-gpt2", "tiny-gptneo", "tiny-gpt2"]
    assert all(c.distribution for c in shown)


def test_a_column_whose_model_cannot_load_says_so_and_the_others_run(tiny_service, tmp_path):
    tiny_service.entries["gone"] = Entry(name="gone", source="local", path=str(tmp_path / "missing"), task=Task.FREE)
    settings = SamplingSettings(max_new_tokens=6)
    request = Request(model="tiny-gpt2", text="Still")
    shown, outputs = tiny_service.compare(request, [Variant("tiny-gpt2", settings), Variant("gone", settings)])
    last = [o for o in outputs][-1]
    assert shown[1].failed and shown[1].note
    assert last.texts[0] and last.texts[1] == ""
    assert not shown[0].failed


def test_a_report_runs_every_column_over_the_same_seeds_with_each_samples_fit(tiny_service):
    settings = SamplingSettings(temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=6, seed=11)
    request = Request(model="tiny-gpt2", text="Good")
    columns = [Variant("tiny-gpt2", settings), Variant("tiny-gpt2", settings.replace(temperature=0.5))]
    failures, outputs = tiny_service.report(request, columns, seeds=3)
    samples = [o.samples for o in outputs][-1]
    assert failures == {} and len(samples) == 6
    for c, column in enumerate(columns):
        for k in range(3):
            alone = tiny_service.generate(request, column.settings.replace(seed=11 + k)).texts[0]
            assert samples[c * 3 + k].text == alone
    assert all(s.logprob is not None and s.logprob < 0 for s in samples)


def test_a_report_refuses_seeds_out_of_range(tiny_service):
    from autowrite.service import UserError

    with pytest.raises(UserError, match="seeds must be between 1 and 32"):
        tiny_service.report(Request(model="tiny-gpt2", text="x"), [Variant("tiny-gpt2", SamplingSettings())], 33)


def test_more_variants_than_a_step_holds_decode_in_parts_each_as_alone():
    from tests import decoding
    from tests.test_batcher import _BatchingBackend

    backend = _BatchingBackend(step_s=0.0)
    prompt = backend.encode("Ten at once")
    variants = [SamplingSettings(seed=s, max_new_tokens=5 + s % 3) for s in range(10)]
    together = decoding.last(decoding.stream_many(backend, prompt, variants))
    assert max(backend.batches) <= backend.batch_sequences
    assert together == [decoding.generate(backend, prompt, v) for v in variants]


def test_a_backend_without_a_batcher_decodes_parts_of_its_slots(tiny_backend):
    from autowrite import decode

    prompt = tiny_backend.encode("Parts")
    variants = [SamplingSettings(seed=s, max_new_tokens=4) for s in range(6)]
    steps = list(decode.sample_many(tiny_backend, prompt, variants))
    assert all(len(step) == 6 for step in steps)
    finished = [s.text for s in steps[-1]]
    assert finished == [decode.last(decode.stream(tiny_backend, prompt, v)) for v in variants]


# --- the endpoint and links -------------------------------------------------------------------


def test_report_and_compare_endpoints_take_a_model_per_column(app_url):
    from gradio_client import Client

    url, service = app_url
    client = Client(url, verbose=False)
    assert "/report" in client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    columns = [{"model": "tiny-gptneo"}, {}]
    compared = client.predict(
        prompt="The battery", model="tiny-gpt2", presets=["Greedy", "Creative"], columns=columns, api_name="/compare"
    )
    assert [c["model"] for c in compared] == ["tiny-gptneo", "tiny-gpt2"]
    reports = client.predict(
        prompt="The battery", model="tiny-gpt2", presets=["Greedy", "Creative"], columns=columns, seeds=2,
        max_new_tokens=5, api_name="/report",
    )  # fmt: skip
    assert [r["model"] for r in reports] == ["tiny-gptneo", "tiny-gpt2"]
    assert all(len(r["samples"]) == 2 and r["fit_logprob_per_token"] < 0 for r in reports)
    assert reports[1]["samples"][0]["text"] == compared[1]["text"][: len(reports[1]["samples"][0]["text"])]
    with pytest.raises(Exception, match="seeds must be a whole number from 1 to 32"):
        client.predict(prompt="x", model="tiny-gpt2", seeds=40, api_name="/report")
    with pytest.raises(Exception, match=r"columns\[0\].model"):
        client.predict(prompt="x", model="tiny-gpt2", presets=["Greedy"], columns=[{"model": 5}], api_name="/report")
    with pytest.raises(Exception, match=r"columns\[0\].model: Unknown model"):
        client.predict(
            prompt="x", model="tiny-gpt2", presets=["Greedy"], columns=[{"model": "nope"}], api_name="/compare"
        )


def test_a_compare_link_carries_each_columns_model_and_the_report(tiny_service):
    from autowrite.ui.share import Column, PageState, from_query, to_query

    settings = tiny_service.settings("tiny-gpt2", max_new_tokens=30)
    state = PageState(
        "tiny-gpt2", Task.FREE, "Hello", settings, tab="compare",
        columns=[Column("Greedy", settings), Column("Creative", settings.replace(temperature=1.1), "tiny-gptneo")],
        report=12, headline_chars=60,
    )  # fmt: skip
    query = to_query(state)
    assert "c2_model=tiny-gptneo" in query and "c1_model" not in query and "report=12" in query
    params = dict(pair.split("=", 1) for pair in query.lstrip("?").split("&"))
    from urllib.parse import unquote_plus

    restored = from_query(tiny_service, {k: unquote_plus(v) for k, v in params.items()})
    assert [c.model for c in restored.columns] == ["", "tiny-gptneo"]
    assert (restored.report, restored.headline_chars, restored.notices) == (12, 60, [])
    bad = from_query(tiny_service, {"tab": "compare", "presets": "Greedy", "c1_model": "<b>nope</b>", "report": "99"})
    assert bad.columns[0].model == "" and len(bad.notices) == 2 and bad.report == 0


def test_min_p_and_the_ngram_ban_travel_through_links_and_the_api(app_url):
    from gradio_client import Client

    url, service = app_url
    client = Client(url, verbose=False)
    text = client.predict(
        prompt="The battery", model="tiny-gpt2", seed=3, max_new_tokens=10, min_p=0.2, no_repeat_ngram_size=2,
        api_name="/generate",
    )  # fmt: skip
    settings = service.settings("tiny-gpt2", seed=3, max_new_tokens=10, min_p=0.2, no_repeat_ngram_size=2)
    assert text == service.generate(Request(model="tiny-gpt2", text="The battery"), settings).texts[0]
    with pytest.raises(Exception, match="min_p must be between 0 and 1"):
        client.predict(prompt="x", model="tiny-gpt2", min_p=2, api_name="/generate")
    from autowrite.ui.share import PageState, from_query, to_query

    query = to_query(PageState("tiny-gpt2", Task.FREE, "Hi", settings))
    assert "min_p=0.2" in query and "no_repeat_ngram_size=2" in query
    params = dict(pair.split("=", 1) for pair in query.lstrip("?").split("&"))
    assert from_query(service, params).settings == settings
