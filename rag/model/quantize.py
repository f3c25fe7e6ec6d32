"""Packed Linear layers for CPU decode: int8 weight-only (per output channel) and Q4_1-exact int4 (group 32)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

GROUP = 32  # Q4_1 block size and the int4pack group size
PREFILL_ROWS = 16  # from this many rows, Int8Linear dequantises and runs an fp32 GEMM (MKL beats the packed kernel)
ACT_DTYPE = torch.bfloat16  # the packed CPU kernels are vectorised for bf16 activations only (fp32 runs 10-20x slower)
Q4_1_BLOCK_BYTES = 20  # f16 d, f16 m, 16 bytes of nibbles


class Int8Linear(nn.Module):
    """y = x @ (q * scale).T + b with q int8 (N, K) and one fp32 scale per output row."""

    def __init__(self, qweight: Tensor, scales: Tensor, bias: Tensor | None = None) -> None:
        super().__init__()
        self.out_features, self.in_features = qweight.shape
        self.register_buffer("qweight", qweight.contiguous())  # (N, K) int8
        self.register_buffer("scales", scales.float().contiguous())  # (N,)
        self.register_buffer("bias", None if bias is None else bias.float().contiguous())
        self.unit = torch.ones(self.out_features, dtype=ACT_DTYPE)  # the kernel's scales; fp32 ones applied after

    @classmethod
    def from_float(cls, weight: Tensor, bias: Tensor | None = None) -> "Int8Linear":
        """Symmetric per-channel quantisation of an fp32 (N, K) weight."""
        scales = weight.abs().amax(dim=1).clamp(min=1e-12) / 127.0  # (N,)
        q = torch.round(weight / scales[:, None]).clamp(-127, 127).to(torch.int8)
        return cls(q, scales, bias)

    def dequantize(self) -> Tensor:
        """The fp32 (N, K) weight this layer multiplies by."""
        return self.qweight.float() * self.scales[:, None]

    def reference(self, x: Tensor) -> Tensor:
        """Plain fp32 matmul with the dequantised weight."""
        y = x @ self.dequantize().T
        return y if self.bias is None else y + self.bias

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape  # (..., K)
        x2 = x.reshape(-1, shape[-1])  # (M, K)
        if x2.shape[0] >= PREFILL_ROWS:
            y = F.linear(x2, self.dequantize(), self.bias)  # (M, N)
        else:
            y = torch.ops.aten._weight_int8pack_mm(x2.to(ACT_DTYPE), self.qweight, self.unit).float() * self.scales
            if self.bias is not None:
                y = y + self.bias
        return y.view(*shape[:-1], self.out_features)


class Int4Linear(nn.Module):
    """y = x @ W.T + b with W[n, k] = (q - 8) * scale[g, n] + zero[g, n], g = k // 32, q packed by torch."""

    def __init__(self, packed: Tensor, scale_zeros: Tensor, in_features: int, bias: Tensor | None = None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = scale_zeros.shape[1]
        self.register_buffer("packed", packed.contiguous())  # (N, K/2) uint8, torch's CPU int4 layout
        self.register_buffer("scale_zeros", scale_zeros.float().contiguous())  # (K/32, N, 2)
        self.register_buffer("bias", None if bias is None else bias.float().contiguous())
        self.scale_zeros_act = self.scale_zeros.to(ACT_DTYPE)  # what the fast kernel takes

    @classmethod
    def from_codes(cls, q: Tensor, scale: Tensor, zero: Tensor, bias: Tensor | None = None) -> "Int4Linear":
        """q (N, K) ints in 0..15, scale/zero (N, K/32) fp32."""
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.to(torch.int32).contiguous(), 1)
        scale_zeros = torch.stack([scale.T, zero.T], dim=-1)  # (K/32, N, 2)
        return cls(packed, scale_zeros, q.shape[1], bias)

    @classmethod
    def from_q4_1(cls, raw: np.ndarray | Tensor, in_features: int, bias: Tensor | None = None) -> "Int4Linear":
        """Exact repacking of GGUF Q4_1 blocks (N rows of K/32 blocks of 20 bytes): scale=d, zero=m+8d."""
        q, d, m = unpack_q4_1(raw, in_features)
        return cls.from_codes(q, d, m + 8 * d, bias)

    @classmethod
    def from_float(cls, weight: Tensor, bias: Tensor | None = None) -> "Int4Linear":
        """Asymmetric min/max quantisation in groups of 32 (for weights that are not stored as Q4_1)."""
        n, k = weight.shape
        g = weight.float().view(n, k // GROUP, GROUP)
        lo, hi = g.amin(-1), g.amax(-1)  # (N, K/32)
        d = ((hi - lo) / 15).clamp(min=1e-12)
        q = torch.round((g - lo[..., None]) / d[..., None]).clamp(0, 15).view(n, k)
        return cls.from_codes(q, d, lo + 8 * d, bias)

    def dequantize(self) -> Tensor:
        """The fp32 (N, K) weight, recovered by multiplying the identity through the packed kernel."""
        eye = torch.eye(self.in_features, dtype=torch.float32)
        return torch.ops.aten._weight_int4pack_mm_for_cpu(eye, self.packed, GROUP, self.scale_zeros).T.contiguous()

    def reference(self, x: Tensor) -> Tensor:
        """Plain fp32 matmul with the dequantised weight."""
        y = x @ self.dequantize().T
        return y if self.bias is None else y + self.bias

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape  # (..., K)
        x2 = x.reshape(-1, shape[-1]).to(ACT_DTYPE)  # (M, K)
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(x2, self.packed, GROUP, self.scale_zeros_act).float()
        if self.bias is not None:
            y = y + self.bias
        return y.view(*shape[:-1], self.out_features)


def unpack_q4_1(raw: np.ndarray | Tensor, in_features: int) -> tuple[Tensor, Tensor, Tensor]:
    """Q4_1 blocks -> codes q (N, K) int32 in 0..15, d (N, K/32), m (N, K/32); w = d * q + m."""
    blocks = np.ascontiguousarray(np.asarray(raw, dtype=np.uint8)).reshape(-1, in_features // GROUP, Q4_1_BLOCK_BYTES)
    d = blocks[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)  # (N, K/32)
    m = blocks[..., 2:4].copy().view(np.float16)[..., 0].astype(np.float32)
    qs = blocks[..., 4:]  # (N, K/32, 16)
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).reshape(blocks.shape[0], in_features)  # low nibbles first
    return torch.from_numpy(q.astype(np.int32)), torch.from_numpy(d), torch.from_numpy(m)


def dequantize_q4_1(raw: np.ndarray | Tensor, in_features: int) -> Tensor:
    """fp32 (N, K) weight of Q4_1 blocks, the plain reference for Int4Linear.from_q4_1."""
    q, d, m = unpack_q4_1(raw, in_features)
    return (q.float().view(q.shape[0], -1, GROUP) * d[..., None] + m[..., None]).view(q.shape[0], in_features)


def int4_supported(out_features: int, in_features: int) -> bool:
    """Whether torch's CPU int4 kernel takes this shape."""
    return in_features % GROUP == 0 and out_features % 16 == 0
