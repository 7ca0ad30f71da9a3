"""Evaluation: the CLI contract, token-weighted perplexities, the rating check and free text."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from train.card import render_evaluation
from train.evaluate import main, parse_args
from train.metrics import body_nll, tokenize_example
from train.readers import read_records
from train.recipe import EvalConfig

REPO = Path(__file__).parents[2]


def test_cli_contract_on_an_adapter_folder(trained_llama, tmp_path):
    config, result = trained_llama
    test_file = Path(config.run_dir) / "data" / "test.jsonl"
    out = tmp_path / "eval.json"
    command = [sys.executable, "-m", "train.evaluate", "--model", str(result.output_dir), "--data", str(test_file)]
    command += [
        "--data",
        str(test_file),
        "--limit",
        "5",
        "--json",
        str(out),
        "--memorisation-samples",
        "2",
        "--threads",
        "1",
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text())
    assert {"base_perplexity", "finetuned_perplexity", "n_examples", "n_tokens"} <= set(results)
    assert results["n_examples"] == 5
    # The base is the tiny Llama named in training_config.yaml; token counts are the bodies'.
    tokenizer = AutoTokenizer.from_pretrained(config.base_model)
    assert 0 < results["n_tokens"] <= 5 * 256
    assert 1 < results["finetuned_perplexity"] < 2 * 600 and 1 < results["base_perplexity"] < 2 * 600
    assert results["few_shot_perplexity"] is not None  # training split found through the recipe
    assert results["memorisation"]["n_samples"] == 2
    assert tokenizer.eos_token == "<|endoftext|>"


def _perplexities_only(model: Path, data: Path, **options) -> dict:
    """The zero-shot and fine-tuned perplexities alone: no few-shot, copying check or samples."""
    config = EvalConfig(
        model=str(model),
        data=[str(data)],
        few_shot_k=0,
        memorisation_samples=0,
        samples_per_rating=0,
        rating_samples=0,
        threads=1,
    )
    return main(dataclasses.replace(config, **options))


def test_perplexities_are_token_weighted_and_examples_counted(trained_llama):
    config, result = trained_llama
    test_file = Path(config.run_dir) / "data" / "test.jsonl"
    records = read_records(test_file)
    results = _perplexities_only(result.output_dir, test_file, limit=len(records))
    tokenizer = AutoTokenizer.from_pretrained(config.base_model)
    expected_tokens = sum(len(tokenize_example(tokenizer, r, "review", 256).body_ids) for r in records)
    assert results["n_examples"] == len(records) and results["n_tokens"] == expected_tokens
    groups = results["per_group"]
    assert sum(g["n_tokens"] for g in groups.values()) == expected_tokens
    # The overall perplexity is the token-weighted geometric mean of the groups'.
    pooled = math.exp(sum(math.log(g["finetuned"]) * g["n_tokens"] for g in groups.values()) / expected_tokens)
    assert results["finetuned_perplexity"] == pytest.approx(pooled, rel=1e-6)
    assert results["few_shot_perplexity"] is None
    table = render_evaluation(results)
    assert f"{results['finetuned_perplexity']:.2f}" in table and "few-shot" not in table.split("| category")[0]


def test_rating_check_reads_both_models_at_1_and_5_stars(trained_llama, shared_data, tmp_path):
    config, result = trained_llama
    test_file = Path(config.run_dir) / "data" / "test.jsonl"
    # The tiny run's training rows are the first of each file, all 1 and 2 stars; the probe
    # needs praise too, from the same category.
    train_files = []
    for name in ("Electronics", "Home_and_Kitchen"):
        with gzip.open(shared_data / "reviews" / "mdsd_2023_format" / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        picked = [r for r in rows if r["rating"] <= 2][:20] + [r for r in rows if r["rating"] == 5][:20]
        train_files.append(tmp_path / f"{name}.jsonl")  # the file name gives the category
        train_files[-1].write_text("".join(json.dumps(r) + "\n" for r in picked))
    results = _perplexities_only(
        result.output_dir, test_file, limit=4, train_data=[str(f) for f in train_files], rating_samples=2
    )
    conditioning = results["rating_conditioning"]
    assert conditioning["samples_per_category"] == 2
    assert set(conditioning["categories"]) <= {"Electronics", "Home and Kitchen"}
    # The tiny run's test reviews are all 1 and 2 stars: a balanced accuracy needs both.
    assert conditioning["probe_balanced_accuracy_on_test"] is None
    for which in ("base", "finetuned"):
        for rating in ("1", "5"):
            measured = conditioning["models"][which][rating]
            assert 0 <= measured["mean_positive_probability"] <= 1 and 0 <= measured["read_as_asked"] <= 1
    table = render_evaluation(results).split("Rating conditioning")[1]
    assert "| base |" in table and "| fine-tuned |" in table


def test_argument_errors():
    config = parse_args(["--model", "m", "--data", "a", "--data", "b", "--limit", "3", "--json", "o.json"])
    assert (config.data, config.limit, config.json) == (["a", "b"], 3, "o.json")
    with pytest.raises(ValueError):
        EvalConfig(model="m", data=["a"], limit=0)
    with pytest.raises(ValueError, match="no such checkpoint"):
        main(EvalConfig(model="/nonexistent/folder", data=["a"]))


def test_free_text_scores_every_body_token_after_the_end_of_text_token(trained_llama, tmp_path):
    from train.modeling import load_models

    config, result = trained_llama
    texts = ["the sound is clear and the bass is deep", "it broke after a week of daily use"]
    data = tmp_path / "free.txt"
    data.write_text("\n\n".join(texts) + "\n")
    results = _perplexities_only(result.output_dir, data, limit=2, task="free")
    tokenizer = AutoTokenizer.from_pretrained(config.base_model)
    nll, count = 0.0, 0
    with load_models(result.output_dir, base=config.base_model).use("base") as model:
        for text in texts:
            body = tokenizer(text, add_special_tokens=False)["input_ids"]
            nll += body_nll(model, [tokenizer.eos_token_id], body)
            count += len(body)
    assert results["n_examples"] == 2 and results["n_tokens"] == count
    assert results["base_perplexity"] == pytest.approx(math.exp(nll / count), rel=1e-4)
