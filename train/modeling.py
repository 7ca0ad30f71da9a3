"""Model choices shared by fine-tuning and evaluation: threads, base folder, precision, LoRA targets, loading.

torch is imported inside the functions that use it: configure_environment must run before
torch loads its OpenMP runtime, and the scripts import this module before they call it.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from train.recipe import EvalError, read_training_config

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
# The Hub id of the embedded base: model cards and adapter configs name it, so an adapter
# published from here loads on the Hub's copy of the same model.
EMBEDDED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"

# LoRA targets per model family: every linear layer of attention and MLP, because on a
# 135M model the MLP adapters carry much of the domain shift (style, vocabulary).
# GPT-2 uses Conv1D layers (fan_in_fan_out), which peft detects by module type.
TARGET_MODULES: dict[str, list[str]] = {
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "gpt_neo": ["q_proj", "k_proj", "v_proj", "out_proj", "c_fc", "c_proj"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}


def target_modules_for(model_type: str) -> list[str] | str:
    """LoRA target module names for a model family; peft's "all-linear" for unknown families."""
    return TARGET_MODULES.get(model_type, "all-linear")


def resolve_base(name: str) -> Path:
    """A local transformers folder for a base model name: "embedded", a folder, or a Hub id."""
    if name in (EMBEDDED, EMBEDDED_HUB_ID):
        # The Hub is often out of reach (and the embedded copy is the one adapters here
        # were trained on), so the Hub id of the embedded model means the embedded copy.
        from autowrite.loading import embedded_folder

        return embedded_folder()
    if Path(name).is_dir():
        return Path(name)
    from autowrite.loading import hub_folder

    return hub_folder(name)


def cpu_supports_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (AVX512-BF16 or AMX); emulated bf16 is slower than fp32."""
    import torch

    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
    except (AttributeError, RuntimeError):
        return False
    if platform.system() == "Linux" and Path("/proc/cpuinfo").exists():
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
        return "avx512_bf16" in flags or "amx_bf16" in flags
    return platform.machine().lower() in {"arm64", "aarch64"}  # Apple M2+ and recent ARM servers


def choose_precision(requested: str = "auto") -> tuple[str, bool]:
    """The device and whether to train under bf16 autocast: bf16 only where the processor supports it."""
    import torch

    if torch.cuda.is_available():
        return "cuda", requested in ("auto", "bf16") and torch.cuda.is_bf16_supported()
    if requested == "bf16" and not cpu_supports_bf16():
        log.warning("bf16 was asked for but this CPU has no native bf16; training in fp32")
    return "cpu", requested in ("auto", "bf16") and cpu_supports_bf16()


def configure_environment() -> None:
    """Process settings that torch reads once, when it loads: call before the first import of torch."""
    # OpenMP reads its wait policy when torch loads it. On a small shared machine another busy
    # process deschedules one of our threads; spinning waiters then burn the remaining core and
    # a 1.5 s forward pass takes 15 s (measured on 2 cores). Sleeping waiters lose nothing measurable.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def default_threads() -> int:
    """CPU threads per process: the cores shared among the processes of this machine (torchrun)."""
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, (os.cpu_count() or 1) // local_world)


def is_adapter_folder(folder: Path) -> bool:
    """Whether a folder holds a peft adapter rather than full weights."""
    return (folder / "adapter_config.json").exists()


def adapter_base_name(folder: Path) -> str:
    """The base model an adapter folder names: its training recipe first, then adapter_config.json."""
    recorded = read_training_config(folder).get("base_model")
    if recorded:
        return str(recorded)
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    return config.get("base_model_name_or_path") or EMBEDDED


def load_causal_lm(folder: Path):
    """A float32 causal LM and its tokenizer from a local folder."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = AutoConfig.from_pretrained(folder)
    if getattr(config, "quantization_config", None) is not None and (folder / "model.safetensors").exists():
        # The embedded folder is de-quantised safetensors, but its config.json still carries
        # the GGUF quantization_config it was converted from; transformers would then treat
        # the model as quantized and refuse to train it.
        del config.quantization_config
    model = AutoModelForCausalLM.from_pretrained(folder, config=config, dtype=torch.float32)
    return model, tokenizer


@dataclass
class Models:
    """The fine-tuned model, a way to run the base, and the tokenizer."""

    finetuned: Any
    base: Any | None  # a separate base model for full fine-tunes; None when the adapter is disabled instead
    tokenizer: Any
    is_adapter: bool

    @contextmanager
    def use(self, which: str) -> Iterator[Any]:
        """The model to run for "base" or "finetuned"."""
        if which == "finetuned":
            yield self.finetuned
        elif self.is_adapter:
            with self.finetuned.disable_adapter():
                yield self.finetuned
        else:
            yield self.base


def load_models(folder: Path, base: str | None) -> Models:
    """The checkpoint (adapter on its base, or a full model) and its base, in eval mode."""
    if not folder.is_dir():
        raise EvalError(f"{folder}: no such checkpoint folder")
    if is_adapter_folder(folder):
        from peft import PeftModel

        base_model, tokenizer = load_causal_lm(resolve_base(base or adapter_base_name(folder)))
        if (folder / "tokenizer_config.json").exists():
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(folder)
        model = PeftModel.from_pretrained(base_model, folder).eval()
        return Models(model, None, tokenizer, is_adapter=True)
    finetuned, tokenizer = load_causal_lm(folder)
    base_name = base or read_training_config(folder).get("base_model") or EMBEDDED
    base_model, _ = load_causal_lm(resolve_base(base_name))
    return Models(finetuned.eval(), base_model.eval(), tokenizer, is_adapter=False)
