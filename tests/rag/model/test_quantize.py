"""Packed Linear layers agree with their plain fp32 references on random inputs.

The packed kernels take bf16 activations (their fast path), so forward() is compared with the fp32
reference at bf16 precision; the weights themselves (dequantize()) are compared exactly."""
from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch

from rag.model.quantize import PREFILL_ROWS, RESCORE_TOP_K, Int4Linear, Int8Linear, RescoredHead, unpack_q4_1


def _random_q4_1(n: int, k: int, seed: int = 0) -> np.ndarray:
    """Random but well-formed Q4_1 blocks: (N, K/32 * 20) bytes."""
    rng = np.random.default_rng(seed)
    blocks = np.zeros((n, k // 32, 20), dtype=np.uint8)
    blocks[..., 0:2] = rng.uniform(0.001, 0.05, (n, k // 32)).astype(np.float16)[..., None].view(np.uint8)
    blocks[..., 2:4] = rng.uniform(-0.3, 0.0, (n, k // 32)).astype(np.float16)[..., None].view(np.uint8)
    blocks[..., 4:] = rng.integers(0, 256, (n, k // 32, 16), dtype=np.uint8)
    return blocks.reshape(n, -1)


def gguf_weight(raw: np.ndarray, qtype: str, in_features: int) -> torch.Tensor:
    """The fp32 (N, K) weight of raw GGUF blocks by gguf.quants.dequantize, the format's reference."""
    values = gguf.quants.dequantize(np.ascontiguousarray(raw).reshape(raw.shape[0], -1),
                                    gguf.GGMLQuantizationType[qtype])
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).reshape(-1, in_features)


def _close_at_bf16(got: torch.Tensor, want: torch.Tensor) -> None:
    """Agreement expected when activations are rounded to bf16 (8-bit mantissa) and sums kept in fp32."""
    assert got.shape == want.shape and got.dtype == torch.float32
    assert (got - want).abs().max() <= 0.02 * want.abs().max()


def test_q4_1_unpack_layout_low_nibbles_first():
    raw = _random_q4_1(1, 32)
    nibbles, groups = unpack_q4_1(raw, 32)
    byte0 = raw[0, 4]
    assert nibbles[0, 0] == byte0 and torch.equal(groups.view(torch.uint8).flatten(), torch.from_numpy(raw[0, :4]))
    q = Int4Linear.from_q4_1(raw, 32).unpacked_codes()
    assert q[0, 0] == byte0 & 0x0F and q[0, 16] == byte0 >> 4
    d, m = groups[0, 0].float()
    assert gguf_weight(raw, "Q4_1", 32)[0, 16] == d * float(byte0 >> 4) + m


@pytest.mark.parametrize("n,k,rows", [(64, 128, 1), (96, 576, 5), (48, 64, 17)])
def test_int4_from_q4_1_matches_dequantised_fp32(n, k, rows):
    raw = _random_q4_1(n, k, seed=n)
    layer = Int4Linear.from_q4_1(raw, k)
    w = gguf_weight(raw, "Q4_1", k)
    assert torch.equal(layer.dequantize(), w)
    x = torch.randn(rows, k, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(layer.reference(x), x @ w.T, atol=1e-4, rtol=1e-4)
    _close_at_bf16(layer(x), layer.reference(x))


def test_int4_from_float_with_bias_and_batch_dims():
    g = torch.Generator().manual_seed(2)
    w, b = torch.randn(32, 64, generator=g), torch.randn(32, generator=g)
    layer = Int4Linear.from_float(w, b)
    x = torch.randn(2, 3, 64, generator=g)
    assert layer(x).shape == (2, 3, 32)
    _close_at_bf16(layer(x), layer.reference(x))
    assert (layer.dequantize() - w).abs().max() <= (w.max() - w.min()) / 15  # within one step of the grid


def test_int8_matches_reference_and_is_close_to_fp32():
    g = torch.Generator().manual_seed(3)
    w, b = torch.randn(40, 96, generator=g), torch.randn(40, generator=g)
    layer = Int8Linear.from_float(w, b)
    x = torch.randn(4, 7, 96, generator=g)
    _close_at_bf16(layer(x), layer.reference(x))
    exact = x @ w.T + b
    assert ((layer(x) - exact).abs().max() / exact.abs().max()) < 0.02


def test_int4_prefill_rows_run_the_exact_fp32_weight():
    raw = _random_q4_1(64, 128, seed=5)
    layer, w = Int4Linear.from_q4_1(raw, 128), gguf_weight(raw, "Q4_1", 128)
    x = torch.randn(PREFILL_ROWS + 3, 128, generator=torch.Generator().manual_seed(6))
    assert torch.allclose(layer(x), x @ w.T, atol=1e-5)  # no bf16 rounding from this many rows on


@pytest.mark.parametrize("packed_cls", [Int4Linear, Int8Linear])
def test_rescored_head_is_exact_on_its_top_candidates(packed_cls):
    g = torch.Generator().manual_seed(7)
    emb = torch.randn(512, 64, generator=g)
    head = RescoredHead(packed_cls.from_float(emb), emb)
    h = torch.randn(3, 64, generator=g) * 3
    exact = h @ emb.T
    top = head.packed(h).topk(RESCORE_TOP_K, dim=-1).indices  # the candidates the packed logits propose
    got = head(h)
    assert torch.allclose(got.gather(1, top), exact.gather(1, top), atol=1e-4)
    assert not torch.allclose(head.packed(h), exact, atol=1e-2)  # the others stay approximate
    assert torch.equal(got.argmax(-1), exact.argmax(-1))
    many = h.repeat(PREFILL_ROWS, 1)
    assert torch.allclose(head(many), many @ emb.T, atol=1e-4)  # many rows: the fp32 GEMM itself
