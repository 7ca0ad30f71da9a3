"""Fixtures for the training pipeline: a tiny Llama next to the shared tiny GPT-2, real data subsets."""

from __future__ import annotations

import csv
import gzip
import itertools
from pathlib import Path

import pytest

# The shared data sits next to the repository (../shared/data); tests read it in place and
# copy only small subsets into tmp folders, never into the repository.
SHARED_DATA = Path(__file__).parents[2].parent / "shared" / "data"
REVIEWS = SHARED_DATA / "reviews"
ADS = SHARED_DATA / "ads" / "amazon_tv_wearable_ads.csv"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; tests that need it are skipped, clearly, where it is absent."""
    if not REVIEWS.is_dir() or not ADS.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory, tiny_tokenizer_dir) -> Path:
    """A 2-layer Llama with hidden size 32 on the tiny byte-level tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    config = LlamaConfig(
        vocab_size=600,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        bos_token_id=0,
        eos_token_id=0,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-llama")
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_tokenizer_dir).save_pretrained(folder)
    return folder


def head_lines(source: Path, target: Path, rows: int) -> Path:
    """The first rows of a gzipped JSON-lines file, written gzipped to target (same name keeps the category)."""
    with gzip.open(source, "rt", encoding="utf-8") as src, gzip.open(target, "wt", encoding="utf-8") as dst:
        dst.writelines(itertools.islice(src, rows))
    return target


@pytest.fixture(scope="session")
def review_subset(shared_data, tmp_path_factory) -> list[Path]:
    """300 real reviews each of two 2023-format categories, in temporary files."""
    folder = tmp_path_factory.mktemp("reviews")
    return [
        head_lines(shared_data / "reviews" / "mdsd_2023_format" / f"{name}.jsonl.gz", folder / f"{name}.jsonl.gz", 300)
        for name in ("Home_and_Kitchen", "Electronics")
    ]


@pytest.fixture(scope="session")
def ads_subset(shared_data, tmp_path_factory) -> Path:
    """The first 300 real ads, as an uncompressed CSV."""
    target = tmp_path_factory.mktemp("ads") / "ads.csv"
    with open(shared_data / "ads" / "amazon_tv_wearable_ads.csv", encoding="utf-8", newline="") as src:
        rows = list(itertools.islice(csv.reader(src), 301))
    with open(target, "w", encoding="utf-8", newline="") as dst:
        csv.writer(dst).writerows(rows)
    return target


def tiny_config(tmp_path: Path, base: Path, data: list[Path], **changes):
    """A 2-step fine-tuning config on a tiny model, writing under tmp_path."""
    from train.recipe import FinetuneConfig

    values = dict(
        task="review",
        # One entry: the files split together, so a few hundred reviews give one even split.
        data=[[str(p) for p in data]],
        output_dir=str(tmp_path / "out"),
        run_dir=str(tmp_path / "run"),
        base_model=str(base),
        base_model_id="tiny/test-model",
        max_length=128,
        per_device_batch_size=2,
        gradient_accumulation_steps=1,
        # A high rate so that two steps move a random model measurably.
        learning_rate=3e-2,
        lora_r=4,
        lora_alpha=8,
        lora_dropout=0.0,
        max_steps=2,
        warmup_ratio=0.0,
        lr_scheduler="constant",
        eval_steps=2,
        eval_examples=8,
        save_steps=2,
        logging_steps=1,
        final_eval_examples=0,
        # One thread: tiny matrices gain nothing from two, and the second thread's waits
        # dominate when the machine is busy.
        threads=1,
    )
    values.update(changes)
    return FinetuneConfig(**values)


@pytest.fixture(scope="session")
def trained_llama(tmp_path_factory, tiny_llama_dir, review_subset):
    """One 2-step LoRA run on the tiny Llama, evaluated at the end; shared by several tests."""
    from train.finetune import main

    tmp_path = tmp_path_factory.mktemp("trained-llama")
    config = tiny_config(
        tmp_path, tiny_llama_dir, review_subset, final_eval_examples=6, samples_per_rating=1, memorisation_samples=4
    )
    return config, main(config, command="python -m train.finetune --recipe tiny.yaml")
