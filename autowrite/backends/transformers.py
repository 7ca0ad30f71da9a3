"""The reference backend: any causal LM from transformers, with a few reusable key/value caches."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch

from autowrite.backends.base import Backend
from autowrite.backends.slots import SlotTable, place_one
from autowrite.scheduling import Traffic


def _truncate(cache, length: int) -> None:
    """Keep the first length positions of a key/value cache (transformers 5 crops by a negative count)."""
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)


class TransformersBackend(Backend):
    """The reference backend: any causal LM from transformers, with a few reusable KV caches."""

    name = "transformers"

    def __init__(self, model, tokenizer, *, max_slots: int = 4, traffic: Traffic | None = None) -> None:
        super().__init__(traffic)
        self.model = model.eval()
        self.tokenizer = tokenizer
        config = model.config
        self.context_length = int(
            getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 1024
        )
        self.eos_token_id = tokenizer.eos_token_id
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self.start_ids = [start] if start is not None else []
        # Why several slots: two people typing at once would otherwise evict each other's
        # prefix on every keystroke. Four keeps memory small for a 135M model.
        self._slot_count = max_slots
        self.forget()
        self.batch_sequences = max_slots  # a generation's variants each keep a slot (for_generation)
        # A generation's variants each keep a slot (for_generation); a typist's candidate words
        # share the typist's slot, so that one keystroke does not evict the other typists.
        self._slot_per_sequence = False

    @property
    def vocab_size(self) -> int:
        return int(self.model.get_output_embeddings().weight.shape[0])

    @property
    def nbytes(self) -> int:
        return sum(p.numel() * p.element_size() for p in self.model.parameters())

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def forget(self) -> None:
        """New slots: their ids (the planner's table), key/value caches and the logits after each."""
        with self.lock:
            self._table = SlotTable(self._slot_count)
            self._caches: list[object | None] = [None] * self._slot_count
            self._answers: list[torch.Tensor | None] = [None] * self._slot_count

    def for_generation(self) -> TransformersBackend:
        """The same model with caches of its own, for one generation.

        A prefix computed in pieces (a typist's keystrokes, another generation) and the same
        prefix computed in one pass differ in the last bits of fp32 on CPU, enough to change a
        sampled token now and then; a shared link must give the same text whatever else the
        server computed before or beside it. The lock is shared: one forward pass at a time.
        """
        sibling = copy.copy(self)
        sibling.forget()  # new slot lists on the sibling; this backend's stay as they are
        sibling._slot_per_sequence = True
        return sibling

    def next_logits(self, ids: Sequence[int]) -> torch.Tensor:
        ids = list(ids)
        if not ids:
            raise ValueError("next_logits needs at least one token id")
        with self.lock, torch.inference_mode():
            return self._logits(ids, taken=set())

    def logits_many(self, sequences: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        if not self._slot_per_sequence:
            return super().logits_many(sequences)
        if any(not s for s in sequences):
            raise ValueError("next_logits needs at least one token id")
        with self.lock, torch.inference_mode():
            taken: set[int] = set()
            return [self._logits(list(s), taken) for s in sequences]

    def _logits(self, ids: list[int], taken: set[int]) -> torch.Tensor:
        """Logits after ids from the slot sharing most of them, skipping the slots in taken (autowrite.backends.slots)."""
        answered = {i for i, answer in enumerate(self._answers) if answer is not None}
        placement = place_one(self._table, ids, taken, answered)
        index, keep = placement.slot, placement.keep
        if keep == len(ids):
            return self._answers[index]
        if placement.source is not None:
            cache = copy.deepcopy(self._caches[placement.source])  # the source's sequence needs its own
        else:
            cache = self._caches[index] if keep else None  # extend it, or cut it back to what it shares
        if cache is not None:
            _truncate(cache, keep)
        else:
            keep = 0
        new = torch.tensor([ids[keep:]], dtype=torch.long)
        out = self.model(input_ids=new, past_key_values=cache, use_cache=True)
        self._table.hold(index, ids)
        self._caches[index], self._answers[index] = out.past_key_values, out.logits[0, -1].float()
        return self._answers[index]
