"""A flat one-token decode step for batch 1: the Transformer's math in far fewer aten ops.

At 135M parameters a decode step is bound by per-op overhead as much as by the matmuls: the module
path (nn.Module calls, F.rms_norm, cat-based RoPE, SDPA dispatch, casts) ran about 5,600 aten ops per
step. This path calls the packed kernels directly, rotates q and k with one small matmul against a
rotation matrix built once per step, and writes the shared static KV cache in place: about 3,700 ops
and 23 ms a step instead of 43 ms (SmolLM2-135M int4, 2 threads, bench/decode.py).
Transformer.forward stays the reference; tests/rag/model/test_decode.py checks they agree. For packed
weights, NativeDecoder (native_decode.py, our C step) replaces this path wherever our kernels build.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rag.model.blocks import ConcatLinear
from rag.model.model import Transformer
from rag.model.quantize import ACT_DTYPE, PackedLinear

Projection = Callable[[Tensor], Tensor]  # (1, K) activations in the path's dtype -> (1, N) fp32


def projection(module: nn.Module) -> Projection:
    """The cheapest call of one Linear's kernel (input already in activation dtype and contiguous)."""
    if isinstance(module, ConcatLinear):
        parts = [projection(p) for p in module.parts]
        return lambda x: torch.cat([p(x) for p in parts], dim=-1)
    bias = getattr(module, "bias", None)
    if isinstance(module, PackedLinear) and module.kernels is not None:
        kernels, kind, codes, groups, n = module.kernels, module.kind, module.codes, module.groups, module.out_features
        if bias is None:
            return lambda x: kernels.matmul_into(kind, codes, groups, x, torch.empty(1, n))
        return lambda x: kernels.matmul_into(kind, codes, groups, x, torch.empty(1, n)).add_(bias)
    if isinstance(module, PackedLinear):
        mm = module.torch_mm
        if bias is None:
            return lambda x: mm(x).float()
        return lambda x: mm(x).float() + bias
    if isinstance(module, nn.Linear):
        weight = module.weight
        return lambda x: F.linear(x, weight, bias)
    raise TypeError(f"no decode projection for {type(module).__name__}")


@dataclass
class _Layer:
    """One block's tensors and kernels."""

    attn_norm: Tensor
    qkv: Projection
    out: Projection
    ffn_norm: Tensor
    gate_up: Projection
    down: Projection
    attn: nn.Module  # its kv_cache is read at each step: setup_caches replaces the buffers


def check_step(model: Transformer, token: int, pos: int) -> None:
    """ValueError for a decode step past the KV cache or a token id outside the vocabulary."""
    if pos >= model.max_seq_len:
        raise ValueError(f"position {pos} exceeds the cache size {model.max_seq_len}")
    vocab = model.token_embd.weight.shape[0]
    if not 0 <= token < vocab:
        raise ValueError(f"token id {token} is outside the vocabulary of {vocab}")


def rotation_sign(head_dim: int) -> Tensor:
    """(D, D) matrix P with rotate_half(x) == x @ P."""
    half = head_dim // 2
    p = torch.zeros(head_dim, head_dim)
    idx = torch.arange(half)
    p[idx + half, idx] = -1.0
    p[idx, idx + half] = 1.0
    return p


class FastDecoder:
    """Logits (vocab,) for one token at one position, sharing the model's weights and KV caches."""

    def __init__(self, model: Transformer) -> None:
        a = model.args
        if not model.max_seq_len:
            raise ValueError("call model.setup_caches before building a FastDecoder")
        self.model = model
        self.eps = a.norm_eps
        self.hq, self.hkv, self.d, self.hidden = a.n_heads, a.n_kv_heads, a.head_dim, a.hidden_dim
        self.scale = 1.0 / math.sqrt(a.head_dim)
        bf16 = any(isinstance(m, PackedLinear) and m.act_dtype == ACT_DTYPE for m in model.modules())
        self.act_dtype = ACT_DTYPE if bf16 else torch.float32
        self.layers = [self._layer(b) for b in model.blk]
        self.embedding = model.token_embd.weight  # (V, dim) fp32
        self.output_norm = model.output_norm.weight
        self.sign = rotation_sign(a.head_dim)

    def _layer(self, block: nn.Module) -> _Layer:
        return _Layer(block.attn_norm.weight, projection(block.attn.attn_qkv), projection(block.attn.attn_output),
                      block.ffn_norm.weight, projection(block.ffn.ffn_gate_up), projection(block.ffn.ffn_down),
                      block.attn)

    def _normed(self, x: Tensor, weight: Tensor) -> Tensor:
        """RMSNorm of x (1, dim) in fp32."""
        inv = torch.rsqrt((x * x).sum(-1, keepdim=True).mul_(1.0 / x.shape[-1]).add_(self.eps))  # (1, 1)
        return x * inv * weight

    def _norm(self, x: Tensor, weight: Tensor) -> Tensor:
        """RMSNorm of x (1, dim) in the activation dtype."""
        return self._normed(x, weight).to(self.act_dtype)

    def _rotation(self, pos: int) -> Tensor:
        """(D, D) matrix R with apply_rope(x, cos, sin) == x @ R at position pos."""
        cos, sin = self.model.rope_cos[pos], self.model.rope_sin[pos]  # (D,)
        return torch.diag(cos).addcmul_(self.sign, sin)

    def step(self, token: int, pos: int) -> Tensor:
        """Feed token at position pos (filling the caches); logits (vocab,) of the next token."""
        check_step(self.model, token, pos)
        hq, hkv, d, n = self.hq, self.hkv, self.d, pos + 1
        rot = self._rotation(pos)  # (D, D)
        x = self.embedding[token:token + 1]  # (1, dim), a view: only replaced, never written
        for layer in self.layers:
            k_cache, v_cache = layer.attn.kv_cache.k[0], layer.attn.kv_cache.v[0]  # (Hkv, S, D)
            heads = layer.qkv(self._norm(x, layer.attn_norm)).view(hq + 2 * hkv, d)  # (Hq+2Hkv, D)
            qk = heads[:hq + hkv] @ rot  # (Hq+Hkv, D) rotated
            k_cache[:, pos] = qk[hq:]
            v_cache[:, pos] = heads[hq + hkv:]
            q = qk[:hq].view(hkv, hq // hkv, d)  # (Hkv, rep, D): query heads grouped by their kv head
            keys, values = k_cache[:, :n].to(q.dtype), v_cache[:, :n].to(q.dtype)  # a copy only for fp16 caches
            scores = torch.baddbmm(q.new_empty(hkv, q.shape[1], n), q, keys.transpose(1, 2),
                                   beta=0.0, alpha=self.scale)  # (Hkv, rep, n)
            y = torch.bmm(scores.softmax(-1), values)  # (Hkv, rep, D)
            x = x + layer.out(y.view(1, hq * d).to(self.act_dtype))
            gate_up = layer.gate_up(self._norm(x, layer.ffn_norm))  # (1, 2H)
            x = x + layer.down((F.silu(gate_up[:, :self.hidden]) * gate_up[:, self.hidden:]).to(self.act_dtype))
        return self.model.output(self._normed(x, self.output_norm))[0]  # (V,)
