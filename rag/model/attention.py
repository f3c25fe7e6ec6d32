"""Attention entry point: dispatch to Triton (CUDA), torch SDPA (CPU) or the plain reference.

Shapes: q (B, Hq, Tq, D); k, v (B, Hkv, Tk, D) with Hq % Hkv == 0 (grouped-query attention).
Only key positions < kv_len (default Tk) are valid: the tail of a static KV cache is ignored.
Query row i sits at absolute position q_start + i and, when causal, sees keys j <= q_start + i.
A query row that sees no key at all returns zeros.

CPU path: torch SDPA, chosen by bench/attention.py on the 2-core dev machine (torch 2.13, fp32,
2 threads, SmolLM2-135M shapes B=1, Hq=9, Hkv=3, D=64; medians from the one run on a quiet machine,
ratios confirmed by later interleaved runs while the shared machine was loaded):
- prefill Tq = Tk = 800, causal: SDPA (is_causal, enable_gqa) 10.6 ms; attention_ref 58.9 ms (x5.6);
  our own bmm/softmax/bmm path with GQA folded into the query rows 52.4 ms (x4.9): SDPA's blocked
  kernel skips the masked half of the scores.
- decode Tq = 1, static cache Tk = 2048, kv_len 100 / 250 / 500 / 1000: SDPA over k[:, :, :kv_len]
  with the query heads folded onto their kv head (q viewed as (B, Hkv, Hq/Hkv, D): no mask, no copy)
  49 / 81 / 109 / 126 us; attention_ref 0.8-1.1 ms; the own bmm path x1.1-1.5 slower than SDPA in
  every interleaved run.
SDPA wins both regimes, so there is no own CPU kernel (kernels/cpu_attention.py).

RAG_ATTENTION=ref|sdpa|triton forces a path (tests and benchmarks); unset means automatic.
"""
from __future__ import annotations

import math
import os

import torch
import torch.nn.functional as F

from rag.model import kernels

_PATHS = ("ref", "sdpa", "triton")


def _check(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, kv_len: int | None, q_start: int) -> int:
    """Validate shapes; return the effective kv_len."""
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(f"attention expects 4-D q, k, v; got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if k.shape != v.shape:
        raise ValueError(f"k and v shapes differ: {tuple(k.shape)} vs {tuple(v.shape)}")
    b, hq, _, d = q.shape
    if k.shape[0] != b or k.shape[3] != d:
        raise ValueError(f"q {tuple(q.shape)} and k {tuple(k.shape)} disagree on batch or head dim")
    if hq % k.shape[1] != 0:
        raise ValueError(f"query heads ({hq}) must be a multiple of kv heads ({k.shape[1]})")
    if q_start < 0:
        raise ValueError(f"q_start={q_start} must be >= 0")
    tk = k.shape[2]
    if kv_len is None:
        return tk
    if not 0 <= kv_len <= tk:
        raise ValueError(f"kv_len={kv_len} outside [0, {tk}]")
    return int(kv_len)


def _visible(tq: int, tk: int, causal: bool, q_start: int, kv_len: int, device: torch.device) -> torch.Tensor:
    """(Tq, Tk) bool: True where query row i may attend to key j."""
    cols = torch.arange(tk, device=device)
    ok = (cols < kv_len).expand(tq, tk)
    if causal:
        rows = torch.arange(tq, device=device) + q_start
        ok = ok & (cols[None, :] <= rows[:, None])
    return ok


def attention_ref(q, k, v, *, causal=True, q_start=0, kv_len=None, scale=None):
    """Plain reference: repeat kv heads, masked softmax in fp32."""
    kv_len = _check(q, k, v, kv_len, q_start)
    b, hq, tq, d = q.shape
    rep = hq // k.shape[1]
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    kf = k.float().repeat_interleave(rep, dim=1)  # (B, Hq, Tk, D)
    vf = v.float().repeat_interleave(rep, dim=1)
    scores = torch.matmul(q.float(), kf.transpose(-1, -2)) * scale  # (B, Hq, Tq, Tk)
    ok = _visible(tq, k.shape[2], causal, q_start, kv_len, q.device)
    scores = scores.masked_fill(~ok, float("-inf"))
    probs = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # rows with no visible key -> 0
    return torch.matmul(probs, vf).to(q.dtype)


def attention_sdpa(q, k, v, *, causal=True, q_start=0, kv_len=None, scale=None):
    """torch SDPA with the cheapest mask form: none, is_causal, or an explicit boolean mask."""
    kv_len = _check(q, k, v, kv_len, q_start)
    b, hq, tq, d = q.shape
    hkv = k.shape[1]
    n = min(kv_len, q_start + tq) if causal else kv_len  # keys beyond n are never visible
    if n == 0:
        return q.new_zeros(q.shape)
    k, v = k[:, :, :n], v[:, :, :n]
    if not causal or q_start + 1 >= n:  # every row sees all n keys
        if tq == 1 and hq != hkv:  # decode: fold the query heads of a group onto its kv head, no copy
            out = F.scaled_dot_product_attention(q.reshape(b, hkv, hq // hkv, d), k, v, scale=scale)
            return out.reshape(b, hq, 1, d)
        return F.scaled_dot_product_attention(q, k, v, scale=scale, enable_gqa=hq != hkv)
    if q_start == 0 and tq == n:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale, enable_gqa=hq != hkv)
    mask = _visible(tq, n, True, q_start, n, q.device)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, enable_gqa=hq != hkv)


def _path(q: torch.Tensor) -> str:
    """The path for q: forced by RAG_ATTENTION, else Triton on CUDA when available, else SDPA."""
    forced = os.environ.get("RAG_ATTENTION")
    if forced:
        if forced not in _PATHS:
            raise ValueError(f"RAG_ATTENTION={forced!r}; expected one of {', '.join(_PATHS)}")
        return forced
    return "triton" if q.is_cuda and kernels.HAS_TRITON else "sdpa"


def attention(q, k, v, *, causal=True, q_start=0, kv_len=None, scale=None):
    """Attention of q over the first kv_len keys of k/v; see the module docstring for the contract."""
    path = _path(q)
    if path == "sdpa":
        return attention_sdpa(q, k, v, causal=causal, q_start=q_start, kv_len=kv_len, scale=scale)
    if path == "ref":
        return attention_ref(q, k, v, causal=causal, q_start=q_start, kv_len=kv_len, scale=scale)
    kv_len = _check(q, k, v, kv_len, q_start)
    return kernels.triton_attention(q, k, v, causal=causal, q_start=q_start, kv_len=kv_len, scale=scale)
