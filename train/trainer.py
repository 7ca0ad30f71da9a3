"""The fine-tuning trainer: TRL's SFTTrainer, with the model's own loss on CPU and counts that survive a resume.

TRL computes log-probabilities with a chunked LM head (`ChunkedLogProbFunction`) so that
GPUs never hold the full logits. Without Triton it folds each vocabulary tile with torch
ops and multiplies in fp32: py-spy put a third of every CPU step there. On CPU the full
logits of one 512-token row are small, and the model's own loss (the LM head under bf16
autocast, cross-entropy in fp32) costs a fraction of that. GPUs keep TRL's path.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from trl import SFTTrainer


class CpuLossSFTTrainer(SFTTrainer):
    """SFTTrainer; on CPU, the loss from the model's own forward, with TRL's metrics counted alike."""

    def train(self, resume_from_checkpoint=None, **kwargs):
        # A resumed run counts on from its checkpoint: TRL's token count and the training
        # seconds start at zero in each session, and the log history restores neither.
        saved = last_logged(resume_from_checkpoint)
        self._total_train_tokens = int(saved.get("num_tokens", 0))
        self._seconds_before = float(saved.get("train_seconds", 0.0))
        self._session_started = time.monotonic()
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def log(self, logs, start_time=None):
        # Training seconds over every session, in the log history that checkpoints keep.
        logs["train_seconds"] = round(self._seconds_before + time.monotonic() - self._session_started, 1)
        super().log(logs, start_time)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.args.device.type != "cpu" or return_outputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        labels = inputs["labels"]
        model_inputs = {k: v for k, v in inputs.items() if k not in ("labels", "completion_mask")}
        outputs = model(**model_inputs, labels=labels, use_cache=False, num_items_in_batch=num_items_in_batch)
        self._count(inputs, labels, outputs.logits)
        loss = outputs.loss
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            # num_items_in_batch counts the tokens of every process and DDP then averages the
            # gradients over processes: scale back up, as Trainer.compute_loss does.
            loss = loss * self.accelerator.num_processes
        return loss

    @torch.no_grad()
    def _count(self, inputs: dict, labels: torch.Tensor, logits: torch.Tensor) -> None:
        """TRL's mean_token_accuracy and num_tokens, counted over every process as TRL counts them."""
        mode = "train" if self.model.training else "eval"
        targets = labels[:, 1:]
        scored = targets != -100
        correct = (logits[:, :-1].argmax(dim=-1) == targets) & scored
        gather = self.accelerator.gather_for_metrics  # torchrun, accelerate launch
        counts = gather(torch.stack([correct.sum(), scored.sum()]).reshape(1, 2)).reshape(-1, 2).sum(dim=0)
        self._metrics[mode]["mean_token_accuracy"].append((counts[0] / counts[1].clamp(min=1)).item())
        if mode == "train":
            if "attention_mask" in inputs:
                local = inputs["attention_mask"].sum()
            else:
                local = torch.tensor(inputs["position_ids"].numel(), device=labels.device)
            self._total_train_tokens += int(gather(local.reshape(1)).sum().item())
        self._metrics[mode]["num_tokens"] = [self._total_train_tokens]


def last_logged(checkpoint: str | None) -> dict[str, float]:
    """The latest num_tokens and train_seconds in a checkpoint's log history (none without one)."""
    if not checkpoint:
        return {}
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))
    latest: dict[str, float] = {}
    for entry in state.get("log_history", []):
        latest.update({k: entry[k] for k in ("num_tokens", "train_seconds") if k in entry})
    return latest
