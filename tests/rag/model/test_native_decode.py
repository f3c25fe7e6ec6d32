"""The C decode step (NativeDecoder) agrees with FastDecoder and with Transformer.forward, the reference, on fp16 KV
caches (LocalLM's) and on fp32 ones."""
from __future__ import annotations

import pytest
import torch

from rag.model import native
from rag.model.decode import FastDecoder
from rag.model.generate import LocalLM
from rag.model.loader import load_transformer
from rag.model.native_decode import NativeDecoder, supports
from tests.rag.model.gguf_fixture import write_tiny_gguf
from tests.rag.model.tiny_model import random_model

pytestmark = pytest.mark.skipif(native.kernels() is None, reason="no C compiler or no AVX2/FMA/F16C here")


def _packed_model(tmp_path, arch: str = "llama", weights: str = "int4", kv_dtype=torch.float16, **shape):
    tiny = write_tiny_gguf(tmp_path / f"{arch}.gguf", arch=arch, qtype="Q4_1" if weights == "int4" else "Q8_0", **shape)
    model = load_transformer(tiny.path, weights, use_cache=False)
    model.kv_dtype = kv_dtype  # fp16 as LocalLM sets it for the native step: every path below shares the caches
    model.setup_caches(1, 64)
    return model


def _steps(model, decoder_cls, tokens: list[int], prefill: int) -> torch.Tensor:
    """Logits of decode steps after a prefill through the module path; decoder_cls None steps the module too."""
    model.setup_caches(1, 64)
    with torch.inference_mode():
        model(torch.tensor([tokens[:prefill]]), 0)
        step = decoder_cls(model).step if decoder_cls else (lambda t, i: model(torch.tensor([[t]]), i)[0, -1])
        return torch.stack([step(t, i) for i, t in enumerate(tokens[prefill:], start=prefill)])


@pytest.mark.parametrize("arch,weights", [("llama", "int4"), ("qwen2", "int4"), ("llama", "int8"), ("qwen2", "int8")])
@pytest.mark.parametrize("heads,kv_heads", [(4, 2), (4, 4), (2, 1)])
@pytest.mark.parametrize("dim", [64, 256])  # heads of 16 or 32 values, and of 64 (the C step's own attention loops)
def test_native_step_equals_fast_step_and_tracks_the_module(tmp_path, arch, weights, heads, kv_heads, dim):
    model = _packed_model(tmp_path, arch, weights, dim=dim, n_heads=heads, n_kv_heads=kv_heads)
    tokens = list(range(3, 45))
    native_logits = _steps(model, NativeDecoder, tokens, prefill=9)
    fast = _steps(model, FastDecoder, tokens, prefill=9)
    module = _steps(model, None, tokens, prefill=9)
    scale = module.abs().max()
    assert (native_logits - fast).abs().max() <= 1e-3 * scale  # same kernels, other summation order
    assert (native_logits - module).abs().max() <= 0.02 * scale  # the module path decodes through bf16 or int16
    assert torch.equal(native_logits.argmax(-1), fast.argmax(-1))


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("heads,kv_heads", [(4, 2), (4, 4), (2, 1)])
@pytest.mark.parametrize("dim", [64, 256])
def test_native_step_on_fp32_caches_is_the_module_to_fp32_rounding(tmp_path, arch, heads, kv_heads, dim):
    # int8 weights: one-row matmuls are the same kernel on every path (int4's differ), so what is left is the cache
    model = _packed_model(tmp_path, arch, "int8", kv_dtype=torch.float32, dim=dim, n_heads=heads, n_kv_heads=kv_heads)
    tokens = list(range(3, 45))
    native_logits = _steps(model, NativeDecoder, tokens, prefill=9)
    fast = _steps(model, FastDecoder, tokens, prefill=9)
    module = _steps(model, None, tokens, prefill=9)
    scale = module.abs().max()
    assert (native_logits - fast).abs().max() <= 1e-5 * scale  # ~1e-6 measured; fp16 caches move them up to 6e-5
    assert (native_logits - module).abs().max() <= 1e-5 * scale


def test_native_step_writes_fp32_caches_unrounded(tmp_path):
    model = _packed_model(tmp_path, "llama", "int8", kv_dtype=torch.float32, dim=64, n_heads=4, n_kv_heads=2)
    tokens = list(range(5, 25))
    _steps(model, NativeDecoder, tokens, prefill=4)  # positions 4..19 written by the native step
    native_kv = [c[0, :, 4:20].clone() for c in (model.blk[1].attn.kv_cache.k, model.blk[1].attn.kv_cache.v)]
    _steps(model, None, tokens, prefill=4)  # new caches, every position written by the module
    module_kv = [c[0, :, 4:20] for c in (model.blk[1].attn.kv_cache.k, model.blk[1].attn.kv_cache.v)]
    for ours, module in zip(native_kv, module_kv):
        assert ours.dtype == torch.float32 and not torch.equal(ours, ours.half().float())  # not fp16 values
        assert (ours - module).abs().max() <= 1e-5 * module.abs().max()  # fp16 rounding alone moves ~2e-4


