"""A LoRA adapter merged into the embedded GGUF, for the llama.cpp backend.

The adapter (PEFT safetensors, trained on the de-quantised base) is added to the base's
weights, and only the changed matrices are rewritten, as Q8_0; every other tensor and all
metadata (tokenizer included) are copied byte for byte. Q8_0 keeps the merged weights
within about 0.5% of the reference backend's fp32 ones while decoding as fast as the base.
The result is cached beside the converted embedded model, keyed by the adapter's content.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

# PEFT module names (Llama family) and the GGUF tensor names llama.cpp uses for them.
_GGUF_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_KEY = re.compile(r"layers\.(\d+)\.(\w+\.\w+)\.lora_([AB])(?:\.default)?\.weight$")


class MergeError(ValueError):
    """The adapter cannot be merged into this GGUF file."""


def adapter_deltas(adapter: Path, heads: int, kv_heads: int) -> dict[str, np.ndarray]:
    """Weight deltas (scale * B @ A) by GGUF tensor name, in the GGUF's row order."""
    config = json.loads((adapter / "adapter_config.json").read_text())
    rank, alpha = config["r"], config.get("lora_alpha", config["r"])
    scale = alpha / np.sqrt(rank) if config.get("use_rslora") else alpha / rank
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    pairs: dict[tuple[int, str], dict[str, np.ndarray]] = {}
    for key, value in weights.items():
        match = _KEY.search(key)
        if not match:
            raise MergeError(f"unsupported adapter tensor {key} (only LoRA on attention/MLP projections merges)")
        layer, module, side = int(match[1]), match[2], match[3]
        if module not in _GGUF_NAMES:
            raise MergeError(f"unsupported LoRA target {module}")
        pairs.setdefault((layer, module), {})[side] = value.astype(np.float32)
    deltas = {}
    for (layer, module), pair in pairs.items():
        delta = scale * (pair["B"] @ pair["A"])
        if module == "self_attn.q_proj":
            delta = _permute(delta, heads)
        elif module == "self_attn.k_proj":
            delta = _permute(delta, kv_heads)
        deltas[f"blk.{layer}.{_GGUF_NAMES[module]}.weight"] = delta
    return deltas


def _permute(weights: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's row order for rotary q/k projections (as its HF-to-GGUF converter writes them)."""
    return (
        weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def merge(base: Path, adapter: Path, out: Path) -> Path:
    """Write base + adapter as a new GGUF file (atomically) and return its path."""
    import gguf

    reader = gguf.GGUFReader(base)
    arch = str(reader.fields["general.architecture"].contents())
    heads = int(reader.fields[f"{arch}.attention.head_count"].contents())
    kv_heads = int(reader.fields[f"{arch}.attention.head_count_kv"].contents())
    deltas = adapter_deltas(adapter, heads, kv_heads)
    names = {t.name for t in reader.tensors}
    missing = set(deltas) - names
    if missing:
        raise MergeError(f"the adapter changes tensors the base does not have: {sorted(missing)[:3]}")

    partial = partial_path(out)
    writer = gguf.GGUFWriter(partial, arch)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
    tensors = []
    for tensor in reader.tensors:
        if tensor.name in deltas:
            weights = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
            merged = weights + deltas[tensor.name].reshape(weights.shape)
            data, kind = gguf.quants.quantize(merged, gguf.GGMLQuantizationType.Q8_0), gguf.GGMLQuantizationType.Q8_0
        else:
            data, kind = tensor.data, tensor.tensor_type
        writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes, kind)
        tensors.append(data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for data in tensors:
        writer.write_tensor_data(data, tensor_endianess=reader.endianess)
    writer.close()
    partial.replace(out)  # atomic; a copy another thread finished first is the same bytes
    return out


def partial_path(path: Path) -> Path:
    """Where to write path before renaming it into place: unique to this process and thread.

    A cache entry is written under this name and renamed when complete, so an interrupted
    write is never loaded, and two threads preparing the same entry never share a file.
    """
    return path.with_name(f"{path.name}.partial-{os.getpid()}-{threading.get_ident()}")


def merged_path(base: Path, adapter: Path, cache: Path) -> Path:
    """The cached merged file for a base and adapter, built on first use."""
    digest = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        digest.update((adapter / name).read_bytes())
    out = cache / "merged" / f"{base.stem}+{adapter.name}-{digest.hexdigest()[:12]}.gguf"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        merge(base, adapter, out)
    return out
