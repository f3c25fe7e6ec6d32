"""The model a GGUF describes: its architecture, hyper-parameters, RoPE scaling and the tensors it must hold, read
from `<arch>.*` metadata; anything our model cannot follow is refused with an error naming the key."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.model.errors import GGUFError, UnsupportedArchitectureError

if TYPE_CHECKING:
    from rag.model.gguf import GGUFModel

SUPPORTED_ARCHS = ("llama", "qwen2")


def architecture(path: Path, fields: dict) -> str:
    arch = fields.get("general.architecture")
    if arch is None:
        raise GGUFError(path, "no general.architecture in the metadata")
    if arch not in SUPPORTED_ARCHS:
        raise UnsupportedArchitectureError(
            path, f"architecture {arch!r} is not supported; supported: {', '.join(SUPPORTED_ARCHS)}")
    return arch


def model_config(model: GGUFModel) -> dict:
    """Model hyper-parameters from `<arch>.*` metadata and the tensor list."""
    a, m = model.arch, model.metadata

    def get(key: str, default=None):
        value = m.get(f"{a}.{key}", default)
        if value is None:
            raise GGUFError(model.path, f"metadata {a}.{key} is missing")
        if isinstance(value, (list, np.ndarray, str)) and not isinstance(default, str):
            raise UnsupportedArchitectureError(model.path, f"metadata {a}.{key} is {value!r}; one number is supported")
        return value

    dim = int(get("embedding_length"))
    n_heads = int(get("attention.head_count"))
    n_kv = int(get("attention.head_count_kv", n_heads))
    names = set(model.tensor_names)
    if "token_embd.weight" not in names:
        raise GGUFError(model.path, "tensor token_embd.weight is missing")
    if min(dim, n_heads, n_kv) <= 0 or n_heads % n_kv:
        raise GGUFError(model.path, f"implausible attention shape: dim {dim}, {n_heads} heads, {n_kv} kv heads")
    head_dim = int(get("attention.key_length", dim // n_heads))
    config = {
        "dim": dim,
        "n_layers": int(get("block_count")),
        "n_heads": n_heads,
        "n_kv_heads": n_kv,
        "head_dim": head_dim,
        "vocab_size": model.info("token_embd.weight").shape[0],
        "hidden_dim": int(get("feed_forward_length")),
        "norm_eps": float(get("attention.layer_norm_rms_epsilon")),
        "rope_theta": float(get("rope.freq_base", 10000.0)),
        "rope_scaling": _rope_scaling(model, names),
        "max_seq_len": int(get("context_length")),
        "tie_embeddings": "output.weight" not in names,
        "qkv_bias": "blk.0.attn_q.bias" in names,
    }
    _refuse_unsupported(model, head_dim)
    return config


# metadata that changes the model's math in ways we do not implement: key -> (value we support, what it means)
_UNSUPPORTED = {
    "expert_count": (0, "a mixture of experts"),
    "attention.sliding_window": (0, "sliding-window attention"),
    "attn_logit_softcapping": (0.0, "attention logit soft-capping"),
    "final_logit_softcapping": (0.0, "final logit soft-capping"),
}


def _refuse_unsupported(model: GGUFModel, head_dim: int) -> None:
    """UnsupportedArchitectureError naming the first metadata key whose value our model cannot follow."""
    a, m = model.arch, model.metadata
    for key, (plain, meaning) in _UNSUPPORTED.items():
        value = m.get(f"{a}.{key}", plain)
        if value != plain:
            raise UnsupportedArchitectureError(
                model.path, f"metadata {a}.{key} = {value!r}: {meaning} is not supported")
    for key in ("rope.dimension_count", "attention.value_length"):
        value = m.get(f"{a}.{key}", head_dim)
        if value != head_dim:
            raise UnsupportedArchitectureError(
                model.path, f"metadata {a}.{key} = {value!r} differs from the head size {head_dim}: not supported")


def expected_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """The tensors a model with this config must have, and their PyTorch shapes."""
    c = config
    dim, q_rows, kv_rows = c["dim"], c["n_heads"] * c["head_dim"], c["n_kv_heads"] * c["head_dim"]
    shapes = {"token_embd.weight": (c["vocab_size"], dim), "output_norm.weight": (dim,)}
    if not c["tie_embeddings"]:
        shapes["output.weight"] = (c["vocab_size"], dim)
    for i in range(c["n_layers"]):
        p = f"blk.{i}."
        shapes.update({
            p + "attn_norm.weight": (dim,), p + "ffn_norm.weight": (dim,),
            p + "attn_q.weight": (q_rows, dim), p + "attn_k.weight": (kv_rows, dim),
            p + "attn_v.weight": (kv_rows, dim),
            p + "attn_output.weight": (dim, q_rows), p + "ffn_gate.weight": (c["hidden_dim"], dim),
            p + "ffn_up.weight": (c["hidden_dim"], dim), p + "ffn_down.weight": (dim, c["hidden_dim"]),
        })
        if c["qkv_bias"]:
            shapes.update({p + "attn_q.bias": (q_rows,), p + "attn_k.bias": (kv_rows,), p + "attn_v.bias": (kv_rows,)})
    return shapes


def check_shapes(model: GGUFModel) -> None:
    """GGUFError naming the first missing or misshapen tensor the config calls for."""
    names = set(model.tensor_names)
    for name, shape in expected_shapes(model.config).items():
        if name not in names:
            raise GGUFError(model.path, f"tensor {name!r} is missing")
        if model.info(name).shape != shape:
            raise GGUFError(model.path, f"tensor {name!r} has shape {model.info(name).shape}, expected {shape}")


ROPE_SCALING = ("none", "linear", "llama3")


def _rope_scaling(model: GGUFModel, names: set[str]) -> dict | None:
    """None, or how RoPE frequencies are scaled.

    Llama 3.x files store the per-frequency divisors of rope scaling type llama3 as the tensor rope_freqs.weight
    (head_dim/2 values; llama.cpp divides each theta by them): {"type": "freq_factors", "tensor": ...}.
    Files with rope.scaling.type linear give {"type", "factor", "original_max_seq_len"}. Other types (yarn,
    longrope ...) raise UnsupportedArchitectureError naming the key.
    """
    a, m = model.arch, model.metadata
    key = f"{a}.rope.scaling.type"
    kind = m.get(key)
    if kind is not None and kind not in ROPE_SCALING:
        raise UnsupportedArchitectureError(model.path, f"metadata {key} = {kind!r} is not supported "
                                                       f"(supported: {', '.join(ROPE_SCALING)})")
    if "rope_freqs.weight" in names:
        return {"type": "freq_factors", "tensor": "rope_freqs.weight"}
    if kind == "llama3":
        raise GGUFError(model.path, f"metadata {key} = 'llama3' but the tensor rope_freqs.weight is missing")
    if kind in (None, "none"):
        return None
    return {
        "type": kind,
        "factor": float(m.get(f"{a}.rope.scaling.factor", 1.0)),
        "original_max_seq_len": int(m.get(f"{a}.rope.scaling.original_context_length", 0)),
    }
