"""The bf16 prefill (rag/model/precision.py) against the fp32 one, its reference: the C kernels' bf16 weights are the
fp32 ones rounded to nearest even, prompt rows stay within bf16 rounding, decode rows are untouched."""
from __future__ import annotations

import pytest
import torch

from rag.model import native, precision
from rag.model.blocks import BlockLinear
from rag.model.generate import LocalLM
from rag.model.loader import load_transformer
from rag.model.quantize import PREFILL_ROWS, Int4Linear, Int8Linear
from tests.rag.model.gguf_fixture import write_tiny_gguf
from tests.rag.model.test_blocks import random_blocks
from tests.rag.model.test_quantize import _random_q4_1

KERNELS = native.kernels()
needs_kernels = pytest.mark.skipif(KERNELS is None, reason="no C compiler or no AVX2/FMA/F16C here")
LAYERS = {
    "Q4": lambda: Int4Linear.from_q4_1(_random_q4_1(40, 96, seed=1), 96),
    "Q8": lambda: Int8Linear.from_q4_1(_random_q4_1(40, 96, seed=2), 96),
    "Q4_K": lambda: BlockLinear(random_blocks("Q4_K", 24, 512, seed=3), "Q4_K"),
    "Q6_K": lambda: BlockLinear(random_blocks("Q6_K", 24, 256, seed=4), "Q6_K"),
}


@needs_kernels
@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("threads", [1, 3])
def test_bf16_dequantisation_is_the_fp32_weight_rounded_to_nearest_even(kind, threads):
    layer = LAYERS[kind]()
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = KERNELS.dequantize(layer.kind, layer.codes, layer.groups,
                                 out=torch.empty(layer.out_features, layer.in_features, dtype=torch.bfloat16))
    finally:
        torch.set_num_threads(before)
    want = layer.dequantize().to(torch.bfloat16)
    assert torch.equal(got.view(torch.int16), want.view(torch.int16))
    assert not torch.equal(got.float(), layer.dequantize())  # rounded: bf16 keeps 8 of the 24 bits


@pytest.mark.parametrize("kind", LAYERS)
def test_bf16_prompt_rows_stay_within_bf16_rounding_and_decode_rows_are_untouched(kind):
    layer = LAYERS[kind]()
    g = torch.Generator().manual_seed(5)
    prompt, step = torch.randn(PREFILL_ROWS + 4, layer.in_features, generator=g), torch.randn(3, layer.in_features)
    fp32_step = layer(step)
    layer.prefill_dtype = torch.bfloat16
    got, w = layer(prompt), layer.dequantize()
    assert got.dtype == torch.bfloat16  # the next GEMM's input as it is; residual sums promote it
    scale = prompt.abs() @ w.abs().T  # the magnitude of the products summed
    error = ((got.float() - prompt @ w.T).abs() / scale).max()
    assert 1e-5 < error < 2 ** -6  # rounded inputs (2^-9 each), fp32 sums, a bf16 result (2^-9)
    assert torch.equal(layer(step), fp32_step)


def _tiny_lm(tmp_path, weights: str) -> LocalLM:
    tiny = write_tiny_gguf(tmp_path / f"{weights}.gguf", qtype="F32" if weights == "fp32" else "Q4_1")
    return LocalLM.load(tiny.path, weights=weights, use_cache=False, max_context=64)


def test_a_bf16_prefill_tracks_the_fp32_one_and_decodes_on_from_it(tmp_path):
    lm = _tiny_lm(tmp_path, "int4")
    prompt = [(7 * i + 3) % lm.args.vocab_size for i in range(40)]
    logits = {}
    for dtype in (torch.float32, torch.bfloat16):
        assert lm.model.set_prefill_dtype(dtype) == dtype
        lm.model.setup_caches(1, 64)
        with torch.inference_mode():
            prefill = lm.model(torch.tensor([prompt]), 0)[0]  # (T, V)
            logits[dtype] = torch.cat([prefill, lm._step(5, len(prompt))[None]])  # and one decode step after it
    fp32, bf16 = logits[torch.float32], logits[torch.bfloat16]
    assert not torch.equal(fp32, bf16)
    assert (fp32 - bf16).abs().max() <= 0.05 * fp32.abs().max()


def test_fp32_weight_models_keep_fp32_prefill(tmp_path):
    lm = _tiny_lm(tmp_path, "fp32")
    assert lm.model.set_prefill_dtype(torch.bfloat16) == torch.float32
    assert all(b.attn.prefill_dtype == torch.float32 for b in lm.model.blk)


@pytest.mark.parametrize("forced,want", [("fp32", torch.float32), ("bf16", torch.bfloat16), (None, None)])
def test_packed_models_prefill_in_the_dtype_the_cpu_or_the_environment_picks(tmp_path, monkeypatch, forced, want):
    if forced:
        monkeypatch.setenv("RAG_PREFILL_DTYPE", forced)
    else:
        monkeypatch.delenv("RAG_PREFILL_DTYPE", raising=False)
        want = torch.bfloat16 if precision.native_bf16_matmul() else torch.float32
    model = _tiny_lm(tmp_path, "int4").model
    layers = [m for m in model.modules() if hasattr(m, "prefill_dtype")]
    assert layers and all(m.prefill_dtype == want for m in layers)
    assert load_transformer(write_tiny_gguf(tmp_path / "again.gguf", qtype="Q4_1").path, "int4",
                            use_cache=False).blk[0].attn.prefill_dtype == torch.float32  # the loader alone: fp32


def test_an_unknown_prefill_dtype_names_the_variable(monkeypatch):
    monkeypatch.setenv("RAG_PREFILL_DTYPE", "fp8")
    with pytest.raises(ValueError, match="RAG_PREFILL_DTYPE='fp8'"):
        precision.packed_prefill_dtype()
