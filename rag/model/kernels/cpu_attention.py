"""Own CPU attention: GQA folded into query rows, bmm / softmax / bmm, no kv-head copy, no mask op
when every row sees every key. At decode (one query token) it beats torch SDPA on CPU; at causal
prefill SDPA's blocked kernel wins (bench/attention.py), so the dispatcher uses this for decode only.
"""
from __future__ import annotations

import math

import torch


def attention_cpu(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = True,
                  q_start: int = 0, kv_len: int | None = None, scale: float | None = None) -> torch.Tensor:
    """q (B, Hq, Tq, D), k/v (B, Hkv, Tk, D) -> (B, Hq, Tq, D); shapes already validated."""
    b, hq, tq, d = q.shape
    hkv = k.shape[1]
    rep = hq // hkv
    kv_len = k.shape[2] if kv_len is None else kv_len
    n = min(kv_len, q_start + tq) if causal else kv_len  # keys beyond n are never visible
    if n == 0:
        return q.new_zeros(q.shape)
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    kg = k[:, :, :n].reshape(b * hkv, n, d)  # a view for a (B, Hkv, Tmax, D) cache
    vg = v[:, :, :n].reshape(b * hkv, n, d)
    qg = q.reshape(b * hkv, rep * tq, d) * scale  # rows: (head in group, position)
    s = torch.bmm(qg, kg.transpose(1, 2))  # (B*Hkv, rep*Tq, n)
    if causal and q_start + 1 < n:  # some row does not see every key
        pos = torch.arange(q_start, q_start + tq, device=q.device).repeat(rep)
        s.masked_fill_(torch.arange(n, device=q.device)[None, :] > pos[:, None], float("-inf"))
    out = torch.bmm(torch.softmax(s, dim=-1), vg)  # (B*Hkv, rep*Tq, D)
    return out.reshape(b, hq, tq, d)
