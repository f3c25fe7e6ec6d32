"""Triton flash-attention forward (online softmax over BLOCK_M x BLOCK_N tiles) for prefill.

Handles causal masking with a query offset (row i at absolute position q_start + i), grouped-query
attention (query head h reads kv head h // (Hq // Hkv); no repeat_interleave), a valid key length
kv_len <= Tk (static KV cache), lengths that are not multiples of the block sizes, and any head dim
(padded to a power of two >= 16 inside the kernel, masked on load and store). Strided inputs are fine.
Key blocks that every row of a query tile fully sees run without masks; only the diagonal / kv_len
edge blocks pay for masking.
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

LOG2E = 1.4426950408889634


@triton.jit
def _attend_block(acc, l_i, m_i, q, k_ptrs, v_ptrs, start_n, offs_m, offs_n, d_ok, q_start, hi,
                  stride_kn, stride_vn, qk_scale,
                  MASKED: tl.constexpr, CAUSAL: tl.constexpr, DOT_PRECISION: tl.constexpr):
    """Fold one BLOCK_N slice of keys into the running (acc, l_i, m_i) of a query tile."""
    cols = start_n + offs_n
    if MASKED:
        key_ok = cols < hi
        k = tl.load(k_ptrs + start_n * stride_kn, mask=key_ok[:, None] & d_ok[None, :], other=0.0)
        v = tl.load(v_ptrs + start_n * stride_vn, mask=key_ok[:, None] & d_ok[None, :], other=0.0)
    else:
        k = tl.load(k_ptrs + start_n * stride_kn, mask=d_ok[None, :], other=0.0)
        v = tl.load(v_ptrs + start_n * stride_vn, mask=d_ok[None, :], other=0.0)
    s = tl.dot(q, tl.trans(k), input_precision=DOT_PRECISION) * qk_scale  # (BLOCK_M, BLOCK_N), log2 units
    if MASKED:
        ok = key_ok[None, :]
        if CAUSAL:
            ok = ok & (cols[None, :] <= (q_start + offs_m)[:, None])
        s = tl.where(ok, s, float("-inf"))
    m_new = tl.maximum(m_i, tl.max(s, 1))
    alpha = tl.exp2(m_i - m_new)
    p = tl.exp2(s - m_new[:, None])
    l_i = l_i * alpha + tl.sum(p, 1)
    acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=DOT_PRECISION)
    return acc, l_i, m_new


@triton.jit
def _flash_fwd(Q, K, V, Out,
               stride_qb, stride_qh, stride_qm, stride_qd,
               stride_kb, stride_kh, stride_kn, stride_kd,
               stride_vb, stride_vh, stride_vn, stride_vd,
               stride_ob, stride_oh, stride_om, stride_od,
               n_heads, group, tq, kv_len, q_start, qk_scale,
               HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
               CAUSAL: tl.constexpr, DOT_PRECISION: tl.constexpr):
    """One program = one BLOCK_M tile of query rows of one (batch, query head)."""
    pid_m = tl.num_programs(0) - 1 - tl.program_id(0)  # causal: the longest tiles start first
    pid_bh = tl.program_id(1)
    b = pid_bh // n_heads
    h = pid_bh % n_heads
    hk = h // group  # GQA: the kv head this query head reads
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    d_ok = offs_d < HEAD_DIM
    row_ok = offs_m < tq

    q_ptrs = Q + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qm + offs_d[None, :] * stride_qd
    q = tl.load(q_ptrs, mask=row_ok[:, None] & d_ok[None, :], other=0.0)
    k_ptrs = K + b * stride_kb + hk * stride_kh + offs_n[:, None] * stride_kn + offs_d[None, :] * stride_kd
    v_ptrs = V + b * stride_vb + hk * stride_vh + offs_n[:, None] * stride_vn + offs_d[None, :] * stride_vd

    m_i = tl.full([BLOCK_M], -1.0e30, dtype=tl.float32)  # finite: fully masked blocks give p = 0, not NaN
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)

    first_pos = q_start + pid_m * BLOCK_M
    if CAUSAL:
        hi = tl.minimum(kv_len, first_pos + BLOCK_M)  # keys past the tile's last row are never seen
        full = tl.minimum(kv_len, first_pos + 1)  # keys every row of the tile sees
    else:
        hi = kv_len
        full = kv_len
    full = (full // BLOCK_N) * BLOCK_N
    for start_n in range(0, full, BLOCK_N):
        acc, l_i, m_i = _attend_block(acc, l_i, m_i, q, k_ptrs, v_ptrs, start_n, offs_m, offs_n, d_ok,
                                      q_start, hi, stride_kn, stride_vn, qk_scale,
                                      False, CAUSAL, DOT_PRECISION)
    for start_n in range(full, hi, BLOCK_N):
        acc, l_i, m_i = _attend_block(acc, l_i, m_i, q, k_ptrs, v_ptrs, start_n, offs_m, offs_n, d_ok,
                                      q_start, hi, stride_kn, stride_vn, qk_scale,
                                      True, CAUSAL, DOT_PRECISION)

    l_safe = tl.where(l_i > 0.0, l_i, 1.0)  # rows that saw no key keep acc = 0
    out = acc / l_safe[:, None]
    o_ptrs = Out + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_om + offs_d[None, :] * stride_od
    tl.store(o_ptrs, out.to(Out.dtype.element_ty), mask=row_ok[:, None] & d_ok[None, :])


def _config(d: int, dtype: torch.dtype, interpret: bool) -> tuple[int, int, int, int]:
    """(BLOCK_M, BLOCK_N, num_warps, num_stages) for a head dim and dtype."""
    if interpret:
        return 16, 16, 1, 1
    if dtype == torch.float32:  # 128x64 fp32 tiles at D=128 need ~160 KB of shared memory
        return 64, 32, 4, 2
    if d <= 64:
        return 128, 64, 4, 3
    return 128, 64, 8, 2


def block_d(d: int) -> int:
    """Padded head dim: a power of two, at least 16 (tl.dot's minimum)."""
    return max(16, triton.next_power_of_2(d))


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = True,
                    q_start: int = 0, kv_len: int | None = None, scale: float | None = None,
                    block_m: int | None = None, block_n: int | None = None) -> torch.Tensor:
    """Prefill attention; q (B, Hq, Tq, D), k/v (B, Hkv, Tk, D) -> (B, Hq, Tq, D) in q's dtype."""
    b, hq, tq, d = q.shape
    hkv, tk = k.shape[1], k.shape[2]
    kv_len = tk if kv_len is None else kv_len
    scale = 1.0 / math.sqrt(d) if scale is None else scale
    out = torch.empty_like(q, memory_format=torch.contiguous_format)
    interpret = q.device.type == "cpu"
    bm, bn, warps, stages = _config(d, q.dtype, interpret)
    bm, bn = block_m or bm, block_n or bn
    grid = (triton.cdiv(tq, bm), b * hq)
    _flash_fwd[grid](
        q, k, v, out,
        *q.stride(), *k.stride(), *v.stride(), *out.stride(),
        hq, hq // hkv, tq, kv_len, q_start, scale * LOG2E,
        HEAD_DIM=d, BLOCK_D=block_d(d), BLOCK_M=bm, BLOCK_N=bn, CAUSAL=causal,
        DOT_PRECISION="ieee" if q.dtype == torch.float32 else "tf32",
        num_warps=warps, num_stages=stages,
    )
    return out
