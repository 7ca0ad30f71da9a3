"""The fast CPU backend: llama.cpp (through llama-cpp-python's low-level API) on a GGUF file.

llama.cpp keeps a key/value cache per sequence id. Each sequence id is a slot remembering
some token ids, like the reference backend's slots; a request continues the slot that
shares the longest prefix with it, and sequences that branch from one prefix (suggestion
candidates, compare columns, samples) copy that prefix's cache instead of recomputing it,
then decode together in one batch. Typing uses one buffer for all its slots; generations
use a buffer per slot (see GENERATION_SEQUENCES).

Tokenization stays with the transformers tokenizer of the same model, so both backends see
exactly the same token ids, and sampling stays in autowrite.sampling.

Its parts live beside it: compute.py (the one compute thread, OpenMP threads),
combine.py (typing calls combined into one decode), slots.py (which slot a sequence
takes), llama_patches.py. one_openmp_team, without_extra_buffers and cpu_count are named
here too, as app.py, the benchmarks and tests/test_remote.py import them from this module.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from autowrite.backends.base import Backend
from autowrite.backends.combine import CacheFull, Combiner
from autowrite.backends.compute import on_compute_thread, set_threads
from autowrite.backends.compute import one_openmp_team as one_openmp_team
from autowrite.backends.llama_patches import silence_llama_logs
from autowrite.backends.llama_patches import without_extra_buffers as without_extra_buffers
from autowrite.backends.slots import Placement, SlotTable, common_prefix_length, place_packed, place_sharing
from autowrite.scheduling import CAPACITY, Traffic
from autowrite.scheduling import cpu_count as cpu_count

# Why 48: up to ten suggestion branches at once, and room to keep many people's typing
# prefixes warm. With 16 slots, sixteen people typing in turn evicted each other's
# prefixes: 6.4 tokens computed per keystroke against 3.8 with 48 (and with 64), and the
# median keystroke took 51 against 24 ms. The slots share one buffer, so more cost nothing.
SEQUENCES = 48
# Why 8192: the cache is shared by all sequences; 2048 positions for the longest one and
# the rest for the short branches. About 190 MB of f16 cache for SmolLM2-135M.
CACHE_POSITIONS = 8192
# Generations: Capacity.step_sequences (8: two 4-column compares, or eight people's texts,
# decode in one step), each with a key/value buffer of its own of 1,024 positions for its prompt and new
# tokens: about 190 MB of f16 cache for SmolLM2-135M. Separate buffers, because in a shared
# one a sequence's later tokens can land in cells freed below its earlier ones, and llama.cpp's
# CPU flash attention accumulates in f16 in cell order: the same text then comes out
# differently (18 of 40 staggered sampled requests parted from their solo runs).
GENERATION_SEQUENCES = CAPACITY.step_sequences
GENERATION_CONTEXT = 1024
BATCH = 512
NO_ROOM = 1  # llama_decode's return code: no cells left in the cache for the batch


class LlamaCppBackend(Backend):
    """Next-token logits from llama.cpp with per-sequence prefix reuse and batched branches."""

    name = "llama.cpp"
    batches_generations = True  # every sequence's logits are the same in any batch (tests/test_llamacpp.py)
    batch_sequences = GENERATION_SEQUENCES

    def __init__(
        self,
        gguf: Path,
        tokenizer,
        *,
        context_length: int = 2048,
        threads: int | None = None,
        traffic: Traffic | None = None,
    ) -> None:
        super().__init__(traffic)
        from llama_cpp import _internals, llama_cpp

        silence_llama_logs()
        self.tokenizer = tokenizer
        self.eos_token_id = tokenizer.eos_token_id
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self.start_ids = [start] if start is not None else []
        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = 0
        model_params.use_extra_bufts = False  # see without_extra_buffers
        self._model = _internals.LlamaModel(path_model=str(gguf), params=model_params, verbose=False)
        self.context_length = min(context_length, self._model.n_ctx_train())
        self._threads = threads or CAPACITY.cores
        self._file_bytes = Path(gguf).stat().st_size
        self._n_vocab = self._model.n_vocab()
        self._open_context(max(CACHE_POSITIONS, self.context_length), SEQUENCES, flash_attention=False, shared=True)
        self._generation = copy.copy(self)  # same weights and tokenizer; a context and lock of its own
        self._generation.lock = threading.RLock()
        self._generation.context_length = min(GENERATION_CONTEXT, self.context_length)
        self._generation._open_context(
            self._generation.context_length, GENERATION_SEQUENCES, flash_attention=True, shared=False
        )
        self._generation._generation = self._generation

    def _open_context(self, positions: int, sequences: int, *, flash_attention: bool, shared: bool) -> None:
        """A llama.cpp context on the loaded weights, with a slot per sequence.

        shared: one key/value buffer of this many positions for all sequences, so a prefix
        they share is held once (typing); otherwise a buffer of this many positions per
        sequence, so that each sequence's cells stay in position order (generations).

        Flash attention: on for generations, which start from an empty cache (forget()) and
        decode ~15% faster with it (benchmarks/run.py, against llama-cpp-python, which turns
        it on by itself). Off for typing, whose cache lives long: there the drift described
        in forget() showed in the first steps after a batch with it, a few steps later without.
        """
        from llama_cpp import _internals, llama_cpp

        params = llama_cpp.llama_context_default_params()
        params.n_ctx = positions if shared else positions * sequences
        params.n_batch = BATCH
        params.n_ubatch = BATCH
        params.n_threads = self._threads
        params.n_threads_batch = self._threads
        params.n_seq_max = sequences
        params.kv_unified = shared
        params.flash_attn_type = (
            llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attention else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        params.no_perf = True
        self._ctx = _internals.LlamaContext(model=self._model, params=params, verbose=False)
        self._ctx_threads = self._threads
        self._batch = _internals.LlamaBatch(n_tokens=BATCH, embd=0, n_seq_max=1, verbose=False)
        # The key/value cache is allocated whole when the context opens: f16 keys and values
        # for every layer and position. (llama_state_get_size counts only the cells in use.)
        model = self._model.model
        head_dim = llama_cpp.llama_model_n_embd(model) // llama_cpp.llama_model_n_head(model)
        per_position = 2 * 2 * llama_cpp.llama_model_n_layer(model) * llama_cpp.llama_model_n_head_kv(model) * head_dim
        self._cells = llama_cpp.llama_n_ctx(self._ctx.ctx)
        self._ctx_bytes = per_position * self._cells
        self._shared_buffer = shared
        self._sequences = sequences
        self._combiner = Combiner(sequences, self._compute_locked)
        self._table = SlotTable(sequences)
        self._last_logits: dict[int, torch.Tensor] = {}
        self.tokens_computed = 0  # positions run through the model; tests read it to see reuse
        self.decode_calls = 0  # llama_decode calls; tests read it to see batching

    def for_generation(self) -> LlamaCppBackend:
        """The same weights with a second context: generations start from forget() (a shared
        link must reproduce), and on this context that would also drop every typist's prefix."""
        return self._generation

    @property
    def vocab_size(self) -> int:
        return self._n_vocab

    @property
    def nbytes(self) -> int:
        return self._file_bytes + self._ctx_bytes + (self._generation._ctx_bytes if self._generation is not self else 0)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)

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

    def next_logits(self, ids: Sequence[int]) -> torch.Tensor:
        return self.logits_many([ids])[0]

    def logits_many(self, sequences: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        """Logits after each sequence, computing only what no slot holds, in shared batches.

        On the typing context, calls that arrive from several threads while one decodes
        are combined: the next decode serves all of them at once (up to the slots), so
        people typing at the same time share decodes as generations share steps.
        """
        if not sequences or any(not s for s in sequences):
            raise ValueError("logits_many needs non-empty sequences")
        if len(sequences) > self._sequences:
            raise ValueError(f"at most {self._sequences} sequences at once, got {len(sequences)}")
        if any(len(s) > self.context_length for s in sequences) and not self._shared_buffer:
            raise ValueError(f"at most {self.context_length} tokens per sequence here")
        if not self._shared_buffer:  # generations: StepBatcher already makes one call per step
            return self._compute_locked([[list(s) for s in sequences]])[0]
        return self._combiner.submit([list(s) for s in sequences])

    def _compute_locked(self, calls: list[list[list[int]]]) -> list[list[torch.Tensor]]:
        with self.lock:
            return self._compute(calls)

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
            self.decode_calls += 1
            self.tokens_computed += batch.n_tokens
            for slot, index in finishing:
                pointer = self._ctx.get_logits_ith(index)
                logits = torch.from_numpy(np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy())
                results[slot] = logits
                self._last_logits[slot] = logits
            pending = [(slot, ids, keep) for slot, ids, keep in pending if cursor[slot] < len(ids)]
        return [results.get(slot, self._last_logits.get(slot)) for slot, _, _ in plan]
