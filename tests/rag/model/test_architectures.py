"""The GGUFs users bring, on tiny files the tests write: SmolLM2 (llama, Q4_1 / Q8_0, and llama.cpp's Q4_K_M of a
576-wide model: Q5_0 / Q8_0 / Q4_K / Q6_K), Qwen2.5 (q/k/v bias, untied head, Q4_K_M), Llama 3.x (rope scaling
llama3 as rope_freqs, tied and untied, Q4_K_M). Packed models hold the file's exact weights and decode within float
tolerance of an fp32 model built from the dequantised file (on AVX-512, whose block kernels take fp32 activations,
to fp32 rounding); metadata we cannot follow is refused by key."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from rag.model import native, native_decode
from rag.model.blocks import BlockLinear, ConcatLinear
from rag.model.errors import GGUFError, UnsupportedArchitectureError
from rag.model.generate import LocalLM
from rag.model.gguf import read_gguf
from rag.model.loader import load_transformer
from tests.rag.model.gguf_fixture import write_tiny_gguf

WIDE = dict(dim=256, hidden_dim=512, n_heads=4, n_kv_heads=2)  # K-quant rows need multiples of 256
Q4_K_M = dict(qtype="Q4_K", qtypes={"attn_v": "Q6_K", "ffn_down": "Q6_K"})
LLAMA3_FREQS = [1.0 + (i / 8) ** 2 for i in range(32)]  # head_dim 64 -> 32 factors
FILES = {
    "smollm2-q4_1": dict(qtype="Q4_1", embd_qtype="Q8_0"),
    "smollm2-q4_k_m-fallbacks": dict(dim=96, hidden_dim=256, n_heads=3, n_kv_heads=1, qtype="Q5_0", embd_qtype="Q8_0",
                                     qtypes={"attn_v": "Q8_0", "ffn_down": "Q4_K"}),
    "qwen2.5-q4_k_m-untied": dict(WIDE, arch="qwen2", tie_embeddings=False, embd_qtype="Q4_K", **Q4_K_M,
                                  qtypes_output="Q6_K"),
    "llama3-q4_k_m-tied": dict(WIDE, rope_freqs=LLAMA3_FREQS, rope_theta=500000.0, pre="llama-bpe", embd_qtype="Q6_K",
                               **Q4_K_M),
    "llama3-q5_k-untied": dict(WIDE, rope_freqs=LLAMA3_FREQS, tie_embeddings=False, qtype="Q5_K", embd_qtype="Q8_0"),
}


def _write(tmp_path, name: str):
    kwargs = dict(FILES[name])
    output = kwargs.pop("qtypes_output", None)
    if output:
        kwargs["qtypes"] = {**kwargs["qtypes"], "output": output}
    return write_tiny_gguf(tmp_path / f"{name}.gguf", context_length=64, **kwargs)


def _logits(model, tokens: list[int], prefill: int) -> torch.Tensor:
    """Logits of a prefill through the module path, then one-token steps (the native step where it runs)."""
    model.setup_caches(1, 64)
    with torch.inference_mode():
        first = model(torch.tensor([tokens[:prefill]]), 0)[0]
        if model.kv_dtype in native_decode.KV_DTYPES and native_decode.supports(model):
            step = native_decode.NativeDecoder(model).step
        else:
            step = lambda t, i: model(torch.tensor([[t]]), i)[0, -1]  # noqa: E731
        return torch.cat([first, torch.stack([step(t, i) for i, t in enumerate(tokens[prefill:], start=prefill)])])


@pytest.mark.parametrize("name", list(FILES))
def test_packed_model_holds_the_file_and_decodes_like_its_fp32_twin(tmp_path, name):
    tiny = _write(tmp_path, name)
    g = read_gguf(tiny.path)
    assert g.config == tiny.config
    requantised_head = g.config["tie_embeddings"] and g.info("token_embd.weight").qtype.name == "Q8_0"  # int4 groups
    fp32 = load_transformer(tiny.path, "fp32", use_cache=False)
    packed = load_transformer(tiny.path, "int4", use_cache=False)
    exact = 0
    for ours, ref in zip(packed.blk, fp32.blk):
        for mod, twin in ((ours.attn.attn_qkv, ref.attn.attn_qkv), (ours.ffn.ffn_down, ref.ffn.ffn_down)):
            if isinstance(mod, (BlockLinear, ConcatLinear)):
                assert torch.equal(mod.dequantize(), twin.weight)  # the file's own weights, bit for bit
                exact += 1
    assert exact or name == "smollm2-q4_1"
    if native.kernels() is not None:
        packed.kv_dtype = fp32.kv_dtype = torch.float16  # the native step's cache for both: only the weights differ
    tokens = list(range(3, 40))
    ref = _logits(fp32, tokens, prefill=20)
    got = _logits(packed, tokens, prefill=20)
    scale = ref.abs().max()
    assert (got[:20] - ref[:20]).abs().max() <= 1e-4 * scale  # prefill: fp32 GEMM on the exact weight
    decode, twin = got[20:], ref[20:]
    top = decode.topk(4, dim=-1).indices  # a requantised head is exact only at its best (RescoredHead)
    assert (decode.gather(1, top) - twin.gather(1, top)).abs().max() <= 5e-3 * scale  # int16 activations at worst
    if not requantised_head:  # a head held as the file's blocks: every logit
        errors = (decode - twin).abs().amax(dim=-1) / scale  # per step; random K blocks make a badly conditioned
        assert errors.max() <= 5e-3 and errors.median() <= 5e-4  # model: int16 rounding spikes at a step or two


@pytest.mark.parametrize("name", [n for n in FILES if n != "smollm2-q4_1"])
def test_avx512_decode_of_block_files_is_their_fp32_twin_to_fp32_rounding(tmp_path, name):
    kernels = native.kernels()
    if kernels is None:
        pytest.skip("no C compiler or no AVX2/FMA/F16C here")
    tiny = _write(tmp_path, name)
    fp32 = load_transformer(tiny.path, "fp32", use_cache=False)
    fp32.kv_dtype = torch.float16
    tokens = list(range(3, 40))
    twin = _logits(fp32, tokens, prefill=20)[20:]
    scale = twin.abs().max()
    medians, before = {}, kernels.avx512
    try:
        for avx512 in (True, False):
            if kernels.use_avx512(avx512) != avx512:
                pytest.skip("this CPU lacks AVX-512 VNNI")
            packed = load_transformer(tiny.path, "int8", use_cache=False)  # every weight and the head as blocks
            packed.kv_dtype = torch.float16
            errors = (_logits(packed, tokens, prefill=20)[20:] - twin).abs().amax(dim=-1) / scale  # per step
            medians[avx512] = float(errors.median())
    finally:
        kernels.use_avx512(before)
    # fp32 activations (2e-7 to 3e-5 on these files) against the AVX2 path's int16 groups (2e-5 to 2e-4)
    assert medians[True] <= 5e-5 and medians[True] * 4 <= medians[False], medians


@pytest.mark.parametrize("name", [n for n in FILES if n != "smollm2-q4_1"])
def test_avx512_decode_on_fp32_caches_is_the_fp32_twin_to_fp32_rounding(tmp_path, name):
    kernels = native.kernels()
    if kernels is None or not kernels.avx512:
        pytest.skip("no AVX-512 VNNI kernels here")
    tiny = _write(tmp_path, name)
    fp32 = load_transformer(tiny.path, "fp32", use_cache=False)
    packed = load_transformer(tiny.path, "int8", use_cache=False)  # every weight and the head as blocks
    packed.kv_dtype = fp32.kv_dtype = torch.float32  # K and V unrounded on both sides (issue 17's comparison)
    tokens = list(range(3, 40))
    twin = _logits(fp32, tokens, prefill=20)[20:]
    errors = (_logits(packed, tokens, prefill=20)[20:] - twin).abs().amax(dim=-1) / twin.abs().max()  # per step
    # measured 3e-7 to 3e-5 at most, medians 2e-7 to 4e-7; fp16 caches on both sides reach 3e-3 on qwen2.5
    assert errors.max() <= 1e-4 and errors.median() <= 2e-6, errors


def test_qwen2_untied_head_and_biases_are_kept(tmp_path):
    tiny = _write(tmp_path, "qwen2.5-q4_k_m-untied")
    packed = load_transformer(tiny.path, "int4", use_cache=False)
    qkv = packed.blk[0].attn.attn_qkv
    assert isinstance(qkv, ConcatLinear) and [p.qtype for p in qkv.parts] == ["Q4_K", "Q4_K", "Q6_K"]
    bias = torch.cat([torch.from_numpy(tiny.weights[f"blk.0.attn_{x}.bias"]) for x in "qkv"])
    assert torch.equal(torch.cat([p.bias for p in qkv.parts]), bias)
    assert isinstance(packed.output, BlockLinear) and packed.output.qtype == "Q6_K"
    assert packed.output.codes.data_ptr() != packed.token_embd.weight.data_ptr()


def test_llama3_rope_freqs_reach_the_model(tmp_path):
    tiny = _write(tmp_path, "llama3-q4_k_m-tied")
    model = load_transformer(tiny.path, "int4", use_cache=False)
    assert torch.equal(model.rope_freq_factors, torch.tensor(LLAMA3_FREQS))
    assert isinstance(model.blk[0].attn.attn_qkv, ConcatLinear)


@pytest.mark.parametrize("name", ["qwen2.5-q4_k_m-untied", "llama3-q4_k_m-tied", "smollm2-q4_k_m-fallbacks"])
def test_local_lm_generates_from_k_quant_files(tmp_path, name, monkeypatch):
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    tiny = _write(tmp_path, name)
    lm = LocalLM.load(tiny.path, weights="int4", max_context=64)
    cached = LocalLM.load(tiny.path, weights="int4", max_context=64)  # from the converted-weight cache
    prompt = lm.tokenizer.encode_chat([{"role": "user", "content": "what is EMA?"}])
    first = list(lm.generate_ids(prompt, max_new_tokens=8, stop_ids=set()))
    assert first == list(cached.generate_ids(prompt, max_new_tokens=8, stop_ids=set())) and len(first) == 8
    assert lm.decoder == ("NativeDecoder" if native.kernels() is not None else "FastDecoder")


@pytest.mark.parametrize("metadata,key", [
    ({"llama.rope.scaling.type": "yarn", "llama.rope.scaling.factor": 4.0}, "llama.rope.scaling.type"),
    ({"llama.expert_count": 8}, "llama.expert_count"),
    ({"llama.rope.dimension_count": 8}, "llama.rope.dimension_count"),
    ({"llama.attention.sliding_window": 32}, "llama.attention.sliding_window"),
    ({"llama.attention.value_length": 8}, "llama.attention.value_length"),
])
def test_unsupported_metadata_is_refused_by_key(tmp_path, metadata, key):
    path = write_tiny_gguf(tmp_path / "odd.gguf", metadata=metadata).path
    with pytest.raises(UnsupportedArchitectureError) as err:
        read_gguf(path)
    assert key in str(err.value) and str(path) in str(err.value)


def test_llama3_scaling_without_its_factors_is_an_error(tmp_path):
    path = write_tiny_gguf(tmp_path / "l3.gguf", metadata={"llama.rope.scaling.type": "llama3"}).path
    with pytest.raises(GGUFError, match="rope_freqs.weight is missing"):
        read_gguf(path)
    ok = write_tiny_gguf(tmp_path / "l3ok.gguf", rope_freqs=np.ones(8, np.float32),
                         metadata={"llama.rope.scaling.type": "llama3"})
    assert read_gguf(ok.path).config["rope_scaling"]["type"] == "freq_factors"


def test_k_quant_files_run_without_the_native_kernels(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_NATIVE", "0")
    native.kernels.cache_clear()
    try:
        tiny = _write(tmp_path, "qwen2.5-q4_k_m-untied")
        lm = LocalLM.load(tiny.path, weights="int4", max_context=64, use_cache=False)
        assert lm.decoder == "FastDecoder" and not lm.speculative
        prompt = lm.tokenizer.encode("what is EMA?")
        assert len(list(lm.generate_ids(prompt, max_new_tokens=6, stop_ids=set()))) == 6
        fp32 = load_transformer(tiny.path, "fp32", use_cache=False)
        fp32.setup_caches(1, 64)
        lm.model.setup_caches(1, 64)
        with torch.inference_mode():
            x = torch.tensor([prompt])
            assert (lm.model(x, 0) - fp32(x, 0)).abs().max() <= 1e-4 * fp32(x, 0).abs().max()  # reference weights
    finally:
        native.kernels.cache_clear()
