"""Fine-tuning on tiny models: the loss falls, the folder loads, runs resume, recipes parse, torchrun works."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from transformers import TrainerCallback

from autowrite.cards import read_card_metadata
from train.card import rewrite_card
from train.cli import load_recipe
from train.finetune import main, parse_args
from train.prepare import data_files
from train.recipe import FinetuneConfig, RecipeError

from .conftest import tiny_config

REPO = Path(__file__).parents[2]


def _eval_losses(history: list[dict]) -> list[float]:
    return [h["eval_loss"] for h in history if "eval_loss" in h]


def test_lora_llama_two_steps_lowers_loss_and_writes_a_loadable_folder(trained_llama):
    config, result = trained_llama
    assert result.global_step == 2
    losses = _eval_losses(result.log_history)
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0] - 0.01

    out = result.output_dir
    names = {p.name for p in out.iterdir()}
    assert {
        "adapter_model.safetensors",
        "adapter_config.json",
        "README.md",
        "training_config.yaml",
        "eval_results.json",
    } <= names
    # Hub-ready: no trainer state, no pickles, no unchanged tokenizer copy.
    assert not names & {"optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json", "tokenizer.json"}
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == "tiny/test-model"
    assert set(adapter["target_modules"]) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    weights = load_file(out / "adapter_model.safetensors")
    lora_b = [w for name, w in weights.items() if "lora_B" in name]
    assert lora_b and any(w.abs().sum() > 0 for w in lora_b)  # B starts at zero: it trained

    # The folder loads on its base, and the evaluation ran on it at the end of training.
    from train.modeling import load_models

    models = load_models(out, base=config.base_model)
    ids = models.tokenizer("Category: Electronics\nRating: 5/5\nTitle: Good\nReview:", return_tensors="pt")
    with models.use("finetuned") as model:
        tuned = model(**ids).logits
    with models.use("base") as model:
        base = model(**ids).logits
    assert not torch.allclose(tuned, base)
    results = json.loads((out / "eval_results.json").read_text())
    assert results["n_examples"] == 6 and results["finetuned_perplexity"] > 1


def test_model_card_metadata_is_what_the_app_reads(trained_llama):
    config, result = trained_llama
    card = ModelCard.load(result.output_dir / "README.md")
    data = card.data.to_dict()
    assert data["base_model"] == "tiny/test-model"
    assert data["library_name"] == "peft" and data["license"] == "apache-2.0"
    assert "review" in data["tags"] and "lora" in data["tags"]
    info = read_card_metadata(data)
    assert info.defaults == {
        "temperature": 0.8,
        "top_k": 50,
        "top_p": 0.95,
        "repetition_penalty": 1.2,
        "max_new_tokens": 120,
        "do_sample": True,
    }
    assert info.examples[0] == "Category: Electronics\nRating: 5/5\nTitle: Works great\nReview:"
    text = card.text
    assert "python -m train.finetune --recipe tiny.yaml" in text
    assert "| base, zero-shot |" in text and "| fine-tuned |" in text  # the eval table
    assert (result.output_dir / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    # Rendering again from the saved recipe and stats reproduces the card, evaluation included.
    before = (result.output_dir / "README.md").read_text()
    rewrite_card(result.output_dir)
    assert (result.output_dir / "README.md").read_text() == before


def test_gpt2_lora_targets_conv1d_layers(tmp_path, tiny_gpt2_dir, ads_subset):
    config = tiny_config(tmp_path, tiny_gpt2_dir, [ads_subset], task="ad", max_length=64)
    result = main(config)
    adapter = json.loads((result.output_dir / "adapter_config.json").read_text())
    assert set(adapter["target_modules"]) == {"c_attn", "c_proj", "c_fc"}
    losses = _eval_losses(result.log_history)
    assert losses[-1] < losses[0]


def test_full_fine_tune_saves_model_and_tokenizer(tmp_path, tiny_gpt2_dir, ads_subset):
    config = tiny_config(
        tmp_path, tiny_gpt2_dir, [ads_subset], task="ad", max_length=64, method="full", learning_rate=1e-3
    )
    result = main(config)
    names = {p.name for p in result.output_dir.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= names
    assert "adapter_config.json" not in names
    before = load_file(tiny_gpt2_dir / "model.safetensors")
    after = load_file(result.output_dir / "model.safetensors")
    assert not torch.equal(before["transformer.h.0.mlp.c_fc.weight"], after["transformer.h.0.mlp.c_fc.weight"])


def test_cpu_loss_and_gradients_equal_trl_chunked_head(tmp_path, tiny_llama_dir, review_subset):
    """On CPU the loss comes from the model's own forward; it must be TRL's loss, not an approximation."""
    from train.finetune import _dataset, _lora_config, _sft_config, _trainer_class
    from train.modeling import load_causal_lm
    from train.prepare import load_and_prepare

    config = tiny_config(tmp_path, tiny_llama_dir, review_subset)
    model, tokenizer = load_causal_lm(tiny_llama_dir)
    splits = load_and_prepare(config.data, config.prepare, report=lambda _: None)
    cls = _trainer_class()
    trainer = cls(
        model=model,
        args=_sft_config(config, bf16=False, use_cpu=True, has_eval=False),
        train_dataset=_dataset(splits.train[:16], config.task, tokenizer.eos_token),
        processing_class=tokenizer,
        peft_config=_lora_config(config, model.config.model_type),
    )
    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    assert "position_ids" in batch  # packed rows: several reviews, positions restarting per review
    # Twice the batch's own count, as under gradient accumulation: the loss must divide by it.
    scored = 2 * (batch["labels"][:, 1:] != -100).sum()

    def loss_and_grads(compute_loss):
        loss = compute_loss(trainer, trainer.model, dict(batch), num_items_in_batch=scored)
        loss.backward()
        trainable = [p for p in trainer.model.parameters() if p.requires_grad]
        grads = [p.grad.clone() for p in trainable]
        for p in trainable:
            p.grad = None
        return loss.detach(), grads

    ours, our_grads = loss_and_grads(cls.compute_loss)
    theirs, their_grads = loss_and_grads(cls.__mro__[1].compute_loss)
    assert torch.allclose(ours, theirs, rtol=1e-5)
    assert any(g.abs().sum() > 0 for g in our_grads)
    for mine, reference in zip(our_grads, their_grads, strict=True):
        assert torch.allclose(mine, reference, rtol=1e-4, atol=1e-7)
    assert trainer._metrics["train"]["num_tokens"] == [2 * batch["input_ids"].numel()]


class _Interrupt(TrainerCallback):
    """Stops the process right after the first checkpoint is written, as a kill would."""

    def on_save(self, args, state, control, **kwargs):
        raise KeyboardInterrupt


def test_interrupted_run_resumes_from_its_saved_step(tmp_path, tiny_llama_dir, review_subset):
    changes = dict(max_steps=4, save_steps=2, eval_steps=4, lora_dropout=0.0)
    interrupted = tiny_config(tmp_path / "a", tiny_llama_dir, review_subset, **changes)
    with pytest.raises(KeyboardInterrupt):
        main(interrupted, callbacks=[_Interrupt()])
    assert (Path(interrupted.run_dir) / "checkpoint-2").is_dir()
    assert not Path(interrupted.output_dir).exists()
    with pytest.raises(RecipeError, match="--resume"):
        main(interrupted)
    # Resuming under another schedule or other data would not be this run any more.
    with pytest.raises(RecipeError, match="started with other learning_rate"):
        main(dataclasses.replace(interrupted, learning_rate=1e-3), resume=True)

    with pytest.raises(
        RecipeError, match=r"batch per step \(per_device_batch_size x gradient_accumulation_steps: 2, now 4\)"
    ):
        main(dataclasses.replace(interrupted, gradient_accumulation_steps=2), resume=True)

    saved_train = Path(interrupted.run_dir) / "data" / "train.jsonl"
    rows = saved_train.read_text().splitlines(keepends=True)
    saved_train.write_text("".join(rows[1:]))  # as if the run had started on other data
    with pytest.raises(
        RecipeError,
        match=rf"started on other train data \({len(rows) - 1} rows .*; {len(rows)} now, 1 of them not among those\)",
    ):
        main(interrupted, resume=True)
    saved_train.write_text("".join(rows))

    resumed = main(dataclasses.replace(interrupted, threads=2, save_steps=1), resume=True)
    assert resumed.resumed_from.endswith("checkpoint-2")
    # It checkpoints as its own arguments say, not as the run it continues did (every 2 steps).
    assert (Path(interrupted.run_dir) / "checkpoint-3").is_dir()
    assert resumed.global_step == 4
    steps = [h["step"] for h in resumed.log_history if "loss" in h]
    assert steps == [1, 2, 3, 4]  # steps 1-2 come from the restored trainer state
    # Tokens and training time count on over the sessions, as if the run had not stopped.
    tokens = [h["num_tokens"] for h in resumed.log_history if "loss" in h]
    assert tokens == sorted(tokens) and tokens[2] > tokens[1]
    seconds = [h["train_seconds"] for h in resumed.log_history if "loss" in h]
    assert seconds == sorted(seconds) and seconds[0] > 0
    stats = json.loads((Path(interrupted.output_dir) / "training_stats.json").read_text())
    assert stats["stats"]["tokens_seen"] == tokens[-1] and stats["stats"]["elapsed_s"] >= seconds[-1]

    straight = main(tiny_config(tmp_path / "b", tiny_llama_dir, review_subset, **changes))
    a = load_file(Path(interrupted.output_dir) / "adapter_model.safetensors")
    b = load_file(straight.output_dir / "adapter_model.safetensors")
    assert tokens[-1] == [h["num_tokens"] for h in straight.log_history if "loss" in h][-1]
    # Same data order, optimizer and scheduler state: the resumed run ends where an
    # uninterrupted one does.
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5)


def test_a_run_goes_on_on_another_machine_from_its_state_dir(tmp_path, tiny_llama_dir, review_subset):
    """The state git holds (no run_dir, no data) is enough to resume exactly."""
    changes = dict(max_steps=4, save_steps=2, eval_steps=4, lora_dropout=0.0, precision="fp32")
    state_dir = tmp_path / "repo" / "train" / "state" / "run"  # the run of that name: tiny_config's run_dir
    interrupted = tiny_config(tmp_path / "a", tiny_llama_dir, review_subset, state_dir=str(state_dir), **changes)
    with pytest.raises(KeyboardInterrupt):
        main(interrupted, callbacks=[_Interrupt()])
    kept = sorted(p.relative_to(state_dir).as_posix() for p in state_dir.rglob("*") if p.is_file())
    assert "checkpoint-2/optimizer.pt" in kept and "checkpoint-2/adapter_model.safetensors" in kept
    assert "run_config.yaml" in kept and "data_digests.json" in kept
    assert not [name for name in kept if name.endswith(".jsonl")]  # the data itself stays where it is read
    shutil.rmtree(interrupted.run_dir)  # another machine: nothing but the repository

    digests = json.loads((state_dir / "data_digests.json").read_text())
    (state_dir / "data_digests.json").write_text(json.dumps({**digests, "train": {"rows": 1, "sha256": "0"}}))
    with pytest.raises(RecipeError, match=r"started on other train data \(1 rows"):
        main(interrupted, resume=True)
    (state_dir / "data_digests.json").write_text(json.dumps(digests))
    shutil.rmtree(interrupted.run_dir)

    resumed = main(interrupted, resume=True)
    assert resumed.resumed_from.endswith("checkpoint-2") and resumed.global_step == 4
    assert sorted(p.name for p in state_dir.glob("checkpoint-*")) == ["checkpoint-4"]
    # The same recipe run elsewhere (another --run-dir) leaves the recipe's state alone.
    elsewhere = dict(state_dir=str(state_dir), run_dir=str(tmp_path / "b" / "elsewhere"))
    straight = main(tiny_config(tmp_path / "b", tiny_llama_dir, review_subset, **elsewhere, **changes))
    assert sorted(p.name for p in state_dir.glob("checkpoint-*")) == ["checkpoint-4"]
    assert (state_dir / "checkpoint-4" / "trainer_state.json").stat().st_mtime < straight.output_dir.stat().st_mtime
    a = load_file(Path(interrupted.output_dir) / "adapter_model.safetensors")
    b = load_file(straight.output_dir / "adapter_model.safetensors")
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5)


def test_a_run_can_start_from_a_trained_adapter(tmp_path, tiny_llama_dir, review_subset):
    first = main(tiny_config(tmp_path / "a", tiny_llama_dir, review_subset, max_steps=2, lora_dropout=0.0))
    trained = load_file(first.output_dir / "adapter_model.safetensors")
    # At a learning rate near zero the continued run keeps the adapter it started from;
    # a fresh adapter's B matrices would be zeros.
    still = tiny_config(tmp_path / "b", tiny_llama_dir, review_subset, max_steps=1, learning_rate=1e-12)
    continued = main(dataclasses.replace(still, init_adapter=str(first.output_dir), lora_r=4))
    kept = load_file(continued.output_dir / "adapter_model.safetensors")
    assert kept.keys() == trained.keys()
    assert any(name.endswith("lora_B.weight") and trained[name].abs().sum() > 0 for name in trained)
    for name in trained:
        torch.testing.assert_close(kept[name], trained[name])
    with pytest.raises(RecipeError, match="init_adapter"):
        dataclasses.replace(still, init_adapter=str(first.output_dir), method="full")


def test_resumed_run_may_split_its_batch_another_way(tmp_path, tiny_llama_dir, review_subset):
    """A run started with 2 rows per micro-batch (a GPU's split) resumes with 1 row x 2 (a CPU's).

    In fp32 the result equals a run that never stopped; under bf16 autocast the two splits
    round differently, which Adam's first steps amplify past any useful tolerance.
    """
    changes = dict(max_steps=4, save_steps=2, eval_steps=4, lora_dropout=0.0, precision="fp32")
    interrupted = tiny_config(tmp_path / "a", tiny_llama_dir, review_subset, **changes)
    assert (interrupted.per_device_batch_size, interrupted.gradient_accumulation_steps) == (2, 1)
    with pytest.raises(KeyboardInterrupt):
        main(interrupted, callbacks=[_Interrupt()])
    resplit = dataclasses.replace(interrupted, per_device_batch_size=1, gradient_accumulation_steps=2)
    resumed = main(resplit, resume=True)
    assert resumed.global_step == 4
    straight = main(tiny_config(tmp_path / "b", tiny_llama_dir, review_subset, **changes))
    # The same rows at each step: the same training losses, steps 3 and 4 from the resumed split.
    losses = [h["loss"] for h in resumed.log_history if "loss" in h]
    straight_losses = [h["loss"] for h in straight.log_history if "loss" in h]
    assert losses == pytest.approx(straight_losses, rel=1e-5)
    a = load_file(Path(interrupted.output_dir) / "adapter_model.safetensors")
    b = load_file(straight.output_dir / "adapter_model.safetensors")
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5)


def test_recipe_and_command_line_overrides(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        yaml.safe_dump({"task": "ad", "data": ["a.csv"], "learning_rate": 1e-4, "prepare": {"max_chars": 300}})
    )
    config, resume = parse_args(
        [
            "--recipe",
            str(recipe),
            "--max-steps",
            "7",
            "--set",
            "prepare.max_chars=500",
            "--set",
            "card.top_k=5",
            "--full",
            "--resume",
        ]
    )
    assert (config.task, config.max_steps, config.method, resume) == ("ad", 7, "full", True)
    assert config.prepare.max_chars == 500 and config.prepare.task == "ad"
    assert config.card.sampling.top_k == 5 and config.learning_rate == 1e-4
    config, _ = parse_args(["--recipe", str(recipe), "--data", "b.csv", "--data", "c.csv"])
    assert config.data == ["b.csv", "c.csv"]

    with pytest.raises(RecipeError, match="unknown recipe field"):
        load_recipe(recipe, {"learning_rat": 1})
    with pytest.raises(RecipeError, match="method"):
        FinetuneConfig(data=["x"], method="qlora")
    with pytest.raises(RecipeError, match="no data"):
        FinetuneConfig()
    with pytest.raises(RecipeError, match="learning_rate"):
        FinetuneConfig(data=["x"], learning_rate=3)
    with pytest.raises(RecipeError, match="learning_rate must be a number, got 'fast'"):
        FinetuneConfig(data=["x"], learning_rate="fast")
    with pytest.raises(RecipeError, match="warmup_ratio"):
        FinetuneConfig(data=["x"], warmup_ratio=10)
    # 5e-5 is a string to YAML 1.1, on the command line as in a recipe: it means the number.
    config, _ = parse_args(["--data", "x.txt", "--learning-rate", "5e-5"])
    assert config.learning_rate == 5e-5


def test_shipped_recipes_parse():
    for name in ("reviews", "ads"):
        config = load_recipe(REPO / "train" / "recipes" / f"{name}.yaml")
        assert config.method == "lora" and config.base_model == "embedded"
        assert config.output_dir.startswith("checkpoints/autowrite-") and config.run_dir.startswith("runs/")
        assert all(str(path).startswith("../shared/data/") for path in data_files(config.data))


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(tmp_path, tiny_llama_dir, review_subset, trained_llama):
    config = tiny_config(tmp_path, tiny_llama_dir, review_subset, threads=1)
    recipe = tmp_path / "tiny.yaml"
    values = config.to_dict()
    recipe.write_text(yaml.safe_dump(values))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533"]
    command += ["-m", "train.finetune", "--recipe", str(recipe)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    state = json.loads((tmp_path / "run" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    assert (tmp_path / "out" / "adapter_model.safetensors").exists()
    # Each process took its own batch of 2 packed rows per step, and the trainer counted both:
    # twice the tokens of the same step in one process.
    single = [h for h in trained_llama[1].log_history if "loss" in h]
    double = [h for h in state["log_history"] if "loss" in h]
    assert double[0]["num_tokens"] > 1.5 * single[0]["num_tokens"]
    # The loss is a mean over every process's tokens, not that mean split across processes:
    # the same untrained model's first loss is about the same in one process and in two.
    assert double[0]["loss"] == pytest.approx(single[0]["loss"], rel=0.25)


def test_a_run_without_a_test_split_skips_the_final_evaluation(tmp_path, tiny_llama_dir, review_subset):
    config = tiny_config(tmp_path, tiny_llama_dir, review_subset, max_steps=1, final_eval_examples=6)
    config.prepare.test_fraction = 0.0
    result = main(config)
    assert (result.output_dir / "adapter_model.safetensors").exists()
    assert not (result.output_dir / "eval_results.json").exists()
