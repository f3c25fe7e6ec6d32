"""Packed Linear layers for CPU decode: int8 weight-only (per output channel) and Q4_1-exact int4 (group 32)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rag.model import native

GROUP = 32  # Q4_1 block size and the int4pack group size
PREFILL_ROWS = 16  # from this many rows, packed layers dequantise and run an fp32 GEMM (MKL beats the packed kernels)
ACT_DTYPE = torch.bfloat16  # torch's packed CPU kernels are vectorised for bf16 activations only (fp32 runs 10-20x slower)
Q4_1_BLOCK_BYTES = 20  # f16 d, f16 m, 16 bytes of nibbles
RESCORE_TOP_K = 16  # candidate logits per row that RescoredHead recomputes in fp32


class PackedLinear(nn.Module):
    """A Linear whose weight is stored packed: an fp32 GEMM on the dequantised weight from PREFILL_ROWS rows
    on, the packed kernel below that; subclasses give dequantize() and _packed_mm()."""

    out_features: int
    bias: Tensor | None

    def dequantize(self) -> Tensor:
        """The fp32 (N, K) weight this layer multiplies by."""
        raise NotImplementedError

    def _packed_mm(self, x2: Tensor) -> Tensor:
        """(M, K) activations -> (M, N) fp32 through the packed kernel, bias excluded."""
        raise NotImplementedError

    def reference(self, x: Tensor) -> Tensor:
        """Plain fp32 matmul with the dequantised weight."""
        y = x @ self.dequantize().T
        return y if self.bias is None else y + self.bias

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape  # (..., K)
        x2 = x.reshape(-1, shape[-1])  # (M, K)
        if x2.shape[0] >= PREFILL_ROWS:
            y = F.linear(x2.float(), self.dequantize(), self.bias)  # (M, N)
        else:
            y = self._packed_mm(x2)
            if self.bias is not None:
                y = y + self.bias
        return y.view(*shape[:-1], self.out_features)


class Int8Linear(PackedLinear):
    """y = x @ (q * scale).T + b with q int8 (N, K) and one fp32 scale per output row."""

    def __init__(self, qweight: Tensor, scales: Tensor, bias: Tensor | None = None) -> None:
        super().__init__()
        self.out_features, self.in_features = qweight.shape
        self.register_buffer("qweight", qweight.contiguous())  # (N, K) int8
        self.register_buffer("scales", scales.float().contiguous())  # (N,)
        self.register_buffer("bias", None if bias is None else bias.float().contiguous())
        self.unit = torch.ones(self.out_features, dtype=ACT_DTYPE)  # the kernel's scales; fp32 ones applied after
        self.act_dtype = ACT_DTYPE  # the activation dtype of the decode kernel

    @classmethod
    def from_float(cls, weight: Tensor, bias: Tensor | None = None) -> "Int8Linear":
        """Symmetric per-channel quantisation of an fp32 (N, K) weight."""
        scales = weight.abs().amax(dim=1).clamp(min=1e-12) / 127.0  # (N,)
        q = torch.round(weight / scales[:, None]).clamp(-127, 127).to(torch.int8)
        return cls(q, scales, bias)

    def dequantize(self) -> Tensor:
        """The fp32 (N, K) weight q * scale."""
        return self.qweight.float() * self.scales[:, None]

    def _packed_mm(self, x2: Tensor) -> Tensor:
        return torch.ops.aten._weight_int8pack_mm(x2.to(ACT_DTYPE), self.qweight, self.unit).float() * self.scales


class Int4Linear(PackedLinear):
    """y = x @ W.T + b with W[n, k] = q * d[n, g] + m[n, g], g = k // 32 (the Q4_1 form), q 4-bit codes.

    Weights stay packed as in the GGUF's Q4_1 blocks: nibbles (N, K/2) and fp16 d, m per group of 32.
    Few rows (decode) run our C kernel (rag/model/native.py: activations as int16 per group, fp32 sums),
    or, where it cannot be built, torch's int4 kernel on bf16 activations (packed on first use). From
    PREFILL_ROWS rows the exact fp32 weight is rebuilt and multiplied by an fp32 GEMM.
    """

    def __init__(self, nibbles: Tensor, groups: Tensor, bias: Tensor | None = None) -> None:
        super().__init__()
        self.out_features, self.in_features = nibbles.shape[0], nibbles.shape[1] * 2
        self.register_buffer("nibbles", nibbles.contiguous())  # (N, K/2) uint8: element j low, j + 16 high
        self.register_buffer("groups", groups.half().contiguous())  # (N, K/32, 2) fp16: d, m (as in Q4_1 blocks)
        self.register_buffer("bias", None if bias is None else bias.float().contiguous())
        self.kernels = native.kernels()
        self._torch_packed: tuple[Tensor, Tensor] | None = None

    @property
    def act_dtype(self) -> torch.dtype:
        """The activation dtype of the decode kernel."""
        return torch.float32 if self.kernels is not None else ACT_DTYPE

    @classmethod
    def from_codes(cls, q: Tensor, d: Tensor, m: Tensor, bias: Tensor | None = None) -> "Int4Linear":
        """q (N, K) ints in 0..15, d and m (N, K/32) fp16 values: W = q * d + m groupwise."""
        n, k = q.shape
        g = q.to(torch.uint8).view(n, k // GROUP, GROUP)
        nibbles = (g[..., :GROUP // 2] | (g[..., GROUP // 2:] << 4)).reshape(n, k // 2)
        return cls(nibbles, torch.stack([d, m], dim=-1), bias)

    @classmethod
    def from_q4_1(cls, raw: np.ndarray | Tensor, in_features: int, bias: Tensor | None = None) -> "Int4Linear":
        """Exact repacking of GGUF Q4_1 blocks (N rows of K/32 blocks of 20 bytes)."""
        d, m, qs = _q4_1_fields(raw, in_features)
        nibbles = qs.reshape(qs.shape[0], in_features // 2)
        return cls(torch.from_numpy(nibbles), torch.from_numpy(np.stack([d, m], axis=-1)), bias)

    @classmethod
    def from_float(cls, weight: Tensor, bias: Tensor | None = None) -> "Int4Linear":
        """Asymmetric min/max quantisation in groups of 32 (for weights that are not stored as Q4_1)."""
        n, k = weight.shape
        g = weight.float().view(n, k // GROUP, GROUP)
        lo, hi = g.amin(-1), g.amax(-1)  # (N, K/32)
        d = ((hi - lo) / 15).clamp(min=2e-7).half().float()  # kept as fp16, where 2e-7 is still above zero
        lo = lo.half().float()
        q = torch.round((g - lo[..., None]) / d[..., None]).clamp(0, 15).view(n, k)
        return cls.from_codes(q, d, lo, bias)

    def codes(self) -> Tensor:
        """(N, K) uint8 codes in 0..15."""
        n = self.out_features
        nib = self.nibbles.view(n, -1, GROUP // 2)  # (N, K/32, 16)
        return torch.cat([nib & 0x0F, nib >> 4], dim=-1).view(n, self.in_features)

    def dequantize(self) -> Tensor:
        """The fp32 (N, K) weight q * d + m (the product rounded before the sum, as the fp32 GGUF reader does)."""
        if self.kernels is not None:
            return self.kernels.dequantize(self.nibbles, self.groups)
        n, k = self.out_features, self.in_features
        q = self.codes().view(n, k // GROUP, GROUP).float()  # (N, K/32, 32)
        groups = self.groups.float()
        return (q * groups[..., :1] + groups[..., 1:]).view(n, k)

    def torch_int4(self) -> tuple[Tensor, Tensor]:
        """torch's CPU int4 layout of the weight and its (K/32, N, 2) bf16 scales and zeros, built once."""
        if self._torch_packed is None:
            packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(self.codes().to(torch.int32), 1)
            d, m = self.groups[..., 0].float(), self.groups[..., 1].float()
            scale_zeros = torch.stack([d.T, (m + 8 * d).T], dim=-1)  # the kernel computes (q - 8) * s + z
            self._torch_packed = packed, scale_zeros.to(ACT_DTYPE).contiguous()
        return self._torch_packed

    def _packed_mm(self, x2: Tensor) -> Tensor:
        if self.kernels is not None:
            return self.kernels.matmul(self.nibbles, self.groups, x2)
        packed, scale_zeros = self.torch_int4()
        return torch.ops.aten._weight_int4pack_mm_for_cpu(x2.to(ACT_DTYPE), packed, GROUP, scale_zeros).float()


