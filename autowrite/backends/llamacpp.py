"""The fast CPU backend: llama.cpp (through llama-cpp-python's low-level API) on a GGUF file.

llama.cpp keeps a key/value cache per sequence id. Each sequence id is a slot remembering
some token ids, like the reference backend's slots; a request continues the slot that
shares the longest prefix with it, and sequences that branch from one prefix (suggestion
candidates, compare columns, samples) copy that prefix's cache instead of recomputing it,
then decode together in one batch. Typing uses one buffer for all its slots; generations
use a buffer per slot (see GENERATION_SEQUENCES).

Tokenization stays with the transformers tokenizer of the same model, so both backends see
exactly the same token ids, and sampling stays in autowrite.sampling.

Its parts live beside it: llama_context.py (a context's slots, batches and decodes, which
this class opens two of), compute.py (the one compute thread, OpenMP threads), combine.py
(typing calls combined into one decode), slots.py (which slot a sequence takes),
llama_patches.py. one_openmp_team, without_extra_buffers and cpu_count are named
here too, as app.py, the benchmarks and tests/test_remote.py import them from this module.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from pathlib import Path

import torch

from autowrite.backends.combine import Combiner
from autowrite.backends.llama_context import BATCH, SlotContext
from autowrite.backends.llama_patches import silence_llama_logs
from autowrite.backends.slots import SlotTable
from autowrite.scheduling import CAPACITY, Traffic

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


class LlamaCppBackend(SlotContext):
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
