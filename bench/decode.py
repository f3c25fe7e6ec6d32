"""Decode/prefill speed, load time and peak memory of our model (each path) beside HF transformers and llama.cpp.

One run, one prompt (800 tokens of notes text), one thread count; every engine runs in its own subprocess
so its peak RSS is its own. With llama-cpp-python installed (the `peers` extra) the bundled model is also
requantised to Q4_K_M by llama.cpp (rag/model/requantize.py) and both engines run that same file (q4k_* keys).
Parity on it (bench/q4k_parity.py) is against an fp32 model of the dequantised file:
q4k_parity_max_abs_logit_diff (issue 17's figure) and q4k_parity_decode_floor_max_abs_logit_diff have fp32 KV caches
on both sides, K and V unrounded (the same values as q4k_parity_fp32_cache_*); q4k_parity_fp16_cache_* and the int4
and llama.cpp figures have fp16 caches on both sides, as the engines decode by default. spec_* and constrained_spec_*
keys time prompt-lookup speculative decoding against plain greedy decoding (bench/speculative_decode.py).
Usage: python bench/decode.py [--threads 2] [--new-tokens 128] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DESIGN_PEERS = {"llamacpp": 129.0, "hf": 21.0}  # tok/s measured on this project's 2-core machines (DESIGN.md)
PARITY_TOKENS = 256


def prompt_ids(n: int) -> list[int]:
    """n token ids of real notes text (../shared/notes, else examples/notes), tokenised by the GGUF's tokenizer."""
    from rag.core.resources import default_gguf_path
    from rag.model.tokenizer import GGUFTokenizer

    folder = ROOT.parent / "shared" / "notes"
    folder = folder if folder.is_dir() else ROOT / "examples" / "notes"
    text = "\n".join(p.read_text(encoding="utf-8", errors="replace")
                     for p in sorted(folder.glob("*.*")) if p.suffix in (".txt", ".md"))
    ids = GGUFTokenizer.from_gguf(default_gguf_path()).encode(text, parse_special=False)
    return ids[:n]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ops_overhead(lm, pos: int) -> dict:
    """aten ops in one decode step and the cost of one tiny op: the per-op floor of a step."""
    import torch
    from torch.profiler import profile

    with torch.inference_mode(), profile() as prof:
        lm._step(1, pos)
    n_ops = sum(e.count for e in prof.key_averages() if e.key.startswith("aten::"))
    x = torch.zeros(64)
    t = time.perf_counter()
    for _ in range(2000):
        x.add_(1.0)
    us = (time.perf_counter() - t) / 2000 * 1e6
    return {"aten_ops_per_step": n_ops, "us_per_tiny_op": round(us, 2), "op_floor_ms": round(n_ops * us / 1000, 2)}


DECODE_TENSORS = {"Linear": ("weight", "bias"), "Int8Linear": ("codes", "groups", "bias"),
                  "Int4Linear": ("codes", "groups", "bias"), "BlockLinear": ("codes", "bias")}


def decode_bytes(module) -> int:
    """Bytes of weights one decode step reads from this layer (in our kernels' layout)."""
    names = DECODE_TENSORS.get(module.__class__.__name__, ())
    tensors = [getattr(module, n, None) for n in names]
    return sum(t.numel() * t.element_size() for t in tensors if t is not None)


def run_ours(weights: str, ids: list[int], new: int, compiled: bool, logits_out: str | None, gguf: str) -> dict:
    import torch

    from rag.model.generate import LocalLM

    t = time.perf_counter()
    lm = LocalLM.load(gguf, weights=weights, max_context=2048, compile=False)
    load_s = time.perf_counter() - t
    if compiled and not lm.compile():
        return {"error": "torch.compile failed"}
    with torch.inference_mode():
        if logits_out:
            lm.model.setup_caches(1, 2048)
            np.save(logits_out, lm.model(torch.tensor([ids[:PARITY_TOKENS]]), 0)[0].numpy())
        t = time.perf_counter()
        lm.prefill(ids)
        prefill_s = time.perf_counter() - t
        lm.model.setup_caches(1, 2048)  # fresh caches: no prompt prefix is reused below
        t = time.perf_counter()
        lm.prefill(ids)  # the same prompt again, warm: what every prompt after a process's first one costs
        warm_prefill_s = time.perf_counter() - t
        lm.model.setup_caches(1, 2048)
    t = time.perf_counter()
    first = None
    n = 0
    for _ in lm.generate_ids(ids, max_new_tokens=new + 1, stop_ids=set(), speculate=False):
        first = first or time.perf_counter()
        n += 1
    end = time.perf_counter()
    bytes_per_token = sum(decode_bytes(m) for m in lm.model.modules())
    return {"load_s": load_s, "prefill_tok_s": len(ids) / prefill_s, "warm_prefill_tok_s": len(ids) / warm_prefill_s,
            "ttft_s": first - t,
            "decode_tok_s": (n - 1) / (end - first), "weight_bytes_per_token": int(bytes_per_token),
            "decoder": lm.decoder,
            **ops_overhead(lm, len(ids) + n)}


