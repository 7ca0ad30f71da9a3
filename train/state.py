"""The resume state of a run, kept where git holds it, so a long run goes on on another machine.

A run's checkpoints live in its git-ignored run_dir with the prepared data. A run with a
`state_dir` also keeps its newest checkpoint's resume files there: the adapter, the
optimizer, scheduler and random states and the trainer state (tens of MB for a LoRA run),
the recipe it started with, and a digest of each split instead of the split itself (the
data is read from its own folder and never copied into the repository). On another
machine, `--resume` finds no checkpoint in the empty run_dir, restores this one, and checks
that the splits it prepares have the same digests.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

# What Trainer reads back to resume exactly; tokenizer files and the model card are not needed.
RESUME_FILES = (
    "adapter_config.json",
    "adapter_model.safetensors",
    "model.safetensors",
    "optimizer.pt",
    "scheduler.pt",
    "scaler.pt",
    "rng_state.pth",
    "trainer_state.json",
    "training_args.bin",
)
DIGESTS = "data_digests.json"
CHECKPOINT_PREFIX = "checkpoint-"


def split_digest(lines: list[str]) -> dict[str, object]:
    """Row count and SHA-256 of a split's JSON lines, in order."""
    digest = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
    return {"rows": len(lines), "sha256": digest}


def write_digests(folder: Path, splits: dict[str, list[str]]) -> None:
    """The digest of each split, next to the run's recipe."""
    folder.mkdir(parents=True, exist_ok=True)
    digests = {name: split_digest(lines) for name, lines in splits.items()}
    (folder / DIGESTS).write_text(json.dumps(digests, indent=2) + "\n", encoding="utf-8")


def read_digests(folder: Path) -> dict[str, dict] | None:
    """The saved digests, or None where the folder has none."""
    path = folder / DIGESTS
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def keep(checkpoint: Path, run_dir: Path, state_dir: Path) -> Path:
    """Copy a checkpoint's resume files and the run's recipe and digests into state_dir, replacing older ones."""
    target = state_dir / checkpoint.name
    staging = state_dir / f".{checkpoint.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in RESUME_FILES:
        if (checkpoint / name).exists():
            shutil.copy2(checkpoint / name, staging / name)
    for name in ("run_config.yaml", DIGESTS):
        if (run_dir / name).exists():
            shutil.copy2(run_dir / name, state_dir / name)
    # The new checkpoint is whole before the old one goes: a kill mid-copy leaves the old one.
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    for older in state_dir.glob(f"{CHECKPOINT_PREFIX}*"):
        if older != target:
            shutil.rmtree(older)
    return target


def newest(state_dir: Path) -> Path | None:
    """The checkpoint kept in state_dir, if any."""
    found = sorted(state_dir.glob(f"{CHECKPOINT_PREFIX}*"), key=lambda p: int(p.name.removeprefix(CHECKPOINT_PREFIX)))
    return found[-1] if found else None


def restore(state_dir: Path, run_dir: Path) -> Path | None:
    """Copy the kept checkpoint, recipe and digests into an empty run_dir; the checkpoint's path there."""
    kept = newest(state_dir)
    if kept is None:
        return None
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(kept, run_dir / kept.name, dirs_exist_ok=True)
    for name in ("run_config.yaml", DIGESTS):
        if (state_dir / name).exists():
            shutil.copy2(state_dir / name, run_dir / name)
    log.info("restored %s from %s", kept.name, state_dir)
    return run_dir / kept.name


def keeper(run_dir: Path, state_dir: Path):
    """A Trainer callback that keeps each new checkpoint in state_dir (on the main process)."""
    from transformers import TrainerCallback

    class KeepResumeState(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                checkpoint = Path(args.output_dir) / f"{CHECKPOINT_PREFIX}{state.global_step}"
                if checkpoint.is_dir():
                    keep(checkpoint, run_dir, state_dir)

    return KeepResumeState()
