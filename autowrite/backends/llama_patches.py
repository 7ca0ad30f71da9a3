"""What llama-cpp-python needs changed around it: its logs silenced, and models loaded without repacking."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager


def silence_llama_logs() -> None:
    """llama.cpp logs every load to stderr; the app has its own logging."""
    import llama_cpp

    @llama_cpp.llama_log_callback
    def _ignore(level, text, user_data):  # noqa: ARG001 - the C callback signature
        return None

    llama_cpp.llama_log_set(_ignore, ctypes.c_void_p(0))
    silence_llama_logs.keep = _ignore  # the C side holds a pointer: keep the callback alive


@contextmanager
def without_extra_buffers() -> Iterator[None]:
    """Make llama-cpp-python's high-level Llama (and its server) load models without repacking.

    llama.cpp's "extra buffer types" repack weights for the CPU's matrix units. On CPUs with
    AMX (Sapphire Rapids and later), its AMX matmul crashes the process (SIGSEGV) on Q4_1
    batches of more than one token, as in llama-cpp-python 0.3.36; plain kernels are as
    fast for one-token decoding. llama.cpp's own server has --no-repack for the same thing;
    Llama() has no such argument, so its default parameters are patched while it loads.
    (LlamaCppBackend sets use_extra_bufts itself, on the parameters it builds.)
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