def run_hf(ids: list[int], new: int, logits_out: str | None) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    from rag.core.resources import default_gguf_path

    path = default_gguf_path()
    t = time.perf_counter()
    hf = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()
    load_s = time.perf_counter() - t
    with torch.inference_mode():
        if logits_out:
            np.save(logits_out, hf(torch.tensor([ids[:PARITY_TOKENS]])).logits[0].numpy())
        t = time.perf_counter()
        out = hf(torch.tensor([ids]), use_cache=True)
        ttft = time.perf_counter() - t
        past, tok = out.past_key_values, out.logits[0, -1].argmax().view(1, 1)
        t = time.perf_counter()
        for _ in range(new):
            out = hf(tok, past_key_values=past, use_cache=True)
            past, tok = out.past_key_values, out.logits[0, -1].argmax().view(1, 1)
        decode = new / (time.perf_counter() - t)
    return {"load_s": load_s, "prefill_tok_s": len(ids) / ttft, "ttft_s": ttft, "decode_tok_s": decode}


def run_llamacpp(ids: list[int], new: int, threads: int, gguf: str) -> dict:
    try:
        from llama_cpp import Llama
    except ImportError:
        return {"error": "llama-cpp-python is not installed (pip install '.[peers]')"}

    t = time.perf_counter()
    llm = Llama(gguf, n_ctx=2048, n_threads=threads, verbose=False)
    load_s = time.perf_counter() - t
    t0 = time.perf_counter()
    first = None
    n = 0
    for _ in llm.create_completion(ids, max_tokens=new + 1, temperature=0.0, stream=True):
        first = first or time.perf_counter()
        n += 1
    end = time.perf_counter()
    llm.reset()  # no prefix reuse: the warm prompt below is evaluated whole
    t = time.perf_counter()
    next(iter(llm.create_completion(ids, max_tokens=1, temperature=0.0, stream=True)))
    warm = time.perf_counter() - t
    return {"load_s": load_s, "ttft_s": first - t0, "prefill_tok_s": len(ids) / (first - t0),
            "warm_prefill_tok_s": len(ids) / warm, "decode_tok_s": (n - 1) / (end - first)}


def gemm_gflops(dtype) -> float:
    """GEMM speed of a prefill-sized matmul (800 x 576 @ 576 x 1536) in dtype, the bound of our prefill."""
    import torch

    a, b = torch.randn(800, 576, dtype=dtype), torch.randn(576, 1536, dtype=dtype)
    torch.mm(a, b)
    t = time.perf_counter()
    for _ in range(20):
        torch.mm(a, b)
    return 20 * 2 * 800 * 576 * 1536 / (time.perf_counter() - t) / 1e9


def worker(a: argparse.Namespace) -> None:
    """One engine in this process; prints one JSON line."""
    import torch

    from rag.core.resources import default_gguf_path

    torch.set_num_threads(a.threads)
    ids = prompt_ids(a.prompt_tokens)
    gguf = a.gguf or str(default_gguf_path())
    if a.engine.startswith("ours"):
        _, weights, *rest = a.engine.split("-")
        if "torch" in rest:
            os.environ["RAG_NATIVE"] = "0"  # torch's kernels and FastDecoder instead of our C code
        res = run_ours("int4" if weights == "q4k" else weights, ids, a.new_tokens, "compiled" in rest, a.logits_out,
                       gguf)
    elif a.engine == "hf":
        res = run_hf(ids, a.new_tokens, a.logits_out)
    elif a.engine == "parity-q4k":
        from q4k_parity import run_q4k_parity  # bench/ is this script's folder, first on sys.path

        res = run_q4k_parity(ids, gguf)
    elif a.engine == "spec":
        from speculative_decode import run_spec  # bench/ is this script's folder, first on sys.path

        res = run_spec(a.new_tokens, gguf)
    else:
        res = run_llamacpp(ids, a.new_tokens, a.threads, gguf)
    res["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(res))


def spawn(engine: str, a: argparse.Namespace, env: dict, logits_out: str | None = None,
          gguf: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--worker", engine, "--threads", str(a.threads), "--new-tokens",
           str(a.new_tokens), "--prompt-tokens", str(a.prompt_tokens)]
    cmd += ["--logits-out", logits_out] if logits_out else []
    cmd += ["--gguf", gguf] if gguf else []
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}


