"""Packed Linear layers for CPU decode: int8 and int4 codes with fp16 d, m per group of 32, as in GGUF blocks."""
from __future__ import annotations

import threading

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rag.model import native

GROUP = 32  # Q4_1 block size and the int4pack group size
PREFILL_ROWS = 16  # from this many rows, packed layers dequantise and run a GEMM (MKL / oneDNN beat the packed kernels)
# torch's packed CPU kernels are vectorised for bf16 activations only (fp32 runs 10-20x slower)
ACT_DTYPE = torch.bfloat16
Q4_1_BLOCK_BYTES = 20  # GGUF Q4_1: f16 d, f16 m, 16 bytes of nibbles (element j low, j + 16 high); w = d * q + m
RESCORE_TOP_K = 16  # candidate logits per row that RescoredHead recomputes in fp32


_SCRATCH = threading.local()  # per thread: (N, K, dtype) -> buffer the prefill GEMMs rebuild weights into


class PackedLinear(nn.Module):
    """A Linear whose weight stays packed in groups of 32 as in GGUF blocks (codes + fp16 groups, packed.h).

    Few rows (decode) run our C kernels (rag/model/native.py: activations as int16 per group, fp32 sums),
    or, where they cannot be built, torch's packed kernel on bf16 activations (prepared on first use).
    From PREFILL_ROWS rows the exact fp32 weight is rebuilt and multiplied by a GEMM in prefill_dtype: fp32 (MKL),
    or bf16 (oneDNN on AMX) where the model's loader sets it (rag/model/precision.py): the rows come out in bf16
    for the next GEMM or attention, and residual sums promote them to fp32.
    Subclasses give the layout: kind, _torch_dequantize(), _torch_layout() and torch_mm().
    """

    kind: int

    def __init__(self, codes: Tensor, groups: Tensor, bias: Tensor | None) -> None:
        super().__init__()
        self.register_buffer("codes", codes.contiguous())
        self.register_buffer("groups", groups.half().contiguous())
        self.register_buffer("bias", None if bias is None else bias.float().contiguous())
        self.out_features, self.in_features = codes.shape[0], native.in_features(self.kind, codes)
        self.kernels = native.kernels()
        self._torch_packed: tuple[Tensor, ...] | None = None
        self.prefill_dtype = torch.float32  # the dtype of the prefill GEMM (its sums are fp32 either way)

    @property
    def act_dtype(self) -> torch.dtype:
        """The activation dtype of the decode kernel."""
        return torch.float32 if self.kernels is not None else ACT_DTYPE

    def dequantize(self) -> Tensor:
        """The fp32 (N, K) weight (bit-identical to the GGUF reader's for the same blocks)."""
        if self.kernels is not None:
            return self.kernels.dequantize(self.kind, self.codes, self.groups)
        return self._torch_dequantize()

    def reference(self, x: Tensor) -> Tensor:
        """Plain fp32 matmul with the dequantised weight."""
        y = x @ self.dequantize().T
        return y if self.bias is None else y + self.bias

    def torch_packed(self) -> tuple[Tensor, ...]:
        """The weight in torch's packed-kernel layout, built once (the fallback without our kernels)."""
        if self._torch_packed is None:
            self._torch_packed = self._torch_layout()
        return self._torch_packed

    def _packed_mm(self, x2: Tensor) -> Tensor:
        """(M, K) activations -> (M, N) fp32 through a packed kernel, bias excluded."""
        if self.kernels is not None:
            return self.kernels.matmul(self.kind, self.codes, self.groups, x2)
        return self.torch_mm(x2.to(ACT_DTYPE)).float()

    def _prefill_weight(self) -> Tensor:
        """The weight for one GEMM in prefill_dtype, rebuilt into this thread's buffer for the shape: a prompt's layers
        reuse warm memory instead of faulting in fresh pages for every Linear (350-token prefill 0.82 -> 0.70 s)."""
        if self.kernels is None:
            return self.dequantize().to(self.prefill_dtype)
        buffers = _SCRATCH.__dict__.setdefault("buffers", {})
        key = (self.out_features, self.in_features, self.prefill_dtype)
        if key not in buffers:
            buffers[key] = torch.empty(key[:2], dtype=self.prefill_dtype)
        return self.kernels.dequantize(self.kind, self.codes, self.groups, out=buffers[key])

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape  # (..., K)
        x2 = x.reshape(-1, shape[-1])  # (M, K)
        if x2.shape[0] < PREFILL_ROWS:
            y = self._packed_mm(x2)  # (M, N)
        elif self.prefill_dtype == torch.float32:
            return F.linear(x2.float(), self._prefill_weight(), self.bias).view(*shape[:-1], self.out_features)
        else:
            y = F.linear(x2.to(self.prefill_dtype), self._prefill_weight())  # bf16 products, fp32 sums, bf16 out
        if self.bias is not None:
            y = y + self.bias
        return y.view(*shape[:-1], self.out_features)

    def _torch_dequantize(self) -> Tensor:
        raise NotImplementedError

    def _torch_layout(self) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def torch_mm(self, x_act: Tensor) -> Tensor:
        """(M, K) activations in ACT_DTYPE -> (M, N) through torch's kernel (the fallback), bias excluded."""
        raise NotImplementedError