def test_native_step_writes_the_same_kv_cache_as_the_module(tmp_path):
    model = _packed_model(tmp_path, dim=64, n_heads=4, n_kv_heads=2)
    tokens = list(range(5, 25))
    _steps(model, NativeDecoder, tokens, prefill=4)
    native_k = model.blk[1].attn.kv_cache.k[0, :, :20].clone()
    _steps(model, None, tokens, prefill=4)
    module_k = model.blk[1].attn.kv_cache.k[0, :, :20]
    assert torch.allclose(native_k, module_k, atol=2e-3 * module_k.abs().max())


def test_native_step_follows_replaced_caches_and_rejects_bad_input(tmp_path):
    model = _packed_model(tmp_path, dim=64, n_heads=4, n_kv_heads=2)
    decoder = NativeDecoder(model)
    with torch.inference_mode():
        first = decoder.step(7, 0)
        model.setup_caches(1, 32)  # new buffers: the decoder must write and read these
        assert torch.allclose(decoder.step(7, 0), first, atol=1e-6)
        assert model.blk[0].attn.kv_cache.k[0, :, 0].abs().sum() > 0
        with pytest.raises(ValueError, match="cache size"):
            decoder.step(7, 32)
        with pytest.raises(ValueError, match="vocabulary"):
            decoder.step(10**6, 1)
        model.kv_dtype = torch.float32
        model.setup_caches(1, 32)  # caches of another dtype: the decoder follows them too
        assert model.blk[0].attn.kv_cache.k.dtype == torch.float32
        assert torch.allclose(decoder.step(7, 0), NativeDecoder(model).step(7, 0), atol=0)


def test_only_packed_models_on_the_kernels_are_supported(tmp_path):
    tiny = write_tiny_gguf(tmp_path / "t.gguf", qtype="Q4_1", dim=64, n_heads=4, n_kv_heads=2)
    int4 = load_transformer(tiny.path, "int4", use_cache=False)
    assert supports(int4) and supports(load_transformer(tiny.path, "int8", use_cache=False))
    assert not supports(load_transformer(tiny.path, "fp32", use_cache=False))
    assert not supports(random_model())
    int4.blk[0].attn.attn_qkv.kernels = None
    assert not supports(int4)
    int4.setup_caches(1, 16)
    with pytest.raises(ValueError, match="packed"):
        NativeDecoder(int4)


def test_local_lm_decodes_packed_weights_natively(tmp_path):
    tiny = write_tiny_gguf(tmp_path / "t.gguf", qtype="Q4_1", dim=64, n_heads=4, n_kv_heads=2)
    for weights, decoder in (("int4", "NativeDecoder"), ("int8", "NativeDecoder"), ("fp32", "FastDecoder")):
        assert LocalLM.load(tiny.path, weights=weights, use_cache=False, max_context=64).decoder == decoder


@pytest.mark.parametrize("threads", [1, 3, 5])
def test_native_step_splits_attention_over_any_thread_count(tmp_path, threads):
    model = _packed_model(tmp_path, "qwen2", dim=64, n_heads=4, n_kv_heads=2)
    tokens = list(range(3, 20))
    fast = _steps(model, FastDecoder, tokens, prefill=1)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # more threads than positions at the first steps: empty ranges
    try:
        native_logits = _steps(model, NativeDecoder, tokens, prefill=1)
    finally:
        torch.set_num_threads(before)
    assert (native_logits - fast).abs().max() <= 1e-3 * fast.abs().max()
    assert torch.equal(native_logits.argmax(-1), fast.argmax(-1))


def test_fp16_caches_barely_move_the_logits_and_other_cache_dtypes_are_refused(tmp_path):
    model = _packed_model(tmp_path, dim=64, n_heads=4, n_kv_heads=2)
    tokens = list(range(3, 40))
    half = _steps(model, NativeDecoder, tokens, prefill=5)
    model.kv_dtype = None  # the weights' dtype: fp32 caches, the reference
    full = _steps(model, NativeDecoder, tokens, prefill=5)
    assert (half - full).abs().max() <= 5e-3 * full.abs().max()
    model.kv_dtype = torch.bfloat16
    model.setup_caches(1, 64)
    with pytest.raises(ValueError, match="fp16 or fp32 KV caches, not torch.bfloat16"):
        NativeDecoder(model)
