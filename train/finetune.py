"""Fine-tune a causal LM on reviews, ads or any text with TRL's SFTTrainer: LoRA by default.

    python -m train.finetune --recipe train/recipes/reviews.yaml
    python -m train.finetune --recipe train/recipes/reviews.yaml --resume     # after a kill
    python -m train.finetune --recipe train/recipes/ads.yaml --max-steps 20 --set prepare.max_chars=300

The same script runs under `accelerate launch` and `torchrun`: Accelerate (inside the
Trainer) places tensors and wraps the model; only the main process writes files.
"""

from __future__ import annotations

import logging
import math
import os
import random
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from autowrite.formats import Task, split_example
from autowrite.probe import PROBE_FILE
from autowrite.settings import SettingsError
from train import card as cards
from train import evaluate
from train import probe as tone_probe
from train import state as resume_state
from train.cli import ConfigParser
from train.modeling import (
    choose_precision,
    configure_environment,
    default_threads,
    load_causal_lm,
    resolve_base,
    target_modules_for,
)
from train.prepare import Splits, load_and_prepare, write_splits
from train.readers import Record
from train.recipe import TRAINING_CONFIG, EvalConfig, FinetuneConfig, RecipeError, RunOptions

log = logging.getLogger(__name__)

# Besides the recipe's RESUMABLE_CHANGES, a resumed run may split its batch another way, keeping
# per_device_batch_size x gradient_accumulation_steps: each step then takes the same rows in
# the same order (the sampler does not depend on the batch size) and the loss is still
# normalised over the step's tokens. It matters when a run moves between machines: TRL
# flattens a packed micro-batch into one sequence, which a GPU takes whole at little cost, but
# on CPU attention over four flattened 512-token rows cost 14 s a step where four
# micro-batches of one row cost 8 s.
BATCH_SPLIT = ("per_device_batch_size", "gradient_accumulation_steps")
RUN_CONFIG = "run_config.yaml"  # in run_dir: the recipe a run started with, checked on --resume


def to_example(record: Record, task: Task | str, eos: str) -> dict[str, str]:
    """A prompt/completion pair for SFTTrainer, the completion ending with the end-of-text token."""
    prompt, completion = split_example(task, record.item(task))
    return {"prompt": prompt, "completion": completion + eos}


def _dataset(records: list[Record], task: str, eos: str):
    from datasets import Dataset

    return Dataset.from_list([to_example(r, task, eos) for r in records])


def _lora_config(config: FinetuneConfig, model_type: str):
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_modules or target_modules_for(model_type),
        bias="none",
        task_type="CAUSAL_LM",
    )


def _sft_config(config: FinetuneConfig, bf16: bool, use_cpu: bool, has_eval: bool):
    from trl import SFTConfig

    return SFTConfig(
        output_dir=config.run_dir,
        max_length=config.max_length,
        packing=config.packing,
        completion_only_loss=True,  # the prompt is given at inference; learning it wastes capacity
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.per_device_batch_size,
        per_device_eval_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a ratio of the total steps
        lr_scheduler_type=config.lr_scheduler,
        weight_decay=config.weight_decay,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=config.eval_steps,
        eval_on_start=has_eval,  # the untrained loss anchors the curve and the "loss fell" check
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        seed=config.seed,
        data_seed=config.seed,
        bf16=bf16,
        use_cpu=use_cpu,
        # Recomputing activations costs ~30% more compute; a 135M model's activations fit.
        gradient_checkpointing=False,
        report_to="none",
        dataloader_num_workers=0,  # worker processes would compete with training for 2 cores
        ddp_find_unused_parameters=False,
        # The main process evaluates on the test split after training (~10 min on 2 cores)
        # while the others wait at a barrier; the default 30 min would be too close.
        ddp_timeout=7200,
        save_only_model=False,  # optimizer and scheduler states are what make --resume exact
    )


def _trainer_class():
    """TRL's SFTTrainer with the CPU loss and counts across sessions (train.trainer).

    Imported here, when a run starts, so that reading recipes and the command line needs neither TRL nor torch.
    """
    from train.trainer import CpuLossSFTTrainer

    return CpuLossSFTTrainer