class Int8Linear(PackedLinear):
    """y = x @ W.T + b with W[n, k] = q * d[n, g] + m[n, g], g = k // 32, q int8: codes (N, K), groups
    (N, K/32, 2) d, m. GGUF Q4_1 blocks (q in 0..15) are held exactly (Q8_0 blocks as they are: BlockLinear).

    torch's fallback kernel (_weight_int8pack_mm) takes one scale per output row: it runs on the
    weight requantised per row, which is not exact.
    """

    kind = native.Q8

    @classmethod
    def from_float(cls, weight: Tensor, bias: Tensor | None = None) -> Int8Linear:
        """Asymmetric min/max quantisation to 256 levels in groups of 32, d and m kept as fp16."""
        n, k = weight.shape
        g = weight.float().view(n, k // GROUP, GROUP)
        lo, hi = g.amin(-1), g.amax(-1)  # (N, K/32)
        d = ((hi - lo) / 255).clamp(min=2e-7).half().float()  # 2e-7 is still above zero in fp16
        m = (lo + 128 * d).half().float()  # q = -128 sits at the group minimum
        q = torch.round((g - m[..., None]) / d[..., None]).clamp(-128, 127).to(torch.int8).view(n, k)
        return cls(q, torch.stack([d, m], dim=-1), bias)

    @classmethod
    def from_q4_1(cls, raw: np.ndarray | Tensor, in_features: int, bias: Tensor | None = None) -> Int8Linear:
        """Exact repacking of GGUF Q4_1 blocks, one byte per code."""
        nibbles = Int4Linear.from_q4_1(raw, in_features)
        return cls(nibbles.unpacked_codes().to(torch.int8), nibbles.groups, bias)

    def _torch_dequantize(self) -> Tensor:
        return _grouped(self.codes.float(), self.groups)

    def _torch_layout(self) -> tuple[Tensor, ...]:
        w = self.dequantize()
        scales = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0  # (N,)
        q = torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8)
        return q, torch.ones(self.out_features, dtype=ACT_DTYPE), scales

    def torch_mm(self, x_act: Tensor) -> Tensor:
        q, unit, scales = self.torch_packed()
        return torch.ops.aten._weight_int8pack_mm(x_act, q, unit).float() * scales


