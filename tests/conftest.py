"""Shared fixtures: tiny real models built here (no download), the shared data, a tiny catalog."""

from __future__ import annotations

import gzip
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

# Tests must never reach the network: the Hub is unreachable here and on CI anyway, and a
# test that passes only online is a test that fails for most contributors.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(2)


def review_texts(limit: int = 400) -> list[str]:
    """Real review bodies from the shared data, to train the tiny tokenizer on."""
    path = SHARED_DATA / "reviews" / "mdsd_2023_format" / "Electronics.jsonl.gz"
    if not path.exists():
        return ["This speaker sounds great and the battery lasts all day."] * limit
    texts = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            texts.append(f"{row['title']}. {row['text']}")
            if len(texts) >= limit:
                break
    return texts


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory) -> Path:
    """A byte-level BPE tokenizer (vocab 600) trained on real reviews, saved as a transformers folder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(review_texts(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    folder = tmp_path_factory.mktemp("tiny-tokenizer")
    fast.save_pretrained(folder)
    return folder


def _save_tiny(folder: Path, config, tokenizer_dir: Path) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory, tiny_tokenizer_dir) -> Path:
    """A 2-layer GPT-2 with hidden size 32, saved with safetensors."""
    from transformers import GPT2Config

    config = GPT2Config(vocab_size=600, n_positions=128, n_embd=32, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0)
    return _save_tiny(tmp_path_factory.mktemp("tiny-gpt2"), config, tiny_tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_gptneo_dir(tmp_path_factory, tiny_tokenizer_dir) -> Path:
    """A 2-layer GPT-Neo (global and local attention) with hidden size 32."""
    from transformers import GPTNeoConfig

    config = GPTNeoConfig(
        vocab_size=600,
        max_position_embeddings=128,
        hidden_size=32,
        num_layers=2,
        num_heads=2,
        attention_types=[[["global", "local"], 1]],
        window_size=16,
        bos_token_id=0,
        eos_token_id=0,
    )
    return _save_tiny(tmp_path_factory.mktemp("tiny-gptneo"), config, tiny_tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_backend(tiny_gpt2_dir):
    """The reference backend on the tiny GPT-2, counting the positions it computes (tokens_computed)."""
    from autowrite.loading import load_pretrained
    from tests.decoding import CountingTransformersBackend

    return CountingTransformersBackend(*load_pretrained(tiny_gpt2_dir))


def make_tiny_service(gpt2_dir: Path, gptneo_dir: Path):
    """A service over a catalog of the two tiny models (local folders)."""
    from autowrite.catalog import Entry
    from autowrite.formats import Task
    from autowrite.service import Service
    from autowrite.settings import SamplingSettings

    entries = [
        Entry(
            name="tiny-gpt2",
            source="local",
            path=str(gpt2_dir),
            task=Task.FREE,
            defaults=SamplingSettings(temperature=0.7, top_k=5, top_p=0.9, max_new_tokens=12, seed=3),
            examples=("This speaker", "The battery"),
        ),
        Entry(name="tiny-gptneo", source="local", path=str(gptneo_dir), task=Task.REVIEW, prompt_format="autowrite"),
    ]
    # A random tiny model spreads probability thinly: show every suggestion, however unlikely.
    return Service(entries, read_hub_cards=False, min_probability=0.0)


@pytest.fixture()
def tiny_service(tiny_gpt2_dir, tiny_gptneo_dir):
    """A fresh service over the two tiny models."""
    return make_tiny_service(tiny_gpt2_dir, tiny_gptneo_dir)


CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def launched(service, max_size: int = 32) -> Iterator[tuple[str, object]]:
    """The page and API over a service, launched on loopback as app.py launches it: (url, demo)."""
    from autowrite.ui.app import build_demo, launch_options

    demo = build_demo(service)
    demo.queue(max_size=max_size)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_options(demo))
    try:
        yield f"http://127.0.0.1:{port}/", demo
    finally:
        demo.close()


@pytest.fixture(scope="module")
def app_url(tiny_gpt2_dir, tiny_gptneo_dir):
    """The page and API over the tiny models, launched on loopback as app.py launches it: (url, service)."""
    service = make_tiny_service(tiny_gpt2_dir, tiny_gptneo_dir)
    with launched(service) as (url, _):
        yield url, service


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, with no background traffic."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()
