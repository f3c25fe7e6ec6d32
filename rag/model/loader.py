"""GGUF file -> our Transformer: fused qkv / gate-up weights, fp32 or packed Linears.

Packed ("int4" / "int8") weights keep the file's bits wherever a kernel reads them: Q4_1 blocks repacked exactly
(int4: nibbles, int8: a byte per code), Q8_0, Q5_0, Q4_K, Q5_K and Q6_K blocks held as they are (BlockLinear);
q, k, v or gate, up of different types become a ConcatLinear. Other types (F16, Q4_0, Q2_K, I-quants ...) are
requantised to groups of 32 (int4 or int8), as is a tied Q8_0 head under int4 (RescoredHead fixes its top logits).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from rag.model import native
from rag.model.blocks import BlockLinear, ConcatLinear
from rag.model.gguf import GGUFModel, QuantTensor, read_gguf
from rag.model.model import ModelArgs, Transformer
from rag.model.quantize import GROUP, Int4Linear, Int8Linear, RescoredHead, int4_supported
from rag.model.weight_cache import load_or_convert

WEIGHTS = ("fp32", "int8", "int4")


def _fused(g: GGUFModel, names: list[str]) -> Tensor:
    """fp32 rows of several GGUF weights stacked along the output dim."""
    return torch.cat([g.tensor(n) for n in names], dim=0)


def _linears(i: int, args: ModelArgs) -> dict[str, tuple[list[str], str | None]]:
    """Our Linear names in block i -> (GGUF weight names to stack, fused bias prefix or None)."""
    p = f"blk.{i}"
    qkv = [f"{p}.attn_q.weight", f"{p}.attn_k.weight", f"{p}.attn_v.weight"]
    return {
        f"{p}.attn.attn_qkv": (qkv, p if args.qkv_bias else None),
        f"{p}.attn.attn_output": ([f"{p}.attn_output.weight"], None),
        f"{p}.ffn.ffn_gate_up": ([f"{p}.ffn_gate.weight", f"{p}.ffn_up.weight"], None),
        f"{p}.ffn.ffn_down": ([f"{p}.ffn_down.weight"], None),
    }


def _exact(raw: QuantTensor) -> bool:
    """Whether a weight of this type is packed bit-exactly (else it is requantised)."""
    return raw.qtype == "Q4_1" or raw.qtype in native.BLOCK_KINDS


def _packed_layer(g: GGUFModel, names: list[str], raws: list[QuantTensor], weights: str,
                  bias: Tensor | None) -> nn.Module:
    """One packed Linear for weights of one type stacked along the output dim."""
    n_out, k = sum(r.shape[0] for r in raws), raws[0].shape[1]
    packed_cls = Int4Linear if weights == "int4" and int4_supported(n_out, k) else Int8Linear
    if not _exact(raws[0]):
        return packed_cls.from_float(_fused(g, names), bias)
    data = np.concatenate([r.data for r in raws])
    if raws[0].qtype == "Q4_1":
        return packed_cls.from_q4_1(data, k, bias)
    return BlockLinear(torch.from_numpy(data), raws[0].qtype, bias)


def _packed(g: GGUFModel, names: list[str], weights: str, bias: Tensor | None) -> dict[str, Tensor]:
    """Buffers of one packed Linear, or of a ConcatLinear when its parts are stored as different types."""
    raws = [g.quantized(n) for n in names]
    if raws[0].shape[1] % GROUP:
        return {"weight": _fused(g, names), **({"bias": bias} if bias is not None else {})}  # stays fp32
    if len({r.qtype for r in raws}) == 1 or not any(_exact(r) for r in raws):
        return dict(_packed_layer(g, names, raws, weights, bias).state_dict())
    ends = np.cumsum([0] + [r.shape[0] for r in raws])
    parts = [_packed_layer(g, [n], [r], weights, None if bias is None else bias[a:b])
             for n, r, a, b in zip(names, raws, ends[:-1], ends[1:])]
    return dict(ConcatLinear(parts).state_dict())


def _packed_head(g: GGUFModel, args: ModelArgs, weights: str) -> dict[str, Tensor]:
    """Buffers of the packed output layer: the file's blocks where a kernel reads them, except a tied Q8_0 head
    under int4, requantised to int4 groups (half the bytes a token reads; RescoredHead makes its top logits exact)."""
    name = "token_embd.weight" if args.tie_embeddings else "output.weight"
    raw = g.quantized(name)
    shrink = weights == "int4" and int4_supported(*raw.shape) and (not _exact(raw) or (
        raw.qtype == "Q8_0" and args.tie_embeddings))
    if shrink:
        return dict(Int4Linear.from_float(g.tensor(name)).state_dict())
    return _packed(g, [name], weights if _exact(raw) else "int8", None)


def convert(g: GGUFModel, args: ModelArgs, weights: str = "fp32") -> dict[str, Tensor]:
    """Flat state dict of our Transformer (fp32 or packed buffers) from an opened GGUF."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {WEIGHTS}, not {weights!r}")
    sd: dict[str, Tensor] = {"token_embd.weight": g.tensor("token_embd.weight"),
                             "output_norm.weight": g.tensor("output_norm.weight")}
    if "rope_freqs.weight" in g.tensor_names:
        sd["rope_freqs"] = g.tensor("rope_freqs.weight")
    if weights == "fp32":
        if not args.tie_embeddings:
            sd["output.weight"] = g.tensor("output.weight")
    else:
        sd.update({f"output.{k}": v for k, v in _packed_head(g, args, weights).items()})
    for i in range(args.n_layers):
        p = f"blk.{i}"
        sd[f"{p}.attn_norm.weight"] = g.tensor(f"{p}.attn_norm.weight")
        sd[f"{p}.ffn_norm.weight"] = g.tensor(f"{p}.ffn_norm.weight")
        for ours, (names, bias_prefix) in _linears(i, args).items():
            bias = None
            if bias_prefix:
                bias = torch.cat([g.tensor(f"{bias_prefix}.attn_{x}.bias") for x in "qkv"])
            if weights == "fp32":
                sd[f"{ours}.weight"] = _fused(g, names)
                if bias is not None:
                    sd[f"{ours}.bias"] = bias
            else:
                sd.update({f"{ours}.{k}": v for k, v in _packed(g, names, weights, bias).items()})
    return sd


