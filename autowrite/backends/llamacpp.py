"""The fast CPU backend: llama.cpp (through llama-cpp-python's low-level API) on a GGUF file.

llama.cpp keeps a key/value cache per sequence id. Each sequence id is a slot remembering
some token ids, like the reference backend's slots; a request continues the slot that
shares the longest prefix with it, and sequences that branch from one prefix (suggestion
candidates, compare columns, samples) copy that prefix's cache instead of recomputing it,
then decode together in one batch. Typing uses one buffer for all its slots; generations
use a buffer per slot (see GENERATION_SEQUENCES).

Tokenization stays with the transformers tokenizer of the same model, so both backends see
exactly the same token ids, and sampling stays in autowrite.sampling.
"""

from __future__ import annotations

import concurrent.futures
import copy
import ctypes
import heapq
import itertools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from autowrite.backends.base import Backend, common_prefix_length
from autowrite.traffic import Traffic

T = TypeVar("T")

# Why 48: up to ten suggestion branches at once, and room to keep many people's typing
# prefixes warm. With 16 slots, sixteen people typing in turn evicted each other's
# prefixes: 6.4 tokens computed per keystroke against 3.8 with 48 (and with 64), and the
# median keystroke took 51 against 24 ms. The slots share one buffer, so more cost nothing.
SEQUENCES = 48
# Why 8192: the cache is shared by all sequences; 2048 positions for the longest one and
# the rest for the short branches. About 190 MB of f16 cache for SmolLM2-135M.
CACHE_POSITIONS = 8192
# Generations: 8 sequences (two 4-column compares, or eight people's texts, decode in one
# step), each with a key/value buffer of its own of 1,024 positions for its prompt and new
# tokens: about 190 MB of f16 cache for SmolLM2-135M. Separate buffers, because in a shared
# one a sequence's later tokens can land in cells freed below its earlier ones, and llama.cpp's
# CPU flash attention accumulates in f16 in cell order: the same text then comes out
# differently (18 of 40 staggered sampled requests parted from their solo runs).
GENERATION_SEQUENCES = 8
GENERATION_CONTEXT = 1024
BATCH = 512
NO_ROOM = 1  # llama_decode's return code: no cells left in the cache for the batch


class CacheFull(RuntimeError):
    """The sequences of one decode need more cells than the cache has, with all others dropped."""


# One thread for every llama.cpp decode in the process. llama.cpp and torch share one GNU
# OpenMP runtime, which keeps a team of threads for each thread that has started a parallel
# region; once two teams exist, the waits in each are throttled and a decode took 2.4 times
# as long (83 -> 34 tokens/s, a generation after one keystroke on another thread). The app
# calls the model from Gradio's pool threads and a generation thread, so decodes are handed
# to this thread, and torch samples single-threaded beside it (one_openmp_team).
#
# Keystrokes go first: a typing decode waits only for the decode running, not for the
# generation steps queued before it (up to one per model being generated from).


class _ComputeThread:
    """The process's one llama.cpp thread; urgent calls run before any queued others."""

    def __init__(self) -> None:
        self._queue: list[tuple[int, int, concurrent.futures.Future, Callable, tuple]] = []
        self._changed = threading.Condition()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def run(self, function: Callable[..., T], args: tuple, urgent: bool) -> T:
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._changed:
            heapq.heappush(self._queue, (0 if urgent else 1, next(self._order), future, function, args))
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="llama-compute", daemon=True)
                self._thread.start()
            self._changed.notify()
        return future.result()

    def _work(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._queue)
                _, _, future, function, args = heapq.heappop(self._queue)
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(function(*args))
                except BaseException as error:  # noqa: BLE001 - handed to the caller
                    future.set_exception(error)


_COMPUTE = _ComputeThread()


def one_openmp_team() -> None:
    """Leave parallel work to llama.cpp's one team: torch, which only samples here, runs on one thread.

    With torch on two threads, any thread that samples starts a team of its own and every
    decode slows (see _COMPUTE). A model served by the transformers backend computes in torch,
    so a process serving mostly such models should not call this.
    """
    torch.set_num_threads(1)


