"""The process's one llama.cpp compute thread, and how many OpenMP threads its decodes get.

llama.cpp and torch share one GNU OpenMP runtime, which keeps a team of threads for each
thread that has started a parallel region; once two teams exist, the waits in each are
throttled and a decode took 2.4 times as long (83 -> 34 tokens/s, a generation after one
keystroke on another thread). The app calls the model from Gradio's pool threads and a
generation thread, so every llama.cpp decode is handed to one thread, and torch samples
single-threaded beside it (one_openmp_team). On that thread a keystroke's decode goes
before the generation steps queued (autowrite.scheduling.keystrokes.UrgentFirst).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

from autowrite.scheduling import CAPACITY, Traffic, UrgentFirst

T = TypeVar("T")

_COMPUTE = UrgentFirst("llama-compute")


def one_openmp_team() -> None:
    """Leave parallel work to llama.cpp's one team: torch, which only samples here, runs on one thread.

    With torch on two threads, any thread that samples starts a team of its own and every
    decode slows (see this module's doc). A model served by the transformers backend
    computes in torch, so a process serving mostly such models should not call this.
    """
    torch.set_num_threads(1)


def on_compute_thread(function: Callable[..., T], *args, urgent: bool = False) -> T:
    """Run a llama.cpp call on the process's one compute thread and return its result.

    urgent: run before the calls already waiting (a keystroke's decode before generation steps).
    """
    return _COMPUTE.run(function, args, urgent)


def set_threads(ctx, traffic: Traffic, most: int, current: int) -> int:
    """Give a llama.cpp context the threads Capacity allows now (Capacity.compute_threads); returns that count.

    current: the count the context has, so that an unchanged count costs no call.
    """
    from llama_cpp import llama_cpp

    threads = CAPACITY.compute_threads(traffic, most)
    if threads != current:
        llama_cpp.llama_set_n_threads(ctx, threads, threads)
    return threads