def _intervals_from_arguments():
    """A callback by which a resumed run logs, validates and checkpoints as its own arguments say.

    Trainer restores those intervals from the checkpoint's trainer state and only warns that
    the arguments differ, though a resumed run may change them (RESUMABLE_CHANGES).
    """
    from transformers import TrainerCallback

    class IntervalsFromArguments(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            state.compute_steps(args, state.max_steps)

    return IntervalsFromArguments()


def _last_checkpoint(run_dir: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(run_dir)) if run_dir.is_dir() else None


@dataclass
class RunResult:
    """What a run produced: the output folder, the trainer's log history and its final step."""

    output_dir: Path
    log_history: list[dict]
    global_step: int
    resumed_from: str | None


def main(
    config: FinetuneConfig, *, resume: bool = False, command: str = "", callbacks: list | None = None
) -> RunResult:
    """Prepare data, fine-tune, save the Hub-ready folder and its card; evaluate if configured."""
    configure_environment()
    import torch
    from transformers import set_seed

    torch.set_num_threads(config.threads or default_threads())
    set_seed(config.seed)
    run_dir = Path(config.run_dir)
    # The recipe's state folder is its own run's: a run moved elsewhere (--run-dir runs/my-toys)
    # must not overwrite the state another machine resumes the recipe's run from.
    state_dir = Path(config.state_dir) if config.state_dir and Path(config.state_dir).name == run_dir.name else None
    if resume and state_dir is not None and not _last_checkpoint(run_dir):
        resume_state.restore(state_dir, run_dir)
    checkpoint = _last_checkpoint(run_dir)
    if checkpoint and not resume:
        raise RecipeError(
            f"{run_dir} already has {Path(checkpoint).name}: pass --resume to continue it, or remove the folder"
        )
    if resume and not checkpoint:
        log.warning("--resume: no checkpoint in %s, starting from the beginning", run_dir)
    _check_same_run(run_dir, config, resuming=bool(resume and checkpoint))

    base_folder = resolve_base(config.base_model)
    model, tokenizer = load_causal_lm(base_folder)
    if config.init_adapter:
        model = _with_adapter(model, Path(config.init_adapter))
    # Deterministic preparation: every process computes the same splits from the same seed.
    splits: Splits = load_and_prepare(config.data, config.prepare, report=_main_process_print)
    _check_same_data(run_dir, splits, resuming=bool(resume and checkpoint))
    keeping = [resume_state.keeper(run_dir, state_dir)] if state_dir is not None else []
    trainer = _build_trainer(config, model, tokenizer, splits, [*keeping, *(callbacks or [])])
    if trainer.is_world_process_zero():
        write_splits(splits, run_dir / "data")
        resume_state.write_digests(run_dir, {name: [r.to_json() for r in members] for name, members in splits.items()})
        (run_dir / RUN_CONFIG).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
    trainer.train(resume_from_checkpoint=checkpoint if resume else None)

    if trainer.is_world_process_zero():
        _save(trainer, config, splits, tokenizer, base_folder, command=command or "python -m train.finetune")
        _final_evaluation(config, splits)
    trainer.accelerator.wait_for_everyone()
    return RunResult(
        Path(config.output_dir),
        list(trainer.state.log_history),
        trainer.state.global_step,
        checkpoint if resume else None,
    )


def _with_adapter(model, folder: Path):
    """The base model with a trained LoRA adapter loaded to train on (init_adapter)."""
    from peft import PeftModel

    if not (folder / "adapter_config.json").exists():
        raise RecipeError(f"init_adapter {folder}: no adapter_config.json there")
    return PeftModel.from_pretrained(model, folder, is_trainable=True)


def _build_trainer(config: FinetuneConfig, model, tokenizer, splits: Splits, callbacks: list):
    """The trainer over the training split, validating on a seeded sample of the validation split."""
    import torch

    eos = tokenizer.eos_token or ""
    train_set = _dataset(splits.train, config.task, eos)
    # A seeded sample: the split lists each product's reviews together, so its first rows
    # would be a handful of products.
    eval_records = random.Random(config.seed).sample(splits.val, min(config.eval_examples, len(splits.val)))
    eval_set = _dataset(eval_records, config.task, eos) if eval_records else None
    device, bf16 = choose_precision(config.precision)
    trainer = _trainer_class()(
        model=model,
        args=_sft_config(config, bf16=bf16, use_cpu=device == "cpu", has_eval=eval_set is not None),
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        peft_config=_lora_config(config, model.config.model_type)
        if config.method == "lora" and not config.init_adapter
        else None,
        callbacks=[_intervals_from_arguments(), *callbacks],
    )
    if trainer.is_world_process_zero():
        log.info("bf16 autocast: %s, device: %s, threads: %d", bf16, device, torch.get_num_threads())
    return trainer


def _save(trainer, config: FinetuneConfig, splits: Splits, tokenizer, base_folder: Path, command: str) -> None:
    """Write the Hub-ready folder: weights, the tokenizer if it changed, the resolved recipe, loss curve and card."""
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    trained = trainer.model
    if config.method == "lora":
        # Name the Hub model as the base, not this machine's cache folder, so the adapter
        # loads anywhere (the app maps the id back to the embedded copy when offline).
        trained.peft_config["default"].base_model_name_or_path = config.base_model_id
    trained.save_pretrained(output_dir, safe_serialization=True)
    if config.method == "full" or _tokenizer_changed(tokenizer, base_folder):
        tokenizer.save_pretrained(output_dir)
    (output_dir / TRAINING_CONFIG).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
    history = trainer.state.log_history
    cards.write_loss_curve(history, output_dir / "loss_curve.png")
    stats = cards.TrainStats.from_history(history, splits=splits, global_step=trainer.state.global_step)
    cards.write_card(output_dir, config, command=command, stats=stats)
    if config.task == Task.REVIEW.value:  # the app reads which rating a sample reads as with it
        try:
            tone_probe.build(splits).save(output_dir / PROBE_FILE)
        except ValueError as error:  # data without both low and high ratings: no probe, the rest stands
            log.warning("no tone probe: %s", error)


def _final_evaluation(config: FinetuneConfig, splits: Splits) -> None:
    """Evaluate the saved folder on the run's test split and put the tables in its card, as the recipe asks."""
    if config.final_eval_examples <= 0:
        return
    if not splits.test:
        log.warning("no test split (prepare.test_fraction is 0 or the data is small): evaluation skipped")
        return
    run_dir, output_dir = Path(config.run_dir), Path(config.output_dir)
    results = evaluate.main(
        EvalConfig(
            model=str(output_dir),
            data=[str(run_dir / "data" / "test.jsonl")],
            train_data=[str(run_dir / "data" / "train.jsonl")],
            limit=config.final_eval_examples,
            per_category=config.final_eval_per_category,
            json=str(output_dir / "eval_results.json"),
            samples_per_rating=config.samples_per_rating,
            memorisation_samples=config.memorisation_samples,
            threads=config.threads,
        )
    )
    cards.write_evaluation(results, card=output_dir / "README.md")


def _check_same_run(run_dir: Path, config: FinetuneConfig, resuming: bool) -> None:
    """Refuse to resume a run under a recipe that would train something else."""
    saved_path = run_dir / RUN_CONFIG
    if not resuming or not saved_path.exists():
        return
    saved = FinetuneConfig(**yaml.safe_load(saved_path.read_text(encoding="utf-8"))).trajectory()
    now = config.trajectory()
    changed = sorted(k for k, v in now.items() if k not in BATCH_SPLIT and saved.get(k) != v)
    batch_now, batch_saved = (math.prod(d[k] for k in BATCH_SPLIT) for d in (now, saved))
    if batch_now != batch_saved:
        changed.append(f"batch per step ({' x '.join(BATCH_SPLIT)}: {batch_saved}, now {batch_now})")
    if changed:
        raise RecipeError(
            f"{run_dir} was started with other {', '.join(changed)} (see {saved_path}): "
            "resume it with the same recipe and overrides, or start a new run_dir"
        )


def _check_same_data(run_dir: Path, splits: Splits, resuming: bool) -> None:
    """Refuse to resume on other rows than the run started with: its saved data order would be another's.

    The splits are prepared again at every start, so a changed data file, a meta file left
    behind on another machine (product titles change the rows' bytes) or a reader fix would
    otherwise go on training, from the saved step, on data the first steps never saw.
    """
    if not resuming:
        return
    digests = resume_state.read_digests(run_dir) or {}
    for name, members in splits.items():
        path = run_dir / "data" / f"{name}.jsonl"
        now = [r.to_json() for r in members]
        if not path.exists():
            # A run restored from its state_dir has digests, not the data itself.
            if name in digests and digests[name] != resume_state.split_digest(now):
                raise RecipeError(
                    f"{run_dir} was started on other {name} data ({digests[name]['rows']} rows; {len(now)} now, "
                    "or other texts): the data files, their meta files or the readers changed; "
                    "resume with the data it started on, or start a new run_dir"
                )
            continue
        saved = path.read_text(encoding="utf-8").splitlines()
        if saved != now:
            unseen = len(set(now).difference(saved))
            raise RecipeError(
                f"{run_dir} was started on other {name} data ({len(saved)} rows in {path}; {len(now)} now, "
                f"{unseen} of them not among those): the data files, their meta files or the readers changed; "
                "resume with the data it started on, or start a new run_dir"
            )


def _tokenizer_changed(tokenizer, base_folder: Path) -> bool:
    from transformers import AutoTokenizer

    # A pad token set for batching is not a change worth shipping tokenizer files for; a new
    # vocabulary entry or a different end-of-text token is.
    original = AutoTokenizer.from_pretrained(base_folder)
    return original.get_vocab() != tokenizer.get_vocab() or original.eos_token != tokenizer.eos_token


def _main_process_print(text: str) -> None:
    if int(os.environ.get("RANK", "0")) == 0:
        print(text, flush=True)


def build_parser() -> ConfigParser:
    """The command line: a recipe, --set overrides, a flag for each top-level FinetuneConfig field, and --resume."""
    return ConfigParser(
        FinetuneConfig, RunOptions, prog="python -m train.finetune", description=__doc__.split("\n")[0], recipe=True
    )


def parse_args(argv: list[str]) -> tuple[FinetuneConfig, bool]:
    """A config and the resume flag from command-line arguments."""
    config, run = build_parser().parse(argv)
    return config, run.resume


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        recipe, resume_run = parse_args(sys.argv[1:])
        # The card gives the command that starts the run: a resumed run trains the same.
        started_by = [arg for arg in sys.argv[1:] if arg != "--resume"]
        main(recipe, resume=resume_run, command=shlex.join(["python", "-m", "train.finetune", *started_by]))
    except (RecipeError, SettingsError) as error:
        sys.exit(f"error: {error}")