def _packed_module(sd: dict[str, Tensor], name: str) -> nn.Module | None:
    """The packed Linear whose buffers sd holds under name, or None where name is a plain Linear."""
    if f"{name}.parts.0.codes" in sd:
        parts = []
        while f"{name}.parts.{len(parts)}.codes" in sd:
            parts.append(_packed_module(sd, f"{name}.parts.{len(parts)}"))
        return ConcatLinear(parts)
    codes, bias = sd.get(f"{name}.codes"), sd.get(f"{name}.bias")
    if codes is None:
        return None
    if f"{name}.block_kind" in sd:
        return BlockLinear.from_state(codes, sd[f"{name}.block_kind"], bias)
    packed_cls = Int4Linear if codes.dtype == torch.uint8 else Int8Linear
    return packed_cls(codes, sd[f"{name}.groups"], bias)


def _install_packed(model: Transformer, sd: dict[str, Tensor]) -> None:
    """Swap each nn.Linear whose packed buffers are in sd for its packed module (Int4, Int8, Block, Concat)."""
    for name, mod in list(model.named_modules()):
        if not isinstance(mod, nn.Linear):
            continue
        new = _packed_module(sd, name)
        if new is None:
            continue
        parent_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, attr, new)


def build(args: ModelArgs, sd: dict[str, Tensor]) -> Transformer:
    """Our Transformer holding the tensors of a converted state dict (no copies of fp32 weights)."""
    with torch.device("meta"):
        model = Transformer(args)
    _install_packed(model, sd)
    model.rope_freq_factors = sd.get("rope_freqs")
    plain = {k: v for k, v in sd.items() if k != "rope_freqs"}
    model.load_state_dict(plain, strict=False, assign=True)
    if args.tie_embeddings and isinstance(model.output, nn.Linear):
        model.output.weight = model.token_embd.weight
    elif args.tie_embeddings:
        model.output = RescoredHead(model.output, model.token_embd.weight)
    tensors = list(model.named_parameters()) + list(model.named_buffers())
    missing = [n for n, t in tensors if t.is_meta and not n.startswith("rope_")]
    if missing:
        raise ValueError(f"converted weights lack {missing[:5]}")
    return model.eval()


def load_transformer(path: str | Path | GGUFModel, weights: str = "fp32", use_cache: bool = True) -> Transformer:
    """Our model for a GGUF path (or opened GGUFModel), converted weights read from / written to the weight cache."""
    g = path if isinstance(path, GGUFModel) else read_gguf(path)
    args = ModelArgs.from_config(g.config)
    if use_cache:
        sd = load_or_convert(g.path, lambda: convert(g, args, weights), variant=f"transformer-{weights}")
    else:
        sd = convert(g, args, weights)
    return build(args, sd)
