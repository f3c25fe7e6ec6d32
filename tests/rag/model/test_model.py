"""The transformer itself: cached decode == full forward, HF Llama/Qwen2 parity on random tiny models, GGUF loading."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rag.model.gguf import read_gguf
from rag.model.loader import build, convert, load_transformer
from rag.model.model import ModelArgs
from rag.model.quantize import Int4Linear, Int8Linear
from tests.rag.model.gguf_fixture import write_tiny_gguf
from tests.rag.model.tiny_model import TINY, random_model


@pytest.mark.parametrize("qkv_bias", [False, True])
def test_prefill_then_decode_matches_full_forward(qkv_bias):
    model = random_model(qkv_bias=qkv_bias)
    tokens = torch.randint(0, 120, (1, 24), generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        full = model(tokens, 0)  # (1, 24, V)
        model.setup_caches(1, 64)
        parts = [model(tokens[:, :9], 0), model(tokens[:, 9:13], 9)]  # prefill, then a chunk at an offset
        parts += [model(tokens[:, i:i + 1], i) for i in range(13, 24)]  # one-token decode
        assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-5)
        model.setup_caches(1, 64)
        assert torch.allclose(model(tokens, 0, last_only=True)[0, -1], full[0, -1], atol=1e-5)
        model.setup_caches(1, 64)
        model(tokens[:, :20], 0, last_only=True)  # the last block still caches keys and values of all 20 rows
        steps = torch.cat([model(tokens[:, i:i + 1], i) for i in range(20, 24)], dim=1)
        assert torch.allclose(steps, full[:, 20:], atol=1e-5)


def test_positions_past_the_cache_are_refused():
    model = random_model()
    with pytest.raises(ValueError, match="cache"):
        model(torch.zeros(1, 2, dtype=torch.long), 63)


def _hf_pair(arch: str):
    """A random tiny HF model and ours holding the same weights."""
    transformers = pytest.importorskip("transformers")
    common = dict(vocab_size=120, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=10000.0, max_position_embeddings=64,
                  tie_word_embeddings=True)
    cls = transformers.LlamaForCausalLM if arch == "llama" else transformers.Qwen2ForCausalLM
    cfg = (transformers.LlamaConfig if arch == "llama" else transformers.Qwen2Config)(**common)
    torch.manual_seed(0)
    hf = cls(cfg).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.normal_(0, 0.2)
    sd = {k.removeprefix("model."): v for k, v in hf.state_dict().items()}
    ours: dict[str, torch.Tensor] = {"token_embd.weight": sd["embed_tokens.weight"],
                                     "output_norm.weight": sd["norm.weight"]}
    for i in range(2):
        p, a = f"layers.{i}.", f"blk.{i}."
        ours[a + "attn_norm.weight"] = sd[p + "input_layernorm.weight"]
        ours[a + "ffn_norm.weight"] = sd[p + "post_attention_layernorm.weight"]
        ours[a + "attn.attn_qkv.weight"] = torch.cat([sd[p + f"self_attn.{x}_proj.weight"] for x in "qkv"])
        if arch == "qwen2":
            ours[a + "attn.attn_qkv.bias"] = torch.cat([sd[p + f"self_attn.{x}_proj.bias"] for x in "qkv"])
        ours[a + "attn.attn_output.weight"] = sd[p + "self_attn.o_proj.weight"]
        ours[a + "ffn.ffn_gate_up.weight"] = torch.cat([sd[p + "mlp.gate_proj.weight"], sd[p + "mlp.up_proj.weight"]])
        ours[a + "ffn.ffn_down.weight"] = sd[p + "mlp.down_proj.weight"]
    model = build(ModelArgs(**TINY, qkv_bias=arch == "qwen2"), ours)
    model.setup_caches(1, 64)
    return hf, model


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_matches_hf_transformers_on_random_weights(arch):
    hf, model = _hf_pair(arch)
    tokens = torch.randint(0, 120, (1, 30), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        assert (model(tokens, 0) - hf(tokens).logits).abs().max() < 1e-4


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_tiny_gguf_loads_into_the_model_it_describes(tmp_path, arch):
    tiny = write_tiny_gguf(tmp_path / "t.gguf", arch=arch, qtype="Q4_1", dim=64, n_heads=4, n_kv_heads=2)
    model = load_transformer(tiny.path, "fp32", use_cache=False)
    w = {k: torch.from_numpy(v) for k, v in tiny.weights.items()}
    qkv = torch.cat([w[f"blk.0.attn_{x}.weight"] for x in "qkv"])
    assert torch.equal(model.blk[0].attn.attn_qkv.weight, qkv)
    assert model.output.weight is model.token_embd.weight
    if arch == "qwen2":
        assert torch.equal(model.blk[1].attn.attn_qkv.bias, torch.cat([w[f"blk.1.attn_{x}.bias"] for x in "qkv"]))
    model.setup_caches(1, 32)
    tokens = torch.arange(1, 17)[None]
    with torch.inference_mode():
        ref = model(tokens, 0)
        for weights, cls in (("int8", Int8Linear), ("int4", Int4Linear)):
            packed = load_transformer(tiny.path, weights, use_cache=False)
            assert isinstance(packed.blk[0].ffn.ffn_down, cls)
            packed.setup_caches(1, 32)
            assert (packed(tokens, 0) - ref).abs().max() < 0.05 * ref.abs().max()


def test_int4_repacks_q4_1_blocks_exactly(tmp_path):
    tiny = write_tiny_gguf(tmp_path / "q.gguf", qtype="Q4_1")
    g = read_gguf(tiny.path)
    args = ModelArgs.from_config(g.config)
    fp32, int4 = convert(g, args, "fp32"), build(args, convert(g, args, "int4"))
    g.close()
    layer = int4.blk[0].ffn.ffn_gate_up
    assert torch.equal(layer.dequantize(), fp32["blk.0.ffn.ffn_gate_up.weight"])


def test_llama3_rope_freq_factors_change_the_rotation(tmp_path):
    factors = np.linspace(1.0, 8.0, 8).astype(np.float32)  # head_dim 16 -> 8 frequencies
    plain = write_tiny_gguf(tmp_path / "a.gguf", seed=3)
    scaled = write_tiny_gguf(tmp_path / "b.gguf", seed=3, rope_freqs=factors)
    a, b = load_transformer(plain.path, use_cache=False), load_transformer(scaled.path, use_cache=False)
    a.setup_caches(1, 16), b.setup_caches(1, 16)
    inv_a = 1.0 / (10000.0 ** (torch.arange(0, 16, 2, dtype=torch.float64) / 16))
    assert torch.allclose(b.rope_cos[5, :8], torch.cos(5 * inv_a / torch.from_numpy(factors).double()).float(),
                          atol=1e-6)
    assert not torch.allclose(a.rope_cos, b.rope_cos)
