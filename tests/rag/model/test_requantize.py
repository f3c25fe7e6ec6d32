"""A Q4_K_M file made by llama.cpp's own quantizer (llama-cpp-python, the `peers` extra; skipped without it): cached,
and our packed model runs its exact blocks, decoding within float tolerance of an fp32 model of the same file."""
from __future__ import annotations

import pytest
import torch

from rag.model import native
from rag.model.blocks import BlockLinear, ConcatLinear
from rag.model.gguf import read_gguf
from rag.model.loader import load_transformer
from rag.model.requantize import requantized
from tests.rag.model.gguf_fixture import write_tiny_gguf

pytest.importorskip("llama_cpp", reason="llama-cpp-python (the peers extra) is not installed")


@pytest.fixture(scope="module")
def q4_k_m(tmp_path_factory):
    folder = tmp_path_factory.mktemp("requantize")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAG_CACHE_DIR", str(folder / "cache"))
        tiny = write_tiny_gguf(folder / "tiny.gguf", dim=256, hidden_dim=512, n_heads=4, n_kv_heads=2, n_layers=3,
                               context_length=64)
        path = requantized(tiny.path, "Q4_K_M")
        stamp = path.stat().st_mtime_ns
        assert requantized(tiny.path, "Q4_K_M") == path and path.stat().st_mtime_ns == stamp  # made once
    return path


def test_llama_cpp_writes_k_quants_into_the_weight_cache(q4_k_m):
    assert q4_k_m.suffix == ".gguf" and q4_k_m.parent.name == "cache"
    types = {name: read_gguf(q4_k_m).info(name).qtype.name for name in read_gguf(q4_k_m).tensor_names}
    assert types["blk.0.attn_q.weight"] == "Q4_K" and "Q6_K" in types.values()
    with pytest.raises(ValueError, match="ftype"):
        requantized(q4_k_m, "Q3_K_XL")


def test_our_model_runs_llama_cpps_blocks_exactly(q4_k_m):
    fp32 = load_transformer(q4_k_m, "fp32", use_cache=False)
    packed = load_transformer(q4_k_m, "int4", use_cache=False)
    for ours, twin in zip(packed.blk, fp32.blk):
        for mod, ref in ((ours.attn.attn_qkv, twin.attn.attn_qkv), (ours.ffn.ffn_down, twin.ffn.ffn_down)):
            assert isinstance(mod, (BlockLinear, ConcatLinear)) and torch.equal(mod.dequantize(), ref.weight)
    packed.kv_dtype = fp32.kv_dtype = torch.float16
    tokens = list(range(5, 45))
    logits = []
    for model in (fp32, packed):
        model.setup_caches(1, 64)
        with torch.inference_mode():
            first = model(torch.tensor([tokens[:20]]), 0)[0]
            if model is packed and native.kernels() is not None:
                from rag.model.native_decode import NativeDecoder

                step = NativeDecoder(model).step
            else:
                step = lambda t, i, m=model: m(torch.tensor([[t]]), i)[0, -1]  # noqa: E731
            logits.append(torch.cat([first, torch.stack([step(t, i) for i, t in enumerate(tokens[20:], 20)])]))
    ref, got = logits
    assert torch.equal(got[:20], ref[:20])  # prefill: fp32 GEMMs on the exact weights
    assert (got[20:] - ref[20:]).abs().max() <= 1e-3 * ref.abs().max()  # decode: int16 activations