class Int4Linear(PackedLinear):
    """y = x @ W.T + b with W[n, k] = q * d[n, g] + m[n, g], g = k // 32 (the Q4_1 form), q 4-bit codes:
    codes (N, K/2) nibbles in the GGUF's order (element j low, j + 16 high), groups (N, K/32, 2) d, m."""

    kind = native.Q4

    @classmethod
    def from_codes(cls, q: Tensor, d: Tensor, m: Tensor, bias: Tensor | None = None) -> Int4Linear:
        """q (N, K) ints in 0..15, d and m (N, K/32) fp16 values: W = q * d + m groupwise."""
        n, k = q.shape
        g = q.to(torch.uint8).view(n, k // GROUP, GROUP)
        nibbles = (g[..., :GROUP // 2] | (g[..., GROUP // 2:] << 4)).reshape(n, k // 2)
        return cls(nibbles, torch.stack([d, m], dim=-1), bias)

    @classmethod
    def from_q4_1(cls, raw: np.ndarray | Tensor, in_features: int, bias: Tensor | None = None) -> Int4Linear:
        """Exact repacking of GGUF Q4_1 blocks (N rows of K/32 blocks of 20 bytes): our Q4 layout is theirs."""
        return cls(*unpack_q4_1(raw, in_features), bias)

    @classmethod
    def from_float(cls, weight: Tensor, bias: Tensor | None = None) -> Int4Linear:
        """Asymmetric min/max quantisation in groups of 32 (for weights that are not stored as Q4_1)."""
        n, k = weight.shape
        g = weight.float().view(n, k // GROUP, GROUP)
        lo, hi = g.amin(-1), g.amax(-1)  # (N, K/32)
        d = ((hi - lo) / 15).clamp(min=2e-7).half().float()  # kept as fp16, where 2e-7 is still above zero
        lo = lo.half().float()
        q = torch.round((g - lo[..., None]) / d[..., None]).clamp(0, 15).view(n, k)
        return cls.from_codes(q, d, lo, bias)

    def unpacked_codes(self) -> Tensor:
        """(N, K) uint8 codes in 0..15."""
        n = self.out_features
        nib = self.codes.view(n, -1, GROUP // 2)  # (N, K/32, 16)
        return torch.cat([nib & 0x0F, nib >> 4], dim=-1).view(n, self.in_features)

    def _torch_dequantize(self) -> Tensor:
        return _grouped(self.unpacked_codes().float(), self.groups)

    def _torch_layout(self) -> tuple[Tensor, ...]:
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(self.unpacked_codes().to(torch.int32), 1)
        d, m = self.groups[..., 0].float(), self.groups[..., 1].float()
        scale_zeros = torch.stack([d.T, (m + 8 * d).T], dim=-1)  # (K/32, N, 2): the kernel computes (q - 8) * s + z
        return packed, scale_zeros.to(ACT_DTYPE).contiguous()

    def torch_mm(self, x_act: Tensor) -> Tensor:
        packed, scale_zeros = self.torch_packed()
        return torch.ops.aten._weight_int4pack_mm_for_cpu(x_act, packed, GROUP, scale_zeros)


class RescoredHead(nn.Module):
    """Output layer over the fp32 tied embedding: exact fp32 GEMM for many rows, packed and rescored for few.

    For decode rows the packed logits carry the head's quantisation (and, on torch's kernels, bf16 rounding):
    enough to flip near-ties;
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
        exact = torch.stack([self.embedding[top[i]] @ rows[i] for i in range(len(rows))])  # (M, k), row by row:
        flat.scatter_(1, top, exact)  # the same kernel for any M, so a row's logits do not depend on its batch
        return logits


def _grouped(q: Tensor, groups: Tensor) -> Tensor:
    """W (N, K) = q * d + m per group of 32 (the product rounded before the sum, as the numpy GGUF reader does)."""
    n, k = q.shape
    g = groups.float()
    return (q.view(n, k // GROUP, GROUP) * g[..., :1] + g[..., 1:]).view(n, k)


def unpack_q4_1(raw: np.ndarray | Tensor, in_features: int) -> tuple[Tensor, Tensor]:
    """GGUF Q4_1 blocks (N rows of K/32 blocks) -> nibble bytes (N, K/2) and fp16 groups (N, K/32, 2) d, m:
    the one reading of that layout (Int4Linear keeps it as is, Int8Linear widens the codes)."""
    blocks = np.ascontiguousarray(np.asarray(raw, dtype=np.uint8)).reshape(-1, in_features // GROUP, Q4_1_BLOCK_BYTES)
    groups = blocks[..., :4].copy().view(np.float16)  # (N, K/32, 2)
    nibbles = np.ascontiguousarray(blocks[..., 4:]).reshape(blocks.shape[0], in_features // 2)
    return torch.from_numpy(nibbles), torch.from_numpy(groups)


def int4_supported(out_features: int, in_features: int) -> bool:
    """Whether torch's CPU int4 kernel takes this shape."""
    return in_features % GROUP == 0 and out_features % 16 == 0
