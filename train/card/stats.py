"""Numbers about a finished training run, as its model card reports them."""

from __future__ import annotations

from dataclasses import dataclass

from train.prepare import Splits


@dataclass
class TrainStats:
    """Numbers about a finished run, for the card."""

    steps: int
    elapsed_s: float
    train_examples: int
    val_examples: int
    test_examples: int
    first_eval_loss: float | None
    last_eval_loss: float | None
    last_train_loss: float | None
    tokens_seen: int | None

    @classmethod
    def from_history(cls, history: list[dict], *, splits: Splits, global_step: int) -> TrainStats:
        """Stats from the trainer's log history (counted over every session of a resumed run) and the splits."""
        evals = [h["eval_loss"] for h in history if "eval_loss" in h]
        losses = [h["loss"] for h in history if "loss" in h]
        tokens = [h["num_tokens"] for h in history if "num_tokens" in h]
        seconds = [h["train_seconds"] for h in history if "train_seconds" in h]
        return cls(
            steps=global_step,
            elapsed_s=seconds[-1] if seconds else 0.0,
            train_examples=len(splits.train),
            val_examples=len(splits.val),
            test_examples=len(splits.test),
            first_eval_loss=evals[0] if evals else None,
            last_eval_loss=evals[-1] if evals else None,
            last_train_loss=losses[-1] if losses else None,
            tokens_seen=int(tokens[-1]) if tokens else None,
        )