class RescoredHead(nn.Module):
    """Output layer over the fp32 tied embedding: exact fp32 GEMM for many rows, packed and rescored for few.

    For decode rows the packed logits carry quantisation and bf16 rounding (enough to flip near-ties);
    the RESCORE_TOP_K best of each row get their exact fp32 dot product, so greedy picks match the
    fp32 model whenever its best token is among them.
    """

    def __init__(self, packed: nn.Module, embedding: Tensor) -> None:
        super().__init__()
        self.packed = packed
        self.embedding = embedding  # (V, dim) fp32, shared with token_embd

    def forward(self, h: Tensor) -> Tensor:
        rows = h.reshape(-1, h.shape[-1]).float()  # (M, dim)
        if rows.shape[0] >= PREFILL_ROWS:
            return F.linear(h.float(), self.embedding)  # (..., V)
        logits = self.packed(h)  # (..., V) fp32
        flat = logits.view(-1, logits.shape[-1])  # (M, V)
        top = flat.topk(RESCORE_TOP_K, dim=-1).indices  # (M, k)
        exact = torch.bmm(self.embedding[top], rows[:, :, None])[..., 0]  # (M, k)
        flat.scatter_(1, top, exact)
        return logits


def _q4_1_fields(raw: np.ndarray | Tensor, in_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Q4_1 blocks -> d (N, K/32) fp32, m (N, K/32) fp32 and the nibble bytes (N, K/32, 16)."""
    blocks = np.ascontiguousarray(np.asarray(raw, dtype=np.uint8)).reshape(-1, in_features // GROUP, Q4_1_BLOCK_BYTES)
    d = blocks[..., 0:2].copy().view(np.float16)[..., 0].astype(np.float32)
    m = blocks[..., 2:4].copy().view(np.float16)[..., 0].astype(np.float32)
    return d, m, np.ascontiguousarray(blocks[..., 4:])


def unpack_q4_1(raw: np.ndarray | Tensor, in_features: int) -> tuple[Tensor, Tensor, Tensor]:
    """Q4_1 blocks -> codes q (N, K) uint8 in 0..15, d (N, K/32), m (N, K/32); w = d * q + m."""
    d, m, qs = _q4_1_fields(raw, in_features)
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).reshape(qs.shape[0], in_features)  # low nibbles first
    return torch.from_numpy(q), torch.from_numpy(d), torch.from_numpy(m)


def dequantize_q4_1(raw: np.ndarray | Tensor, in_features: int) -> Tensor:
    """fp32 (N, K) weight of Q4_1 blocks, the plain reference for Int4Linear.from_q4_1."""
    q, d, m = unpack_q4_1(raw, in_features)
    return (q.float().view(q.shape[0], -1, GROUP) * d[..., None] + m[..., None]).view(q.shape[0], in_features)


def int4_supported(out_features: int, in_features: int) -> bool:
    """Whether torch's CPU int4 kernel takes this shape."""
    return in_features % GROUP == 0 and out_features % 16 == 0