def on_compute_thread(function: Callable[..., T], *args, urgent: bool = False) -> T:
    """Run a llama.cpp call on the process's one compute thread and return its result.

    urgent: run before the calls already waiting (a keystroke's decode before generation steps).
    """
    if threading.current_thread().name == "llama-compute":
        return function(*args)
    return _COMPUTE.run(function, args, urgent)


def cpu_count() -> int:
    """Cores this process may run on: llama.cpp's thread count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _silence_llama_logs() -> None:
    """llama.cpp logs every load to stderr; the app has its own logging."""
    import llama_cpp

    @llama_cpp.llama_log_callback
    def _ignore(level, text, user_data):  # noqa: ARG001 - the C callback signature
        return None

    llama_cpp.llama_log_set(_ignore, ctypes.c_void_p(0))
    _silence_llama_logs.keep = _ignore  # the C side holds a pointer: keep the callback alive


@contextmanager
def without_extra_buffers() -> Iterator[None]:
    """Make llama-cpp-python's high-level Llama (and its server) load models without repacking.

    llama.cpp's "extra buffer types" repack weights for the CPU's matrix units. On CPUs with
    AMX (Sapphire Rapids and later), its AMX matmul crashes the process (SIGSEGV) on Q4_1
    batches of more than one token, as in llama-cpp-python 0.3.36; plain kernels are as
    fast for one-token decoding. llama.cpp's own server has --no-repack for the same thing;
    Llama() has no such argument, so its default parameters are patched while it loads.
    """
    from llama_cpp import llama_cpp  # the module Llama() reads its defaults from

    original = llama_cpp.llama_model_default_params

    def defaults():
        params = original()
        params.use_extra_bufts = False
        return params

    llama_cpp.llama_model_default_params = defaults
    try:
        yield
    finally:
        llama_cpp.llama_model_default_params = original


class _Call:
    """One logits_many call waiting to be computed with others."""

    def __init__(self, sequences: list[list[int]]) -> None:
        self.sequences = sequences
        self.result: list[torch.Tensor] | None = None
        self.error: BaseException | None = None
        self.done = False


class _Queue:
    """Calls waiting for the typing context, and whether a thread is computing a batch."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.calls: list[_Call] = []
        self.serving = False


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

        _silence_llama_logs()
        self.tokenizer = tokenizer
        self.eos_token_id = tokenizer.eos_token_id
        start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self.start_ids = [start] if start is not None else []
        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = 0
        model_params.use_extra_bufts = False  # see without_extra_buffers
        self._model = _internals.LlamaModel(path_model=str(gguf), params=model_params, verbose=False)
        self.context_length = min(context_length, self._model.n_ctx_train())
        self._threads = threads or cpu_count()
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
        self._queue = _Queue()
        self._slots: list[list[int]] = [[] for _ in range(sequences)]
        self._last_used = [0] * sequences
        self._clock = 0
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
            self._slots = [[] for _ in range(self._sequences)]
            self._last_used = [0] * self._sequences
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
            with self.lock:
                return self._compute([[list(s) for s in sequences]])[0]
        return self._combined([list(s) for s in sequences])

    def _combined(self, sequences: list[list[int]]) -> list[torch.Tensor]:
        """Queue this call; the first waiting thread computes every queued call that fits."""
        call = _Call(sequences)
        with self._queue.changed:
            self._queue.calls.append(call)
            while not call.done:
                if self._queue.serving:
                    self._queue.changed.wait()
                    continue
                self._queue.serving = True
                batch, room = [], self._sequences
                while self._queue.calls and (not batch or len(self._queue.calls[0].sequences) <= room):
                    batch.append(self._queue.calls.pop(0))
                    room -= len(batch[-1].sequences)
                self._queue.changed.release()
                try:
                    self._serve(batch)
                finally:
                    self._queue.changed.acquire()
                    for c in batch:
                        c.done = True
                    self._queue.serving = False
                    self._queue.changed.notify_all()
        if call.error is not None:
            raise call.error
        return call.result

    def _serve(self, batch: list[_Call]) -> None:
        """Compute a batch of calls together, or, when together they overfill the cache, one by one.

        Four people typing texts near the words limit (2,040 tokens each) need more than the
        8,192 shared cells at once, though each fits alone once the others' cells are dropped.
        """
        try:
            with self.lock:
                results = self._compute([c.sequences for c in batch])
            for c, result in zip(batch, results):
                c.result = result
            return
        except CacheFull as error:
            if len(batch) == 1:
                batch[0].error = error
                return
        except BaseException as error:  # every caller in the batch hears of it
            for c in batch:
                c.error = error
            return
        for c in batch:
            try:
                with self.lock:
                    c.result = self._compute([c.sequences])[0]
            except BaseException as error:
                c.error = error

    def _compute(self, calls: list[list[list[int]]]) -> list[list[torch.Tensor]]:
        """Logits for several calls' sequences in one batch; the lock is held."""
        prefixes = []
        for sequences in calls:
            shared_start = len(sequences[0])
            for other in sequences[1:]:
                shared_start = min(shared_start, common_prefix_length(sequences[0], other))
            held = max(common_prefix_length(slot, sequences[0]) for slot in self._slots)
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
        """Choose a distinct slot per sequence and prepare its cache; returns (slot, ids, keep)."""
        if not self._shared_buffer:
            return self._assign_packed(sequences)
        taken: set[int] = set()
        # Positions whose keys and values are really in the cache: a slot given to a sequence
        # in this same batch holds only what it kept; the rest is computed by the batch.
        valid = [len(slot) for slot in self._slots]
        plan = []
        for ids in sequences:
            self._clock += 1
            grown = self._grown_slot(ids, taken, valid)
            if grown is not None:
                # The common case while generating: one new token after what the slot holds.
                self._slots[grown] = ids
                valid[grown] = len(ids) - 1
                self._last_used[grown] = self._clock
                taken.add(grown)
                plan.append((grown, ids, len(ids) - 1))
                continue
            shared = [min(common_prefix_length(slot, ids), valid[i]) for i, slot in enumerate(self._slots)]
            free = [i for i in range(self._sequences) if i not in taken]
            best = max(free, key=lambda i: (shared[i], self._last_used[i]))
            if shared[best] == 0:
                best = min(free, key=lambda i: self._last_used[i])
            source = max(range(self._sequences), key=lambda i: shared[i])
            exact = self._slots[best] == ids and best in self._last_logits
            keep = min(shared[best], len(ids) - 1)
            copy_len = min(shared[source], len(ids) - 1)
            if copy_len > keep:
                # Another slot holds a longer prefix: copy its cache instead of recomputing.
                self._ctx.kv_cache_seq_rm(best, 0, -1)
                self._ctx.kv_cache_seq_cp(source, best, 0, copy_len)
                keep = copy_len
            elif not exact:
                self._ctx.kv_cache_seq_rm(best, keep, -1)
            if exact:
                keep = len(ids)  # exactly this sequence was evaluated last: its logits are kept
            self._slots[best] = ids
            valid[best] = keep
            self._last_used[best] = self._clock
            taken.add(best)
            plan.append((best, ids, keep))
        return plan

    def _assign_packed(self, sequences: list[list[int]]) -> list[tuple[int, list[int], int]]:
        """Slots 0 to n-1 for the n sequences of a call on buffers of their own, so that they decode in one pass.

        With a buffer per sequence, llama.cpp (0.3.36) splits a batch into passes of sequences
        whose ids follow each other by one in batch order, and each pass goes through every
        layer again: two texts in slots 0 and 2, or a guided text's two prompts in slots 1 and
        0, take two passes, and several rows in one pass cost less than in several (on CPU,
        from three rows up). _run_plan writes the batch in slot order, so slots 0 to n-1 are
        one pass. A sequence one token past what its slot holds keeps that slot when it is
        below n; every other sequence takes the next free slot below n, with the longest prefix
        any slot holds copied in (a text above n moves down when one below it has ended).
        """
        count = len(sequences)
        valid = [len(slot) for slot in self._slots]  # every slot's buffer holds its whole sequence
        slots: list[int | None] = [None] * count
        kept: set[int] = set()
        for index, ids in enumerate(sequences):
            grown = self._grown_slot(ids, kept, valid)
            if grown is not None and grown < count:
                slots[index] = grown
                kept.add(grown)
        free = iter(sorted(set(range(count)) - kept))
        plan = []
        for index, ids in enumerate(sequences):
            self._clock += 1
            slot = slots[index]
            keep = len(ids) - 1 if slot is not None else self._fill(slot := next(free), ids, valid)
            self._slots[slot] = ids
            valid[slot] = keep
            self._last_used[slot] = self._clock
            plan.append((slot, ids, keep))
        return plan

    def _fill(self, slot: int, ids: list[int], valid: list[int]) -> int:
        """Prepare slot's buffer for ids from the longest prefix any slot holds; the positions kept.

        valid: the positions each buffer holds, which is also all a copy of it takes (a slot
        given to a sequence earlier in this call holds only what it kept).
        """
        shared = [min(common_prefix_length(held, ids), valid[i]) for i, held in enumerate(self._slots)]
        source = max(range(self._sequences), key=lambda i: (shared[i], i == slot))
        # Exactly this sequence was evaluated last: its logits are kept and nothing is computed.
        exact = shared[source] == len(ids) and self._slots[source] == ids and source in self._last_logits
        keep = len(ids) if exact else min(shared[source], len(ids) - 1)
        if source != slot and keep > min(shared[slot], len(ids) - 1):
            # Buffers of their own copy whole (llama.cpp aborts on a partial copy between them):
            # take the source's buffer, then drop what it holds past the prefix.
            self._ctx.kv_cache_seq_cp(source, slot, -1, -1)
            self._ctx.kv_cache_seq_rm(slot, keep, -1)
            if exact:
                self._last_logits[slot] = self._last_logits[source]
            return keep
        keep = len(ids) if exact and source == slot else min(shared[slot], len(ids) - 1)
        self._ctx.kv_cache_seq_rm(slot, keep, -1)
        return keep

    def _size_threads(self) -> None:
        """All cores, except while people type (a keystroke in the last second) beside other requests: then one.

        Each keystroke costs a little model time and much Python (HTTP, queue, suggestion
        logic), which takes turns on the cores with llama.cpp's OpenMP team; each time one
        of its threads is descheduled, the other spins at the next barrier, so under mixed
        load one thread serves keystrokes and generations sooner and spends less CPU
        (benchmarks/load.py; docs/performance.md). Generations alone keep every core:
        eight at once decode far faster on two threads than on one (benchmarks/run.py).
        """
        from llama_cpp import llama_cpp

        requests, typing = self.traffic.in_flight()
        threads = 1 if requests > 1 and typing else self._threads
        if threads != self._ctx_threads:
            llama_cpp.llama_set_n_threads(self._ctx.ctx, threads, threads)
            self._ctx_threads = threads

    def _grown_slot(self, ids: list[int], taken: set[int], valid: list[int]) -> int | None:
        """A free slot whose cache holds all of ids but the last token, found without the prefix scan."""
        held = len(ids) - 1
        for i, slot in enumerate(self._slots):
            if i not in taken and valid[i] == held and len(slot) == held and slot == ids[:held]:
                return i
        return None

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
        self._slots[slot] = []
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
            idle = [i for i, slot in enumerate(self._slots) if slot and i not in protected]
            if code == NO_ROOM and self._shared_buffer and not idle:
                raise CacheFull(f"these {len(protected)} texts need more than the {self._cells} cells of the cache")
            if code != NO_ROOM or not self._shared_buffer:
                raise RuntimeError(f"llama_decode returned {code}")
            self._drop(min(idle, key=lambda i: self._last_used[i]))

    def _run_plan(self, plan: list[tuple[int, list[int], int]]) -> list[torch.Tensor]:
        # In slot order: with buffers of their own, consecutive slots decode in one pass (_assign_packed).
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
            self._size_threads()
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
