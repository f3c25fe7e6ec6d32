"""Attention benchmark: CPU paths at SmolLM2-135M shapes; on CUDA, the Triton kernels vs torch SDPA.

CPU (fp32, B=1, Hq=9, Hkv=3, D=64): prefill Tq = Tk = 800 causal; decode Tq = 1 against a static
cache of Tk = 2048 with kv_len 100..1000. Paths: sdpa (rag.model.attention.attention_sdpa, the CPU
path), ref (attention_ref) and ours (ours_cpu below: bmm / softmax / bmm with GQA folded into the
query rows, no kv-head copy; the candidate own CPU kernel, which loses to SDPA and so is not shipped).
Paths are timed in turn (interleaved) on the same input.
CUDA (when available): Triton prefill TFLOP/s vs F.scaled_dot_product_attention at B=1..8,
H=16..32, T=1k..8k, D=64/128, fp16/bf16, causal; split-K decode GB/s vs SDPA.

    python bench/attention.py [--json] [--repeat N] [--threads N]
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.model import kernels  # noqa: E402
from rag.model.attention import attention_ref, attention_sdpa  # noqa: E402

B, HQ, HKV, D = 1, 9, 3, 64
PREFILL_T = 800
CACHE_T = 2048
DECODE_LENS = (100, 250, 500, 1000)


def ours_cpu(q, k, v, *, causal=True, q_start=0, kv_len=None, scale=None):
    """Candidate own CPU attention: GQA folded into query rows, bmm / softmax / bmm."""
    b, hq, tq, d = q.shape
    hkv = k.shape[1]
    rep = hq // hkv
    kv_len = k.shape[2] if kv_len is None else kv_len
    n = min(kv_len, q_start + tq) if causal else kv_len
    kg = k[:, :, :n].reshape(b * hkv, n, d)
    vg = v[:, :, :n].reshape(b * hkv, n, d)
    qg = q.reshape(b * hkv, rep * tq, d) * (scale or 1.0 / math.sqrt(d))  # rows: (head in group, position)
    s = torch.bmm(qg, kg.transpose(1, 2))  # (B*Hkv, rep*Tq, n)
    if causal and q_start + 1 < n:
        pos = torch.arange(q_start, q_start + tq).repeat(rep)
        s.masked_fill_(torch.arange(n)[None, :] > pos[:, None], float("-inf"))
    return torch.bmm(torch.softmax(s, dim=-1), vg).reshape(b, hq, tq, d)


def _time_interleaved(fns: dict, repeat: int) -> dict:
    """Median seconds per fn, the fns run in turn each round so load from other processes hits all alike."""
    for fn in fns.values():
        fn()
        fn()
    times: dict = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def _case(paths: dict, args: tuple, kw: dict, repeat: int) -> dict:
    """Time every path on one input and compare its output with attention_ref."""
    ref = attention_ref(*args, **kw)
    secs = _time_interleaved({name: (lambda f=f: f(*args, **kw)) for name, f in paths.items()}, repeat)
    return {name: {"s": secs[name], "max_abs_diff": (f(*args, **kw) - ref).abs().max().item()}
            for name, f in paths.items()}


def bench_cpu(repeat: int) -> dict:
    """Median times (seconds) of sdpa / ref / ours at the SmolLM2 shapes, and max abs diff vs ref."""
    torch.manual_seed(0)
    paths = {"sdpa": attention_sdpa, "ref": attention_ref, "ours": ours_cpu}
    out: dict = {"threads": torch.get_num_threads()}
    with torch.inference_mode():
        q = torch.randn(B, HQ, PREFILL_T, D)
        k = torch.randn(B, HKV, PREFILL_T, D)
        v = torch.randn(B, HKV, PREFILL_T, D)
        out["prefill"] = _case(paths, (q, k, v), {}, max(5, repeat // 20))
        kc = torch.randn(B, HKV, CACHE_T, D)
        vc = torch.randn(B, HKV, CACHE_T, D)
        q1 = torch.randn(B, HQ, 1, D)
        out["decode"] = {n: _case(paths, (q1, kc, vc), {"q_start": n - 1, "kv_len": n}, repeat)
                         for n in DECODE_LENS}
    return out


def _cuda_time(fn) -> float:
    """Median seconds of fn on CUDA (triton.testing.do_bench)."""
    import triton.testing

    return triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median") / 1e3


def bench_cuda() -> dict:
    """Triton prefill TFLOP/s and decode GB/s beside torch SDPA on the same inputs."""
    from rag.model.kernels.decode_attention import decode_attention
    from rag.model.kernels.flash_attention import flash_attention

    res: dict = {"device": torch.cuda.get_device_name(), "prefill": [], "decode": []}
    shapes = [(1, 16, 1024, 64), (4, 32, 2048, 64), (8, 16, 4096, 64), (1, 32, 8192, 64),
              (1, 16, 1024, 128), (4, 32, 2048, 128), (8, 16, 4096, 128), (1, 32, 8192, 128)]
    for dtype in (torch.float16, torch.bfloat16):
        for b, h, t, d in shapes:
            q, k, v = (torch.randn(b, h, t, d, device="cuda", dtype=dtype) for _ in range(3))
            flops = 4 * b * h * t * t * d / 2  # causal: half the score matrix
            ours = _cuda_time(partial(flash_attention, q, k, v, causal=True))
            peer = _cuda_time(partial(F.scaled_dot_product_attention, q, k, v, is_causal=True))
            diff = (flash_attention(q, k, v) - F.scaled_dot_product_attention(q, k, v, is_causal=True)).abs().max()
            res["prefill"].append({"dtype": str(dtype).split(".")[1], "B": b, "H": h, "T": t, "D": d,
                                   "triton_tflops": flops / ours / 1e12, "sdpa_tflops": flops / peer / 1e12,
                                   "ratio": peer / ours, "max_abs_diff": diff.item()})
    for b, hq, hkv, n, d in [(1, 32, 8, 4096, 128), (8, 32, 8, 8192, 128), (1, 9, 3, 1000, 64)]:
        q = torch.randn(b, hq, 1, d, device="cuda", dtype=torch.float16)
        k, v = (torch.randn(b, hkv, n, d, device="cuda", dtype=torch.float16) for _ in range(2))
        nbytes = 2 * k.numel() * k.element_size()
        ours = _cuda_time(partial(decode_attention, q, k, v, causal=False))
        peer = _cuda_time(partial(F.scaled_dot_product_attention, q, k, v, enable_gqa=True))
        res["decode"].append({"B": b, "Hq": hq, "Hkv": hkv, "Tk": n, "D": d, "triton_gbs": nbytes / ours / 1e9,
                              "sdpa_gbs": nbytes / peer / 1e9, "ratio": peer / ours})
    return res


def _print_cpu(r: dict) -> None:
    """CPU table: each path's time beside SDPA, with the ratio."""
    print(f"CPU attention, fp32, B={B} Hq={HQ} Hkv={HKV} D={D}, {r['threads']} threads (median)")
    p = r["prefill"]
    print(f"  prefill Tq=Tk={PREFILL_T} causal:")
    for name, x in p.items():
        print(f"    {name:5s} {x['s'] * 1e3:8.2f} ms   x{x['s'] / p['sdpa']['s']:5.2f} of sdpa   "
              f"max|diff vs ref| {x['max_abs_diff']:.1e}")
    print(f"  decode Tq=1, static cache Tk={CACHE_T}:")
    for n, row in r["decode"].items():
        cells = "   ".join(f"{name} {x['s'] * 1e6:7.1f} us (x{x['s'] / row['sdpa']['s']:4.2f})"
                           for name, x in row.items())
        print(f"    kv_len {n:5d}: {cells}")


