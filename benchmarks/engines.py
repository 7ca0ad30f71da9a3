"""The three engines the benchmark sets side by side, each answering stream, suggest and reset.

This project's engine is driven through the app's own public objects (the Service, and the
loaded model's Model protocol); the other two are the plain ways to run the same model.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import torch

from autowrite import decode
from autowrite.backends.compute import on_compute_thread
from autowrite.catalog import load_catalog
from autowrite.loading import embedded_folder, embedded_gguf_path
from autowrite.local import LocalModel
from autowrite.scheduling.capacity import cpu_count
from autowrite.service import Request, Service
from autowrite.settings import SamplingSettings


def default_model() -> tuple[Path, Path | None]:
    """The GGUF and adapter folder of the catalog's default entry."""
    entry = load_catalog()[0]
    adapter = entry.resolve(entry.adapter) if entry.adapter else None
    return embedded_gguf_path(), adapter


class Ours:
    """This project's engine: the service and backend the app uses."""

    name = "autowrite (llama.cpp backend)"

    def __init__(self) -> None:
        self.service = Service(load_catalog(), read_hub_cards=False)
        self.model_name = self.service.default_name
        loaded = self.service.load(self.model_name)
        if not isinstance(loaded.model, LocalModel):
            raise TypeError(f"the benchmark measures a local model, not {type(loaded.model).__name__}")
        self.model = loaded.model  # generations share decode steps, as in the app
        self.backend = loaded.backend
        # The same model without shared steps: each generation takes its own turns at the backend.
        self.alone = LocalModel(self.backend)

    def stream(self, prompt: str, settings: SamplingSettings):
        """The text so far each time it grows."""
        previous = 0
        for samples, _ in self.model.stream_many(prompt, [settings]):
            if len(samples[0].text) > previous:
                previous = len(samples[0].text)
                yield samples[0].text

    def suggest(self, text: str) -> None:
        # As the live tab asks on each keystroke: the words from one model call (ghost(),
        # asked at pauses, computes the positions that finish a best word cut mid-word).
        self.service.suggest(Request(model=self.model_name, text=text), ghost_tokens=0, finish=False)

    def ghost(self, text: str) -> None:
        self.service.suggest(Request(model=self.model_name, text=text), ghost_tokens=8)

    def reset(self) -> None:
        """Forget every computed position, so a typing trace starts cold."""
        self.model.forget()

    def columns(self, prompt: str, variants: list[SamplingSettings]) -> int:
        """Decode the compare columns; returns the number of steps (the longest column's tokens)."""
        samples, _ = decode.last(self.model.stream_many(prompt, variants))
        return max(sample.tokens for sample in samples)

    def together(self, prompts: list[str], settings: SamplingSettings, shared_steps: bool) -> tuple[int, float]:
        """Generate from every prompt at once, one thread each, as that many people would.

        shared_steps=False decodes without the model's StepBatcher: each generation takes its own
        turns at the model, and each one starting empties the generation cache (forget()), so
        those already running recompute their text. Returns the tokens generated and the wall time.
        """
        model = self.model if shared_steps else self.alone
        texts = [""] * len(prompts)

        def run(i: int) -> None:
            samples, _ = decode.last(model.stream_many(prompts[i], [settings]))
            texts[i] = samples[0].text

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        return sum(len(self.backend.encode(t)) for t in texts), elapsed


class Pipeline:
    """transformers' text-generation pipeline in bf16, streaming with TextIteratorStreamer."""

    name = "transformers pipeline (bf16)"

    def __init__(self, adapter: Path | None) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

        folder = embedded_folder()
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.bfloat16)
        if adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.pipe = pipeline("text-generation", model=model, tokenizer=self.tokenizer)

    def stream(self, prompt: str, settings: SamplingSettings):
        """The text so far after each streamed piece."""
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True)
        kwargs = dict(
            max_new_tokens=settings.max_new_tokens,
            do_sample=settings.do_sample,
            repetition_penalty=settings.repetition_penalty,
            streamer=streamer,
            min_new_tokens=settings.max_new_tokens,
        )
        worker = threading.Thread(target=self.pipe, args=(prompt,), kwargs=kwargs)
        worker.start()
        text = ""
        for piece in streamer:
            text += piece
            if piece:
                yield text
        worker.join()

    def suggest(self, text: str) -> None:
        # The plain way: the whole text through the model on every keystroke.
        self.pipe(text, max_new_tokens=1, do_sample=False)

    def reset(self) -> None:
        """Nothing is kept between calls."""


class LlamaCppPython:
    """llama-cpp-python's high-level Llama on the same GGUF (with its own prefix reuse)."""

    name = "llama-cpp-python"

    def __init__(self, gguf: Path) -> None:
        from llama_cpp import Llama

        from autowrite.backends.llama_patches import without_extra_buffers

        # The same kernels as this project's backend (the AMX repacking crashes; see backends/llama_patches.py).
        with without_extra_buffers():
            self.llm = Llama(model_path=str(gguf), n_ctx=2048, n_threads=cpu_count(), verbose=False)

    def stream(self, prompt: str, settings: SamplingSettings):
        """The text so far after each streamed token."""
        # On this project's compute thread (autowrite.backends.compute): decoding on another
        # thread would start a second OpenMP team and slow both engines.
        text = ""
        chunks = self.llm.create_completion(
            prompt,
            max_tokens=settings.max_new_tokens,
            temperature=0.0 if not settings.do_sample else settings.temperature,
            top_k=settings.top_k,
            top_p=settings.top_p,
            repeat_penalty=settings.repetition_penalty,
            seed=settings.seed,
            stream=True,
        )
        while (chunk := on_compute_thread(next, chunks, None)) is not None:
            text += chunk["choices"][0]["text"]
            yield text

    def suggest(self, text: str) -> None:
        on_compute_thread(lambda: self.llm.create_completion(text, max_tokens=1, temperature=0.0))

    def reset(self) -> None:
        """Forget the evaluated prefix: with its token count at zero, the next eval clears the whole cache."""
        self.llm.reset()


ENGINES = {
    "ours": Ours,
    "llama": lambda: LlamaCppPython(default_model()[0]),
    "pipeline": lambda: Pipeline(default_model()[1]),
}
