"""The flat FastDecoder step agrees with Transformer.forward (the reference) for fp32 and packed weights."""
from __future__ import annotations

import pytest
import torch

from rag.model.decode import FastDecoder, rotation_sign
from rag.model.loader import load_transformer
from rag.model.model import ModelArgs, Transformer, apply_rope, rope_tables
from tests.rag.model.gguf_fixture import write_tiny_gguf
from tests.rag.model.tiny_model import TINY, random_model


def _module_and_fast_steps(model: Transformer, tokens: list[int], prefill: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of the decode steps after a prefill, by the module path and by FastDecoder (fresh caches each)."""
    fast = FastDecoder(model)
    out = []
    with torch.inference_mode():
        for step in (lambda t, i: model(torch.tensor([[t]]), i)[0, -1], fast.step):
            model.setup_caches(1, 64)
            model(torch.tensor([tokens[:prefill]]), 0)
            out.append(torch.stack([step(t, i) for i, t in enumerate(tokens[prefill:], start=prefill)]))
    return out[0], out[1]


def test_rotation_matrix_equals_rotate_half_rope():
    args = ModelArgs(**TINY)
    cos, sin = rope_tables(args, 40)
    x = torch.randn(6, args.head_dim, generator=torch.Generator().manual_seed(0))
    for pos in (0, 1, 17, 39):
        rot = torch.diag(cos[pos]) + rotation_sign(args.head_dim) * sin[pos]
        assert torch.allclose(x @ rot, apply_rope(x, cos[pos], sin[pos]), atol=1e-6)


@pytest.mark.parametrize("qkv_bias", [False, True])
def test_fp32_fast_step_equals_the_module_forward(qkv_bias):
    model = random_model(qkv_bias=qkv_bias)
    tokens = torch.randint(0, 120, (30,), generator=torch.Generator().manual_seed(1)).tolist()
    ref, fast = _module_and_fast_steps(model, tokens, prefill=7)
    assert torch.allclose(fast, ref, atol=1e-5)


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("weights", ["int8", "int4"])
def test_packed_fast_step_tracks_the_module_forward(tmp_path, arch, weights):
    tiny = write_tiny_gguf(tmp_path / "t.gguf", arch=arch, qtype="Q4_1", dim=64, n_heads=4, n_kv_heads=2)
    model = load_transformer(tiny.path, weights, use_cache=False)
    model.setup_caches(1, 64)
    tokens = list(range(3, 40))
    ref, fast = _module_and_fast_steps(model, tokens, prefill=12)
    assert (fast - ref).abs().max() <= 0.02 * ref.abs().max()  # same kernels; bf16 rounding may differ
    assert (fast.argmax(-1) == ref.argmax(-1)).float().mean() >= 0.9


def test_fast_step_follows_caches_replaced_by_setup_caches():
    model = random_model()
    fast = FastDecoder(model)
    with torch.inference_mode():
        first = fast.step(5, 0)
        model.setup_caches(1, 32)  # new buffers: the decoder must write and read these
        again = fast.step(5, 0)
        assert torch.allclose(first, again, atol=1e-6)
        assert model.blk[0].attn.kv_cache.k[0, :, 0].abs().sum() > 0
        with pytest.raises(ValueError, match="cache size"):
            fast.step(5, 32)
        with pytest.raises(ValueError, match="vocabulary"):
            fast.step(TINY["vocab_size"], 1)


def test_decoder_needs_allocated_caches():
    model = Transformer(ModelArgs(**TINY))
    with pytest.raises(ValueError, match="setup_caches"):
        FastDecoder(model)