def _print_cuda(r: dict) -> None:
    """GPU table: Triton beside SDPA."""
    print(f"CUDA attention on {r['device']} (causal prefill, TFLOP/s; ratio = sdpa time / triton time)")
    for x in r["prefill"]:
        print(f"  {x['dtype']:8s} B={x['B']} H={x['H']:2d} T={x['T']:5d} D={x['D']:3d}: triton "
              f"{x['triton_tflops']:6.1f}  sdpa {x['sdpa_tflops']:6.1f}  ratio {x['ratio']:4.2f}  "
              f"max|diff| {x['max_abs_diff']:.1e}")
    print("  decode fp16 (GB/s of K+V read):")
    for x in r["decode"]:
        print(f"    B={x['B']} Hq={x['Hq']} Hkv={x['Hkv']} Tk={x['Tk']} D={x['D']}: triton "
              f"{x['triton_gbs']:7.1f}  sdpa {x['sdpa_gbs']:7.1f}  ratio {x['ratio']:4.2f}")


def main(argv: list[str] | None = None) -> int:
    """Run the CPU part always, the CUDA part when a GPU and triton are present."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    ap.add_argument("--repeat", type=int, default=200, help="timed runs per decode case")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result: dict = {"cpu": bench_cpu(args.repeat)}
    if torch.cuda.is_available() and kernels.HAS_TRITON:
        result["cuda"] = bench_cuda()
    else:
        result["cuda"] = None
        result["cuda_skipped"] = "no CUDA device" if kernels.HAS_TRITON else "triton not installed"
    if args.json:
        print(json.dumps(result))
        return 0
    _print_cpu(result["cpu"])
    if result["cuda"]:
        _print_cuda(result["cuda"])
    else:
        print(f"CUDA part skipped: {result['cuda_skipped']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
