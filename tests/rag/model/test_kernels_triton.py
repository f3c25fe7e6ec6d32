"""Triton attention kernels vs attention_ref: on CPU under TRITON_INTERPRET=1 (fp32, tiny shapes, in a
subprocess so the interpreter flag never leaks into this process), and on CUDA when a GPU is present.

Run as a script (`TRITON_INTERPRET=1 python tests/rag/model/test_kernels_triton.py`) it prints one JSON
object: case name -> max abs difference from attention_ref.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[3]
TOL = 2e-5

# name: (kernel, B, Hq, Hkv, Tq, Tk, D, causal, q_start, kv_len, extra kwargs, strided)
CASES = {
    "prefill_causal_mha_odd7": ("flash", 1, 2, 2, 7, 7, 16, True, 0, None, {}, False),
    "prefill_gqa3_offset_kvlen": ("flash", 1, 3, 1, 33, 40, 64, True, 5, 38, {}, False),
    "prefill_gqa4_noncausal_65": ("flash", 1, 4, 1, 17, 65, 32, False, 0, 65, {}, False),
    "prefill_d24_padded_chunk": ("flash", 1, 2, 1, 9, 20, 24, True, 11, None, {}, False),
    "prefill_130_blocks32": ("flash", 1, 1, 1, 130, 130, 16, True, 0, None, {"block_m": 32, "block_n": 32}, False),
    "prefill_strided_cache": ("flash", 1, 4, 2, 12, 48, 32, True, 20, 32, {}, True),
    "prefill_no_keys": ("flash", 1, 2, 1, 5, 9, 16, True, 0, 0, {}, False),
    "decode_mha_3splits": ("decode", 1, 2, 2, 1, 130, 64, True, 119, 120, {"num_splits": 3}, False),
    "decode_gqa3_smollm_4splits": ("decode", 1, 9, 3, 1, 100, 64, True, 64, 65, {"num_splits": 4}, False),
    "decode_gqa3_noncausal_d24": ("decode", 2, 6, 2, 1, 33, 24, False, 0, 30, {"num_splits": 2}, False),
    "decode_gqa4_one_key": ("decode", 1, 8, 2, 1, 16, 32, True, 0, 1, {}, False),
    "decode_causal_before_kvlen": ("decode", 1, 4, 2, 1, 64, 16, True, 20, 50, {"num_splits": 2}, False),
    "decode_more_splits_than_blocks": ("decode", 1, 2, 1, 1, 40, 16, True, 19, 20, {"num_splits": 8}, False),
    "decode_strided_cache": ("decode", 2, 4, 2, 1, 48, 32, True, 40, 41, {"num_splits": 2}, True),
}


def _inputs(b, hq, hkv, tq, tk, d, strided, gen):
    """Random q, k, v; strided ones come from (B, T, H, D) buffers, like a token-major KV cache."""
    if not strided:
        return (torch.randn(b, hq, tq, d, generator=gen), torch.randn(b, hkv, tk, d, generator=gen),
                torch.randn(b, hkv, tk, d, generator=gen))
    q = torch.randn(b, tq, hq, d, generator=gen).transpose(1, 2)
    k = torch.randn(b, tk + 7, hkv, d, generator=gen).transpose(1, 2)[:, :, :tk]
    v = torch.randn(b, tk + 7, hkv, d, generator=gen).transpose(1, 2)[:, :, :tk]
    return q, k, v


def run_cases() -> dict[str, float]:
    """Run every case through its Triton kernel (interpreter on CPU); max abs diff vs attention_ref."""
    from rag.model.attention import attention_ref
    from rag.model.kernels.decode_attention import decode_attention
    from rag.model.kernels.flash_attention import flash_attention

    gen = torch.Generator().manual_seed(0)
    result = {}
    for name, (kernel, b, hq, hkv, tq, tk, d, causal, q_start, kv_len, extra, strided) in CASES.items():
        q, k, v = _inputs(b, hq, hkv, tq, tk, d, strided, gen)
        fn = flash_attention if kernel == "flash" else decode_attention
        got = fn(q, k, v, causal=causal, q_start=q_start, kv_len=kv_len, **extra)
        want = attention_ref(q, k, v, causal=causal, q_start=q_start, kv_len=kv_len)
        assert got.shape == want.shape and got.dtype == want.dtype, name
        result[name] = (got - want).abs().max().item()
    result["dispatch_forced_triton"] = _dispatch_case(gen)
    return result


def _dispatch_case(gen: torch.Generator) -> float:
    """attention() with RAG_ATTENTION=triton routes prefill and decode to the kernels, call after call."""
    from rag.model.attention import attention, attention_ref

    os.environ["RAG_ATTENTION"] = "triton"
    q, k, v = _inputs(1, 4, 2, 5, 24, 16, False, gen)
    worst = 0.0
    for _ in range(2):
        for qq, kw in ((q, {}), (q[:, :, -1:], {"q_start": 20, "kv_len": 21})):
            got = attention(qq, k, v, **kw)
            worst = max(worst, (got - attention_ref(qq, k, v, **kw)).abs().max().item())
    return worst


@pytest.fixture(scope="module")
def interpreted() -> dict[str, float]:
    """All cases in one subprocess with TRITON_INTERPRET=1 (the flag must precede the triton import)."""
    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, __file__], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("case", [*CASES, "dispatch_forced_triton"])
def test_kernel_matches_reference_under_interpreter(interpreted, case):
    assert interpreted[case] <= TOL, f"{case}: max abs diff {interpreted[case]:.2e}"


needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("b,hq,hkv,tq,tk,d,q_start,kv_len", [
    (2, 8, 2, 300, 300, 64, 0, None), (1, 9, 3, 129, 1000, 64, 700, 829), (2, 16, 16, 257, 513, 128, 0, 257),
    (1, 4, 1, 77, 77, 80, 0, None),
])
def test_flash_kernel_on_gpu(dtype, b, hq, hkv, tq, tk, d, q_start, kv_len):
    pytest.importorskip("triton")
    from rag.model.attention import attention, attention_ref

    gen = torch.Generator(device="cuda").manual_seed(0)
    q = torch.randn(b, hq, tq, d, device="cuda", dtype=dtype, generator=gen)
    k = torch.randn(b, hkv, tk, d, device="cuda", dtype=dtype, generator=gen)
    v = torch.randn(b, hkv, tk, d, device="cuda", dtype=dtype, generator=gen)
    for causal in (True, False):
        got = attention(q, k, v, causal=causal, q_start=q_start, kv_len=kv_len)
        want = attention_ref(q, k, v, causal=causal, q_start=q_start, kv_len=kv_len)
        torch.testing.assert_close(got, want, atol=2e-2, rtol=2e-2)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
@pytest.mark.parametrize("b,hq,hkv,tk,kv_len", [(1, 9, 3, 2048, 1000), (4, 32, 8, 4096, 4096), (2, 8, 8, 64, 1)])
def test_decode_kernel_on_gpu(dtype, b, hq, hkv, tk, kv_len):
    pytest.importorskip("triton")
    from rag.model.attention import attention, attention_ref

    gen = torch.Generator(device="cuda").manual_seed(0)
    q = torch.randn(b, hq, 1, 64, device="cuda", dtype=dtype, generator=gen)
    k = torch.randn(b, hkv, tk, 64, device="cuda", dtype=dtype, generator=gen)
    v = torch.randn(b, hkv, tk, 64, device="cuda", dtype=dtype, generator=gen)
    got = attention(q, k, v, q_start=kv_len - 1, kv_len=kv_len)
    want = attention_ref(q, k, v, q_start=kv_len - 1, kv_len=kv_len)
    tol = 1e-4 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(got, want, atol=tol, rtol=tol)


def compile_for(arch: int) -> list[str]:
    """Compile every kernel ahead of time for CUDA sm_<arch> (no GPU needed: Triton's bundled ptxas)."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from rag.model.kernels.decode_attention import _decode_combine, _decode_split
    from rag.model.kernels.flash_attention import _config, _flash_fwd

    def build(fn, ptrs, consts, **options):
        sig = {n: "constexpr" if n in consts else ptrs.get(n, "fp32" if n == "qk_scale" else "i32")
               for n in fn.arg_names}
        triton.compile(ASTSource(fn, sig, consts), target=GPUTarget("cuda", arch, 32), options=options)
        return f"{fn.__name__} {'/'.join(set(ptrs.values()))} D={consts['HEAD_DIM']}"

    done = []
    for dtype, tl_type, d in ((torch.float16, "fp16", 64), (torch.bfloat16, "bf16", 128), (torch.float32, "fp32", 64)):
        bm, bn, warps, stages = _config(d, dtype, interpret=False)
        prec = "ieee" if tl_type == "fp32" else "tf32"
        io = {n: "*" + tl_type for n in ("Q", "K", "V", "Out")}
        done.append(build(_flash_fwd, io, dict(HEAD_DIM=d, BLOCK_D=d, BLOCK_M=bm, BLOCK_N=bn, CAUSAL=True,
                                               DOT_PRECISION=prec), num_warps=warps, num_stages=stages))
        part = {"M": "*fp32", "L": "*fp32", "A": "*fp32"}
        done.append(build(_decode_split, {**io, **part}, dict(HEAD_DIM=d, BLOCK_D=d, BLOCK_H=16, BLOCK_N=64,
                                                              DOT_PRECISION=prec), num_warps=4))
        done.append(build(_decode_combine, {**part, "Out": io["Out"]}, dict(HEAD_DIM=d, BLOCK_D=d, BLOCK_S=64),
                          num_warps=4))
    return done


@pytest.mark.full
@pytest.mark.parametrize("arch", [80, 90])
def test_kernels_compile_for_cuda_without_gpu(arch):
    """Catches what the interpreter cannot: Triton type/layout errors and ptxas failures."""
    pytest.importorskip("triton")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, __file__, "--compile", str(arch)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert len(json.loads(proc.stdout.strip().splitlines()[-1])) == 9


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compile"]:
        print(json.dumps(compile_for(int(sys.argv[2]))))
    else:
        print(json.dumps(run_cases()))
