"""Triton split-K decode attention: one query token per sequence against a (static) KV cache.

Pass 1 (_decode_split): grid (splits, B * Hkv). Each program takes one slice of the valid keys for
one kv head and all Hq / Hkv query heads that share it (GQA: the K/V slice is read once per group),
and writes its partial running max m, sum l and unnormalised accumulator acc in fp32.
Pass 2 (_decode_combine): grid (B * Hq,). Rescales the partials to the global max and normalises.
The valid key count is min(kv_len, q_start + 1) when causal, else kv_len.
"""
from __future__ import annotations

import functools
import math

import torch
import triton
import triton.language as tl

from rag.model.kernels.flash_attention import LOG2E, block_d

MAX_SPLITS = 128


@triton.jit
def _decode_split(Q, K, V, M, L, A,
                  stride_qb, stride_qh, stride_qd,
                  stride_kb, stride_kh, stride_kn, stride_kd,
                  stride_vb, stride_vh, stride_vn, stride_vd,
                  n_kv_heads, group, n_valid, split_size, n_splits, qk_scale,
                  HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_H: tl.constexpr, BLOCK_N: tl.constexpr,
                  DOT_PRECISION: tl.constexpr):
    """Partial softmax statistics of one key slice for one GQA group of query heads."""
    sid = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = pid_bh // n_kv_heads
    hk = pid_bh % n_kv_heads
    offs_h = tl.arange(0, BLOCK_H)  # query heads of the group, padded to BLOCK_H rows
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    d_ok = offs_d < HEAD_DIM
    h_ok = offs_h < group
    heads = hk * group + offs_h

    q = tl.load(Q + b * stride_qb + heads[:, None] * stride_qh + offs_d[None, :] * stride_qd,
                mask=h_ok[:, None] & d_ok[None, :], other=0.0)  # (BLOCK_H, BLOCK_D)
    k_base = K + b * stride_kb + hk * stride_kh + offs_n[:, None] * stride_kn + offs_d[None, :] * stride_kd
    v_base = V + b * stride_vb + hk * stride_vh + offs_n[:, None] * stride_vn + offs_d[None, :] * stride_vd

    m_i = tl.full([BLOCK_H], -1.0e30, dtype=tl.float32)
    l_i = tl.zeros([BLOCK_H], dtype=tl.float32)
    acc = tl.zeros([BLOCK_H, BLOCK_D], dtype=tl.float32)
    lo = sid * split_size
    hi = tl.minimum(lo + split_size, n_valid)
    for start_n in range(lo, hi, BLOCK_N):
        key_ok = (start_n + offs_n) < hi
        kv_mask = key_ok[:, None] & d_ok[None, :]
        k = tl.load(k_base + start_n * stride_kn, mask=kv_mask, other=0.0)
        v = tl.load(v_base + start_n * stride_vn, mask=kv_mask, other=0.0)
        s = tl.dot(q, tl.trans(k), input_precision=DOT_PRECISION) * qk_scale  # (BLOCK_H, BLOCK_N), log2 units
        s = tl.where(key_ok[None, :], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=DOT_PRECISION)
        m_i = m_new

    row = (b * n_kv_heads * group + heads) * n_splits + sid  # index into (B, Hq, S)
    tl.store(M + row, m_i, mask=h_ok)
    tl.store(L + row, l_i, mask=h_ok)
    tl.store(A + row[:, None] * BLOCK_D + offs_d[None, :], acc, mask=h_ok[:, None])


@triton.jit
def _decode_combine(M, L, A, Out, stride_ob, stride_oh, stride_od, n_heads, n_splits,
                    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_S: tl.constexpr):
    """Merge the per-split partials of one (batch, query head) into the output row."""
    pid = tl.program_id(0)
    b = pid // n_heads
    h = pid % n_heads
    offs_s = tl.arange(0, BLOCK_S)
    offs_d = tl.arange(0, BLOCK_D)
    s_ok = offs_s < n_splits
    base = pid * n_splits
    m = tl.load(M + base + offs_s, mask=s_ok, other=-1.0e30)
    sums = tl.load(L + base + offs_s, mask=s_ok, other=0.0)
    a = tl.load(A + (base + offs_s)[:, None] * BLOCK_D + offs_d[None, :], mask=s_ok[:, None], other=0.0)
    w = tl.exp2(m - tl.max(m, 0))
    total = tl.sum(w * sums, 0)
    out = tl.sum(a * w[:, None], 0) / tl.where(total > 0.0, total, 1.0)
    tl.store(Out + b * stride_ob + h * stride_oh + offs_d * stride_od, out.to(Out.dtype.element_ty),
             mask=offs_d < HEAD_DIM)


@functools.cache
def _sm_count(index: int) -> int:
    """Streaming multiprocessors of a CUDA device."""
    return torch.cuda.get_device_properties(index).multi_processor_count


def _num_splits(n_valid: int, b: int, hkv: int, block_n: int, device: torch.device) -> int:
    """Enough splits to give every SM about two programs, no more than there are key blocks."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        target = triton.cdiv(2 * _sm_count(index), b * hkv)
    else:
        target = 4
    return max(1, min(target, triton.cdiv(n_valid, block_n), MAX_SPLITS))


def decode_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = True,
                     q_start: int = 0, kv_len: int | None = None, scale: float | None = None,
                     num_splits: int | None = None, block_n: int | None = None) -> torch.Tensor:
    """Decode attention; q (B, Hq, 1, D), k/v (B, Hkv, Tk, D) -> (B, Hq, 1, D) in q's dtype."""
    b, hq, tq, d = q.shape
    if tq != 1:
        raise ValueError(f"decode_attention takes one query token, got Tq={tq}")
    hkv, tk = k.shape[1], k.shape[2]
    kv_len = tk if kv_len is None else kv_len
    n_valid = min(kv_len, q_start + 1) if causal else kv_len
    out = torch.empty_like(q, memory_format=torch.contiguous_format)
    if n_valid <= 0:
        return out.zero_()
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    interpret = q.device.type == "cpu"
    bn = block_n or (16 if interpret else 64)
    splits = num_splits or _num_splits(n_valid, b, hkv, bn, q.device)
    split_size = triton.cdiv(triton.cdiv(n_valid, splits), bn) * bn
    splits = triton.cdiv(n_valid, split_size)  # no empty splits
    bd = block_d(d)
    group = hq // hkv
    m = torch.empty((b, hq, splits), device=q.device, dtype=torch.float32)
    sums = torch.empty_like(m)
    a = torch.empty((b, hq, splits, bd), device=q.device, dtype=torch.float32)
    _decode_split[(splits, b * hkv)](
        q, k, v, m, sums, a,
        q.stride(0), q.stride(1), q.stride(3), *k.stride(), *v.stride(),
        hkv, group, n_valid, split_size, splits, scale * LOG2E,
        HEAD_DIM=d, BLOCK_D=bd, BLOCK_H=max(16, triton.next_power_of_2(group)), BLOCK_N=bn,
        DOT_PRECISION="ieee" if q.dtype == torch.float32 else "tf32",
        num_warps=1 if interpret else 4,
    )
    _decode_combine[(b * hq,)](
        m, sums, a, out, out.stride(0), out.stride(1), out.stride(3), hq, splits,
        HEAD_DIM=d, BLOCK_D=bd, BLOCK_S=max(2, triton.next_power_of_2(splits)),
        num_warps=1 if interpret else 4,
    )
    return out
