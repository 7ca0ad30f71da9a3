"""One llama.cpp context whose sequences hold slots: sequences placed, batches written, decodes run.

The slots' plans are autowrite.backends.slots'; this applies them to the context's key/value
cache, writes the tokens to compute into llama.cpp batches, decodes them on the process's
compute thread (autowrite.backends.compute), and keeps the logits after each slot's last
token. LlamaCppBackend (llamacpp.py) opens the contexts and answers the Backend protocol.
"""

from __future__ import annotations

import numpy as np
import torch

from autowrite.backends.base import Backend
from autowrite.backends.combine import CacheFull
from autowrite.backends.compute import on_compute_thread, set_threads
from autowrite.backends.slots import Placement, SlotTable, common_prefix_length, place_packed, place_sharing

BATCH = 512  # tokens one llama.cpp batch holds
NO_ROOM = 1  # llama_decode's return code: no cells left in the cache for the batch


class SlotContext(Backend):
    """A backend over one llama.cpp context with a slot per sequence id; the subclass opens the context.

    shared_buffer: one key/value buffer for all slots (typing), or a buffer per slot (generations).
    """

    _ctx: object  # llama_cpp._internals.LlamaContext
    _batch: object  # llama_cpp._internals.LlamaBatch of BATCH tokens
    _shared_buffer: bool
    _sequences: int
    _cells: int
    _threads: int  # the most llama.cpp threads a decode may have
    _ctx_threads: int  # the threads the context has now
    _n_vocab: int
    _table: SlotTable
    _last_logits: dict[int, torch.Tensor]

    def forget(self) -> None:
        """Empty the key/value cache and the slots.

        The generation context starts here whenever its StepBatcher starts. In a buffer shared
        by many sequences that have taken and freed cells, llama.cpp (llama-cpp-python 0.3.36)
        computes some positions differently from a new context (logits off by ~0.4): a
        sequence's cells are no longer in position order (see GENERATION_SEQUENCES).
        """
        with self.lock:
            self._ctx.kv_cache_clear()
            self._table = SlotTable(self._sequences)
            self._last_logits.clear()

    def _compute(self, calls: list[list[list[int]]]) -> list[list[torch.Tensor]]:
        """Logits for several calls' sequences in one batch; the lock is held."""
        prefixes = []
        for sequences in calls:
            shared_start = len(sequences[0])
            for other in sequences[1:]:
                shared_start = min(shared_start, common_prefix_length(sequences[0], other))
            held = self._table.longest_prefix(sequences[0])
            if len(sequences) > 1 and shared_start > held + 1:
                # Compute a call's common prefix once; each of its sequences then copies the cache.
                prefixes.append(sequences[0][:shared_start])
        if prefixes:
            self._run(self._assign(prefixes))
        flat = [s for sequences in calls for s in sequences]
        logits = self._run(self._assign(flat))
        results, start = [], 0
        for sequences in calls:
            results.append(logits[start : start + len(sequences)])
            start += len(sequences)
        return results

    def _assign(self, sequences: list[list[int]]) -> list[tuple[int, list[int], int]]:
        """Choose a distinct slot per sequence (autowrite.backends.slots) and prepare its cache; returns (slot, ids, keep)."""
        place = place_sharing if self._shared_buffer else place_packed
        plan = place(self._table, sequences, self._last_logits.keys())
        for placement in plan:
            self._prepare(placement)
        return [(p.slot, p.ids, p.keep) for p in plan]

    def _prepare(self, placement: Placement) -> None:
        """Apply a placement to the cache: copy its source's prefix in, drop the cells past what it keeps."""
        slot, keep = placement.slot, placement.keep
        if placement.source is not None and self._shared_buffer:
            self._ctx.kv_cache_seq_rm(slot, 0, -1)
            self._ctx.kv_cache_seq_cp(placement.source, slot, 0, keep)
        elif placement.source is not None:
            # Buffers of their own copy whole (llama.cpp aborts on a partial copy between them):
            # take the source's buffer; trim then drops what it holds past the prefix.
            self._ctx.kv_cache_seq_cp(placement.source, slot, -1, -1)
            if keep == len(placement.ids):
                self._last_logits[slot] = self._last_logits[placement.source]
        if placement.trim:
            self._ctx.kv_cache_seq_rm(slot, keep, -1)

    def _run(self, plan: list[tuple[int, list[int], int]]) -> list[torch.Tensor]:
        try:
            return self._run_plan(plan)
        except BaseException:
            # The plan's slots already claim their sequences, and some cells may never have
            # been computed: forget them, or a later call would trust those cells (or take the
            # logits of what the slot held before as this sequence's).
            for slot, _, _ in plan:
                self._drop(slot)
            raise

    def _drop(self, slot: int) -> None:
        """Empty one slot: its cells in the cache, the sequence it claims and its last logits."""
        self._ctx.kv_cache_seq_rm(slot, 0, -1)
        self._table.drop(slot)
        self._last_logits.pop(slot, None)

    def _decode(self, protected: set[int]) -> None:
        """Decode the batch; when the shared cache is full, drop the least recently used other slots.

        Slots keep their cells after their typist has gone, so the 8,192 shared cells fill up
        with old texts (five people typing 2,000-token reviews, say); llama.cpp then refuses
        every batch (llama_decode returns 1) until cells are freed.
        """
        from llama_cpp import llama_cpp

        while True:
            code = on_compute_thread(
                llama_cpp.llama_decode, self._ctx.ctx, self._batch.batch, urgent=self._shared_buffer
            )
            if code == 0:
                return
            idle = [i for i, held in enumerate(self._table.ids) if held and i not in protected]
            if code == NO_ROOM and self._shared_buffer and not idle:
                raise CacheFull(f"these {len(protected)} texts need more than the {self._cells} cells of the cache")
            if code != NO_ROOM or not self._shared_buffer:
                raise RuntimeError(f"llama_decode returned {code}")
            self._drop(self._table.least_recent(idle))

    def _run_plan(self, plan: list[tuple[int, list[int], int]]) -> list[torch.Tensor]:
        """Compute each (slot, ids, keep)'s ids[keep:] in batches, in slot order; the logits after each ids.

        With a buffer per sequence, llama.cpp (0.3.36) splits a batch into passes of sequences
        whose ids follow each other by one in batch order, and each pass goes through every
        layer again: two texts in slots 0 and 2, or a guided text's two prompts in slots 1 and
        0, take two passes, and several rows in one pass cost less than in several (on CPU,
        from three rows up). So the batch is written in slot order, and slots.place_packed
        gives a call's n sequences slots 0 to n-1: one pass.
        """
        pending = sorted((entry for entry in plan if entry[2] < len(entry[1])), key=lambda entry: entry[0])
        cursor = {slot: keep for slot, _, keep in pending}
        results: dict[int, torch.Tensor] = {}
        while pending:
            batch = self._batch.batch
            batch.n_tokens = 0
            finishing: list[tuple[int, int]] = []
            for slot, ids, _ in pending:
                start = cursor[slot]
                room = BATCH - batch.n_tokens
                if room <= 0:
                    break
                end = min(len(ids), start + room)
                for position in range(start, end):
                    j = batch.n_tokens
                    batch.token[j] = ids[position]
                    batch.pos[j] = position
                    batch.n_seq_id[j] = 1
                    batch.seq_id[j][0] = slot
                    batch.logits[j] = position == len(ids) - 1
                    batch.n_tokens += 1
                if end == len(ids):
                    finishing.append((slot, batch.n_tokens - 1))
                cursor[slot] = end
            self._ctx_threads = set_threads(self._ctx.ctx, self.traffic, self._threads, self._ctx_threads)
            self._decode(protected={slot for slot, _, _ in plan})
            for slot, index in finishing:
                pointer = self._ctx.get_logits_ith(index)
                logits = torch.from_numpy(np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy())
                results[slot] = logits
                self._last_logits[slot] = logits
            pending = [(slot, ids, keep) for slot, ids, keep in pending if cursor[slot] < len(ids)]
        return [results.get(slot, self._last_logits.get(slot)) for slot, _, _ in plan]
