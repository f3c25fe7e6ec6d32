"""GGUF block kernels (Q8_0, Q5_0, Q4_K, Q5_K, Q6_K): on random blocks, dequantisation is bit for bit
gguf.quants.dequantize and the matmul agrees with the fp32 matmul on that weight (to fp32 rounding on the AVX-512
path, which multiplies the fp32 activations; to int16 rounding on the AVX2 one); a batch of activation rows gives the
bits of one row at a time on both; ConcatLinear joins parts of different kinds."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rag.model import native
from rag.model.blocks import BlockLinear, ConcatLinear, reference_weight
from rag.model.quantize import Int4Linear, Int8Linear
from tests.rag.model.test_quantize import _random_q4_1

KERNELS = native.kernels()
needs_kernels = pytest.mark.skipif(KERNELS is None, reason="no C compiler or no AVX2/FMA/F16C here")
SCALES_AT = {"Q8_0": (0,), "Q5_0": (0,), "Q4_K": (0, 2), "Q5_K": (0, 2), "Q6_K": (208,)}  # f16 fields of a block


def random_blocks(qtype: str, n: int, k: int, seed: int = 0) -> torch.Tensor:
    """(n, row bytes) random blocks of qtype whose f16 scales are small and finite."""
    values, nbytes = native.BLOCK_SHAPES[qtype]
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=(n, k // values, nbytes), dtype=np.uint8)
    for at in SCALES_AT[qtype]:
        scale = rng.choice([-1, 1], size=(n, k // values)) * rng.uniform(1e-3, 2e-2, size=(n, k // values))
        raw[..., at:at + 2] = scale.astype(np.float16)[..., None].view(np.uint8)
    return torch.from_numpy(raw.reshape(n, -1))


def _relative_error(got: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> float:
    """Largest error against x @ w.T (in fp64), relative to the magnitude of the products summed (|x| @ |w|.T)."""
    x, w = x.double(), w.double()
    return float(((got.double() - x @ w.T).abs() / (x.abs() @ w.abs().T)).max())


TOLERANCE = {"avx512": 1e-6, "avx2": 1e-4}  # fp32 activations (fp32 rounding, ~3e-8 seen) / int16 groups (~5e-6)


@needs_kernels
@pytest.mark.parametrize("qtype", list(native.BLOCK_KINDS))
@pytest.mark.parametrize("n,k", [(1, 256), (37, 512), (66, 1536)])
def test_dequantize_is_the_gguf_reference_bit_for_bit(qtype, n, k):
    codes = random_blocks(qtype, n, k, seed=n)
    layer = BlockLinear(codes, qtype)
    assert layer.in_features == k and layer.out_features == n
    assert torch.equal(layer.dequantize(), reference_weight(codes, qtype, k))


@needs_kernels
@pytest.mark.parametrize("qtype", list(native.BLOCK_KINDS))
@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 7, 8, 11])
def test_matmul_matches_the_fp32_matmul_on_the_reference_weight(qtype, m, kernel_path):
    n, k = 45, 768
    codes = random_blocks(qtype, n, k, seed=m)
    x = torch.randn(m, k, generator=torch.Generator().manual_seed(m)) * 2
    x[0, :32] = 0.0  # a group of zeros
    x[-1, 32:64] *= 1e4  # an outlier group
    bias = torch.randn(n)
    layer = BlockLinear(codes, qtype, bias)
    w = reference_weight(codes, qtype, k)
    assert _relative_error(layer(x) - bias, x, w) < TOLERANCE[kernel_path]
    assert _relative_error(KERNELS.matmul(layer.kind, layer.codes, layer.groups, x), x, w) < TOLERANCE[kernel_path]


@needs_kernels
@pytest.mark.parametrize("make", [
    lambda: BlockLinear(random_blocks("Q4_K", 40, 512, seed=1), "Q4_K"),
    lambda: BlockLinear(random_blocks("Q5_K", 23, 256, seed=6), "Q5_K"),
    lambda: BlockLinear(random_blocks("Q6_K", 33, 256, seed=2), "Q6_K", torch.randn(33)),
    lambda: BlockLinear(random_blocks("Q5_0", 21, 96, seed=3), "Q5_0"),
    lambda: BlockLinear(random_blocks("Q8_0", 18, 160, seed=8), "Q8_0"),
    lambda: Int4Linear.from_q4_1(_random_q4_1(37, 128, seed=4), 128),
    lambda: Int8Linear.from_q4_1(_random_q4_1(19, 96, seed=5), 96),
])
def test_a_batch_of_rows_gives_the_bits_of_one_row_at_a_time(make, kernel_path):
    layer = make()
    x = torch.randn(native.MAX_ACT_ROWS + 3, layer.in_features, generator=torch.Generator().manual_seed(7))
    alone = torch.cat([KERNELS.matmul(layer.kind, layer.codes, layer.groups, x[i:i + 1]) for i in range(len(x))])
    for m in range(2, len(x) + 1):  # every tile of FOR_ROW_TILES, and a second pass over W
        assert torch.equal(KERNELS.matmul(layer.kind, layer.codes, layer.groups, x[:m]), alone[:m]), m


@needs_kernels
def test_block_weights_are_checked():
    with pytest.raises(ValueError, match="whole 144-byte blocks"):
        KERNELS.matmul(native.BLOCK_KINDS["Q4_K"], torch.zeros(2, 100, dtype=torch.uint8), torch.empty(0),
                       torch.randn(1, 256))
    with pytest.raises(ValueError, match="no block kernel for Q2_K"):
        BlockLinear(torch.zeros(2, 84, dtype=torch.uint8), "Q2_K")


@pytest.mark.parametrize("qtype", ["Q4_K", "Q6_K"])
def test_without_the_kernels_the_reference_weight_is_used(qtype):
    codes = random_blocks(qtype, 24, 256, seed=9)
    layer = BlockLinear(codes, qtype)
    layer.kernels = None
    w = reference_weight(codes, qtype, 256)
    assert torch.equal(layer.dequantize(), w)
    x = torch.randn(3, 256)
    assert torch.allclose(layer(x), x @ w.T, atol=1e-5)


def test_concat_linear_puts_parts_of_different_kinds_side_by_side():
    q = BlockLinear(random_blocks("Q4_K", 16, 256, seed=1), "Q4_K", torch.randn(16))
    v = BlockLinear(random_blocks("Q6_K", 8, 256, seed=2), "Q6_K", torch.randn(8))
    fused = ConcatLinear([q, v])
    x = torch.randn(2, 5, 256)
    y = fused(x)
    assert y.shape == (2, 5, 24) and fused.out_features == 24
    assert torch.equal(y, torch.cat([q(x), v(x)], dim=-1))
    assert torch.equal(fused.dequantize(), torch.cat([q.dequantize(), v.dequantize()]))
