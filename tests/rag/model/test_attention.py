"""attention() CPU paths (SDPA, automatic dispatch) against attention_ref, and attention_ref
against the definition."""
from __future__ import annotations

import math

import pytest
import torch

from rag.model import attention as attn_mod
from rag.model.attention import attention, attention_ref, attention_sdpa

# (B, Hq, Hkv, Tq, Tk, D, causal, q_start, kv_len)
SHAPES = [
    (1, 2, 2, 1, 1, 16, True, 0, None),
    (1, 3, 1, 7, 7, 64, True, 0, None),
    (2, 4, 1, 33, 33, 32, False, 0, None),
    (1, 9, 3, 65, 130, 64, True, 65, None),
    (1, 6, 2, 7, 130, 64, True, 100, 107),
    (2, 8, 2, 33, 65, 16, True, 10, 40),
    (1, 4, 4, 130, 130, 64, True, 0, 100),
    (1, 9, 3, 1, 2048, 64, True, 999, 1000),
    (2, 4, 1, 1, 65, 32, False, 0, 33),
    (1, 6, 2, 1, 64, 32, True, 20, 50),
    (1, 3, 1, 5, 9, 16, False, 0, 0),
]
PATHS = {"sdpa": attention_sdpa, "auto": attention}


def _qkv(b, hq, hkv, tq, tk, d, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(b, h, t, d, generator=g).to(dtype) for h, t in ((hq, tq), (hkv, tk), (hkv, tk)))


def _naive(q, k, v, causal, q_start, kv_len, scale):
    """Attention by the definition, one (batch, head, row) at a time, in float64."""
    b, hq, tq, d = q.shape
    rep = hq // k.shape[1]
    out = torch.zeros(b, hq, tq, d, dtype=torch.float64)
    for bi in range(b):
        for h in range(hq):
            for i in range(tq):
                keys = [j for j in range(kv_len) if not causal or j <= q_start + i]
                if not keys:
                    continue
                s = torch.stack([q[bi, h, i].double() @ k[bi, h // rep, j].double() * scale for j in keys])
                w = torch.softmax(s, 0)
                out[bi, h, i] = sum(w[n] * v[bi, h // rep, j].double() for n, j in enumerate(keys))
    return out


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("path", list(PATHS))
def test_cpu_paths_match_reference(path, shape, monkeypatch):
    monkeypatch.delenv("RAG_ATTENTION", raising=False)
    b, hq, hkv, tq, tk, d, causal, q_start, kv_len = shape
    q, k, v = _qkv(b, hq, hkv, tq, tk, d)
    kw = dict(causal=causal, q_start=q_start, kv_len=kv_len)
    got = PATHS[path](q, k, v, **kw)
    want = attention_ref(q, k, v, **kw)
    assert got.shape == (b, hq, tq, d) and got.dtype == q.dtype
    torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", [(1, 4, 2, 5, 9, 8, True, 3, 7), (2, 3, 1, 4, 6, 4, False, 0, 5),
                                   (1, 2, 2, 3, 3, 4, True, 0, None), (1, 2, 1, 2, 4, 4, True, 0, 0)])
def test_reference_matches_definition(shape):
    b, hq, hkv, tq, tk, d, causal, q_start, kv_len = shape
    q, k, v = _qkv(b, hq, hkv, tq, tk, d, seed=1)
    got = attention_ref(q, k, v, causal=causal, q_start=q_start, kv_len=kv_len, scale=0.3)
    want = _naive(q, k, v, causal, q_start, tk if kv_len is None else kv_len, 0.3)
    torch.testing.assert_close(got.double(), want, atol=1e-6, rtol=1e-6)


def test_decode_rows_equal_prefill_rows():
    """Prefill of T tokens, then each token again as a decode step against a static cache, agree."""
    q, k, v = _qkv(1, 9, 3, 40, 40, 64, seed=2)
    cache_k = torch.zeros(1, 3, 128, 64).index_copy_(2, torch.arange(40), k)
    cache_v = torch.zeros(1, 3, 128, 64).index_copy_(2, torch.arange(40), v)
    full = attention(q, k, v)
    for t in (0, 17, 39):
        step = attention(q[:, :, t:t + 1], cache_k, cache_v, q_start=t, kv_len=t + 1)
        torch.testing.assert_close(step, full[:, :, t:t + 1], atol=2e-5, rtol=1e-5)
    chunk = attention(q[:, :, 25:], cache_k, cache_v, q_start=25, kv_len=40)
    torch.testing.assert_close(chunk, full[:, :, 25:], atol=2e-5, rtol=1e-5)


def test_default_scale_and_single_key():
    q, k, v = _qkv(1, 2, 1, 3, 4, 16, seed=3)
    out = attention(q, k, v, causal=True)
    torch.testing.assert_close(out[:, :, 0], v[:, [0, 0], 0])  # the first row sees only key 0
    explicit = attention(q, k, v, scale=1.0 / math.sqrt(16))
    torch.testing.assert_close(out, explicit)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("tq", [1, 9])
def test_low_precision_keeps_dtype(dtype, tq):
    q, k, v = _qkv(1, 4, 2, tq, 16, 32, seed=4, dtype=dtype)
    out = attention(q, k, v, q_start=16 - tq)
    assert out.dtype == dtype
    torch.testing.assert_close(out.float(), attention_ref(q, k, v, q_start=16 - tq).float(), atol=3e-2, rtol=3e-2)


def test_env_var_forces_path(monkeypatch):
    calls = []
    for name in ("attention_ref", "attention_sdpa"):
        monkeypatch.setattr(attn_mod, name, lambda *a, _n=name, **kw: calls.append(_n))
    q, k, v = _qkv(1, 2, 1, 3, 3, 8)
    q1 = q[:, :, :1]
    monkeypatch.delenv("RAG_ATTENTION", raising=False)
    attention(q, k, v)
    attention(q1, k, v)
    for forced in ("ref", "sdpa"):
        monkeypatch.setenv("RAG_ATTENTION", forced)
        attention(q1, k, v)
    assert calls == ["attention_sdpa", "attention_sdpa", "attention_ref", "attention_sdpa"]
    monkeypatch.setenv("RAG_ATTENTION", "fast")
    with pytest.raises(ValueError, match="RAG_ATTENTION"):
        attention(q, k, v)


@pytest.mark.parametrize("fn", [attention, attention_ref])
def test_bad_shapes_raise(fn):
    q, k, v = _qkv(1, 4, 3, 2, 5, 8)
    with pytest.raises(ValueError, match="multiple of kv heads"):
        fn(q, k, v)
    q, k, v = _qkv(1, 4, 2, 2, 5, 8)
    with pytest.raises(ValueError, match="kv_len"):
        fn(q, k, v, kv_len=6)
    with pytest.raises(ValueError, match="q_start"):
        fn(q, k, v, q_start=-1)
    with pytest.raises(ValueError, match="4-D"):
        fn(q[0], k, v)
    with pytest.raises(ValueError, match="differ"):
        fn(q, k, v[:, :, :4])