def memory_bandwidth_gb_s() -> float:
    """Streaming copy of 256 MB: bytes read + written per second (the ceiling for weight-bound decode)."""
    import torch

    src, dst = torch.ones(64 << 20), torch.empty(64 << 20)
    dst.copy_(src)
    t = time.perf_counter()
    for _ in range(5):
        dst.copy_(src)
    return 5 * 2 * src.numel() * 4 / (time.perf_counter() - t) / 1e9


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--prompt-tokens", type=int, default=800)
    ap.add_argument("--engines", default="ours-fp32,ours-int8,ours-int4-torch,ours-int4,hf,llamacpp,"
                                         "ours-q4k,llamacpp-q4k,parity-q4k,spec",
                    help="comma list; ours-int4-torch uses torch's int4 kernel and FastDecoder instead of our C code; "
                         "ours-int8-compiled adds torch.compile (minutes to compile on 2 cores); *-q4k run the "
                         "Q4_K_M file llama.cpp makes from the bundled model; spec times speculative decoding")
    ap.add_argument("--gguf", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--logits-out", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        a.engine = a.worker
        worker(a)
        return 0
    engines = a.engines.split(",")
    from q4k_parity import q4k_file  # bench/ is this script's folder, first on sys.path

    q4k, q4k_error = q4k_file() if any(e.endswith("q4k") for e in engines) else (None, None)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RAG_CACHE_DIR": str(Path(tmp) / "cache")}
        res: dict[str, dict] = {}
        for e in engines:
            if e.endswith("q4k") and q4k is None:
                res[e] = {"error": q4k_error}
                continue
            logits = str(Path(tmp) / f"{e}.npy") if e in ("ours-fp32", "hf") else None
            gguf = q4k if e.endswith("q4k") else None
            res[e] = spawn(e, a, env, logits, gguf)  # first start: converts and fills the weight cache
            if e.startswith("ours") and "error" not in res[e]:
                res[e]["cold_load_s"] = res[e]["load_s"]
                res[e]["load_s"] = spawn(e, a, env, gguf=gguf).get("load_s")  # second start: cached weights
        parity = None
        if all(Path(tmp, f"{e}.npy").is_file() for e in ("ours-fp32", "hf")):
            parity = float(np.abs(np.load(Path(tmp, "ours-fp32.npy")) - np.load(Path(tmp, "hf.npy"))).max())
    bw = memory_bandwidth_gb_s()
    from rag.model.precision import packed_prefill_dtype

    prefill_dtype = packed_prefill_dtype()  # what the packed engines' prefill ran in (the same environment)
    gflops = gemm_gflops(prefill_dtype)
    ours = {e: r for e, r in res.items() if e.startswith("ours") and not e.endswith("q4k") and "decode_tok_s" in r}
    best = max(ours, key=lambda e: ours[e]["decode_tok_s"]) if ours else None
    get = lambda e, k: res.get(e, {}).get(k)  # noqa: E731
    summary = {
        "threads": a.threads, "prompt_tokens": a.prompt_tokens, "new_tokens": a.new_tokens, "best_ours": best,
        "ours_decode_tok_s": get(best, "decode_tok_s"), "hf_decode_tok_s": get("hf", "decode_tok_s"),
        "llamacpp_decode_tok_s": get("llamacpp", "decode_tok_s"), "ours_prefill_tok_s": get(best, "prefill_tok_s"),
        "ours_load_s": get(best, "load_s"), "parity_max_abs_logit_diff": parity, "memory_bandwidth_gb_s": bw,
        "llamacpp_prefill_tok_s": get("llamacpp", "prefill_tok_s"),
        "prefill_ratio_vs_llamacpp": ratio(get(best, "prefill_tok_s"), get("llamacpp", "prefill_tok_s")),
        "ours_warm_prefill_tok_s": get(best, "warm_prefill_tok_s"),
        "llamacpp_warm_prefill_tok_s": get("llamacpp", "warm_prefill_tok_s"),
        "warm_prefill_ratio_vs_llamacpp": ratio(get(best, "warm_prefill_tok_s"), get("llamacpp", "warm_prefill_tok_s")),
        "prefill_dtype": str(prefill_dtype).removeprefix("torch."), "prefill_gemm_gflops": gflops,
        "prefill_gemm_bound_tok_s": gflops * 1e9 / (2 * linear_params()),
        "q4k_file": q4k, "q4k_ours_decode_tok_s": get("ours-q4k", "decode_tok_s"),
        "q4k_llamacpp_decode_tok_s": get("llamacpp-q4k", "decode_tok_s"),
        "q4k_decode_ratio": ratio(get("ours-q4k", "decode_tok_s"), get("llamacpp-q4k", "decode_tok_s")),
        "q4k_ours_prefill_tok_s": get("ours-q4k", "prefill_tok_s"),
        "q4k_llamacpp_prefill_tok_s": get("llamacpp-q4k", "prefill_tok_s"),
        # issue 17's figure: ours (int8: every weight and the head as the file's blocks) against the fp32 twin, both
        # on fp32 KV caches, and its floor; the same on fp16 caches (LocalLM's) under fp16_cache names
        "q4k_parity_max_abs_logit_diff": get("parity-q4k", "int8_fp32_cache_max_abs_logit_diff"),
        "q4k_parity_decode_floor_max_abs_logit_diff": get("parity-q4k",
                                                          "twin_reordered_fp32_cache_decode_max_abs_logit_diff"),
        "q4k_parity_fp32_cache_max_abs_logit_diff": get("parity-q4k", "int8_fp32_cache_max_abs_logit_diff"),
        "q4k_parity_fp32_cache_floor_max_abs_logit_diff": get("parity-q4k",
                                                              "twin_reordered_fp32_cache_decode_max_abs_logit_diff"),
        "q4k_parity_fp16_cache_max_abs_logit_diff": get("parity-q4k", "int8_max_abs_logit_diff"),
        "q4k_bf16_prefill_max_abs_logit_diff": get("parity-q4k", "int8_bf16_prefill_max_abs_logit_diff"),
        "q4k_parity_fp16_cache_floor_max_abs_logit_diff": get("parity-q4k",
                                                              "twin_reordered_decode_max_abs_logit_diff"),
        "q4k_int4_top4_max_abs_logit_diff": get("parity-q4k", "int4_top4_max_abs_logit_diff"),
        "q4k_llamacpp_parity_max_abs_logit_diff": get("parity-q4k", "llamacpp_max_abs_logit_diff"),
        **{f"{p}{k}": get("spec", f"{p}{k}") for p in ("spec_", "constrained_spec_")
           for k in ("plain_tok_s", "effective_tok_s", "identical", "acceptance_rate", "tokens_per_step")},
        "engines": res,
    }
    if a.json:
        print(json.dumps(summary))
        sys.stdout = sys.stderr  # the table goes to stderr beside the JSON
    print(f"threads={a.threads} prompt={a.prompt_tokens} tokens, {a.new_tokens} new tokens greedy;"
          f" copy bandwidth {bw:.1f} GB/s")
    print(f"{'engine':22s}{'decode tok/s':>13s}{'prefill tok/s':>14s}{'TTFT s':>8s}"
          f"{'load s':>8s}{'cold s':>8s}{'peak MB':>9s}")
    for e, r in res.items():
        if "error" in r:
            print(f"{e:22s} unavailable: {r['error']}")
            continue
        f = lambda k, fmt, r=r: format(r[k], fmt) if r.get(k) is not None else "-".rjust(int(fmt.split(".")[0]))  # noqa: E731
        print(f"{e:22s}{f('decode_tok_s', '13.1f')}{f('prefill_tok_s', '14.1f')}{f('ttft_s', '8.3f')}"
              f"{f('load_s', '8.2f')}{f('cold_load_s', '8.2f')}{f('peak_rss_mb', '9.0f')}")
    for e, r in ours.items():
        bound = bw / 2 * 1e9 / r["weight_bytes_per_token"]  # copy bandwidth counts read+write; decode only reads
        print(f"  {e} ({r['decoder']}): {r['weight_bytes_per_token'] / 1e6:.0f} MB weights/token"
              f" -> bandwidth bound ~{bound:.0f} tok/s;"
              f" {r['aten_ops_per_step']} aten ops/step x {r['us_per_tiny_op']} us = {r['op_floor_ms']} ms op floor")
    if best:
        d = ours[best]["decode_tok_s"]
        for peer, design in DESIGN_PEERS.items():
            measured = get(peer, "decode_tok_s")
            base = measured or design
            src = "measured now" if measured else "DESIGN.md figure"
            goal = 0.8 if peer == "llamacpp" else 4.0
            design_ratio = f"; against DESIGN.md's {design:.0f}: {d / design:.2f}x" if measured else ""
            print(f"ours ({best}) / {peer}: {d:.1f} / {base:.1f} = {d / base:.2f}x "
                  f"({src}; goal >= {goal}x{design_ratio})")
    print(f"parity max |logit diff| ours fp32 vs HF over {PARITY_TOKENS} tokens: {parity}")
    print(f"prefill, first prompt after load: ours {summary['ours_prefill_tok_s']} tok/s, llama.cpp "
          f"{summary['llamacpp_prefill_tok_s']} (ratio {summary['prefill_ratio_vs_llamacpp']}); the same prompt again, "
          f"warm: ours {summary['ours_warm_prefill_tok_s']}, llama.cpp {summary['llamacpp_warm_prefill_tok_s']} "
          f"(ratio {summary['warm_prefill_ratio_vs_llamacpp']}); bound: {summary['prefill_dtype']} GEMM at "
          f"{gflops:.0f} GFLOP/s over "
          f"{linear_params() / 1e6:.0f}M Linear weights -> {summary['prefill_gemm_bound_tok_s']:.0f} tok/s "
          "before attention and weight dequantisation")
    print(f"Q4_K_M ({q4k or q4k_error}): ours {summary['q4k_ours_decode_tok_s']} tok/s, llama.cpp "
          f"{summary['q4k_llamacpp_decode_tok_s']} (ratio {summary['q4k_decode_ratio']}); parity against its fp32 "
          f"twin, all logits: int8 {summary['q4k_parity_fp32_cache_max_abs_logit_diff']} on fp32 KV caches (over the "
          f"decode steps the twin against itself at another thread count: "
          f"{summary['q4k_parity_fp32_cache_floor_max_abs_logit_diff']}), "
          f"{summary['q4k_parity_fp16_cache_max_abs_logit_diff']} on fp16 ones (floor "
          f"{summary['q4k_parity_fp16_cache_floor_max_abs_logit_diff']}); on fp16 caches int4 "
          f"{summary['q4k_int4_top4_max_abs_logit_diff']} (top 4; its tied head is requantised), llama.cpp "
          f"{summary['q4k_llamacpp_parity_max_abs_logit_diff']}")
    for label, p in (("grounded", "spec_"), ("constrained", "constrained_spec_")):
        print(f"speculative ({label} answers): plain {summary[p + 'plain_tok_s']} tok/s, speculative "
              f"{summary[p + 'effective_tok_s']}, identical {summary[p + 'identical']}, acceptance "
              f"{summary[p + 'acceptance_rate']}, tokens per step {summary[p + 'tokens_per_step']}")
    print(f"ms per verifying step by rows {get('spec', 'step_ms_by_rows')}")
    return 0


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def linear_params() -> int:
    """Weights of the bundled model's Linear layers and head: half the FLOPs a prefill token costs."""
    from rag.core.resources import default_gguf_path
    from rag.model.gguf import read_gguf

    with read_gguf(default_gguf_path()) as g:
        c = g.config
    q, kv = c["n_heads"] * c["head_dim"], c["n_kv_heads"] * c["head_dim"]
    block = c["dim"] * (q + 2 * kv) + q * c["dim"] + 3 * c["dim"] * c["hidden_dim"]
    return c["n_layers"] * block + c["vocab_size"] * c["dim"]


if __name__ == "__main__":
    raise SystemExit(main())
