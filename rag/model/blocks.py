"""Linears on a GGUF's own blocks (Q8_0, Q5_0, Q4_K, Q5_K, Q6_K), and fused Linears whose parts differ in kind.

A K-quant file (Q4_K_M: Q4_K with Q6_K for some attn_v / ffn_down, Q5_0 / Q8_0 where rows are not a multiple of
256) is run on exactly the bits in the file: BlockLinear keeps the raw blocks, our C kernels (kernels/blocks_cpu.c)
multiply and dequantise them, and gguf.quants.dequantize is the reference they are tested against. Where q, k, v
(or gate, up) come in different types, ConcatLinear holds one Linear per part with their outputs side by side.
"""
from __future__ import annotations

import gguf
import numpy as np
import torch
from torch import Tensor, nn

from rag.model import native
from rag.model.quantize import PackedLinear


def reference_weight(codes: Tensor, qtype: str, in_features: int) -> Tensor:
    """fp32 (N, K) weight of raw GGUF blocks (N rows of bytes) by gguf.quants.dequantize, the format's reference."""
    raw = np.ascontiguousarray(codes.numpy()).reshape(codes.shape[0], -1)
    values = gguf.quants.dequantize(raw, gguf.GGMLQuantizationType[qtype])
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).reshape(-1, in_features)


class BlockLinear(PackedLinear):
    """y = x @ W.T + b with W held as the GGUF's blocks of one type: codes (N, row bytes) uint8, no groups.

    Without our kernels the weight is dequantised once (gguf.quants) and multiplied in fp32.
    """

    def __init__(self, codes: Tensor, qtype: str, bias: Tensor | None = None) -> None:
        if qtype not in native.BLOCK_KINDS:
            raise ValueError(f"no block kernel for {qtype}; these have one: {', '.join(native.BLOCK_KINDS)}")
        self.kind = native.BLOCK_KINDS[qtype]
        self.qtype = qtype
        super().__init__(codes, torch.empty(0, dtype=torch.float16), bias)
        self.register_buffer("block_kind", torch.tensor(self.kind))  # kept in converted weights: the codes' layout

    @classmethod
    def from_state(cls, codes: Tensor, block_kind: Tensor, bias: Tensor | None = None) -> BlockLinear:
        """Rebuild from the buffers of a converted state dict."""
        names = {kind: name for name, kind in native.BLOCK_KINDS.items()}
        return cls(codes, names[int(block_kind)], bias)

    @property
    def act_dtype(self) -> torch.dtype:
        """fp32 activations: our kernels quantise them themselves, the fallback multiplies in fp32."""
        return torch.float32

    def _packed_mm(self, x2: Tensor) -> Tensor:
        return super()._packed_mm(x2) if self.kernels is not None else self.torch_mm(x2)

    def _torch_dequantize(self) -> Tensor:
        return reference_weight(self.codes, self.qtype, self.in_features)

    def _torch_layout(self) -> tuple[Tensor, ...]:
        return (self._torch_dequantize(),)

    def torch_mm(self, x_act: Tensor) -> Tensor:
        (weight,) = self.torch_packed()
        return x_act.float() @ weight.T


class ConcatLinear(nn.Module):
    """Linears on the same input with their outputs side by side: (..., K) -> (..., sum of N)."""

    def __init__(self, parts: list[nn.Module]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.in_features = parts[0].in_features
        self.out_features = sum(p.out_features for p in parts)

    def dequantize(self) -> Tensor:
        """The fp32 (N, K) weight of all parts."""
        return torch.cat([p.dequantize() for p in self.parts])

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([p(x) for p in self.parts], dim=-1)
