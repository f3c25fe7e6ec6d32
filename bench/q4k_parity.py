"""The Q4_K_M file llama.cpp makes from the bundled model, and the parity of our packed models on it against an fp32
model of its dequantised weights (with llama.cpp's logits on the same tokens beside them): the `parity-q4k` engine of
bench/decode.py, run there in a process of its own, with its q4k_parity_* keys in the summary.
"""
from __future__ import annotations

import numpy as np


def run_q4k_parity(ids: list[int], gguf: str) -> dict:
    """Max |logit diff| of our packed models on the Q4_K_M file against an fp32 model of its dequantised weights,
    both sides on fp32 KV caches and again both on fp16 ones (LocalLM's default): a 64-token prefill (fp32 GEMMs on
    the exact weights; what the bf16 prefill of AMX CPUs moves has its own key), then 64 one-token steps fed the
    prompt's own next tokens (the native decode step: fp32 activations on AVX-512, int16 groups on AVX2); what the
    fp16 cache alone moves; and for each cache type the floor over the decode steps: the twin against itself at
    another thread count (another summation order, whose ~1e-7 differences fp16 roundings of K and V can amplify).
    Keys without a cache in their name are fp16 ones."""
    import torch

    from rag.model.generate import LocalLM
    from rag.model.loader import load_transformer

    def logits(model, step) -> torch.Tensor:
        model.setup_caches(1, 256)
        with torch.inference_mode():
            first = model(torch.tensor([ids[:64]]), 0)[0]
            return torch.cat([first, torch.stack([step(t, i) for i, t in enumerate(ids[64:128], start=64)])])

    def reordered(model, step) -> torch.Tensor:
        """logits at another thread count."""
        threads = torch.get_num_threads()
        torch.set_num_threads(2 if threads == 1 else 1)
        try:
            return logits(model, step)
        finally:
            torch.set_num_threads(threads)

    fp32 = load_transformer(gguf, "fp32")
    twin_step = lambda t, i: fp32(torch.tensor([[t]]), i)[0, -1]  # noqa: E731
    caches = {"fp32_cache_": torch.float32, "": torch.float16}  # key prefix: the KV cache dtype of both sides
    refs, res = {}, {}
    for cache, dtype in caches.items():
        fp32.kv_dtype = dtype
        refs[cache] = logits(fp32, twin_step)
        res[f"twin_reordered_{cache}decode_max_abs_logit_diff"] = float(
            (reordered(fp32, twin_step) - refs[cache])[64:].abs().max())
    res["fp16_kv_cache_max_abs_logit_diff"] = float((refs[""] - refs["fp32_cache_"]).abs().max())  # fp32 weights
    for weights in ("int8", "int4"):
        lm = LocalLM.load(gguf, weights=weights, max_context=256)
        lm.model.set_prefill_dtype(torch.bfloat16)
        lm.model.kv_dtype = torch.float16
        bf16 = logits(lm.model, lm._step)
        res[f"{weights}_bf16_prefill_max_abs_logit_diff"] = float((bf16 - refs[""])[:64].abs().max())
        lm.model.set_prefill_dtype(torch.float32)  # the file's exact weights in exact GEMMs: the kernels' parity
        for cache, dtype in caches.items():
            lm.model.kv_dtype = dtype  # the native step follows the caches setup_caches makes
            got, ref = logits(lm.model, lm._step), refs[cache]
            diff = (got - ref).abs()
            top = got.topk(4, dim=-1).indices  # a requantised tied head is exact at its best logits (RescoredHead)
            res[f"{weights}_{cache}max_abs_logit_diff"] = float(diff.max())
            res[f"{weights}_{cache}prefill_max_abs_logit_diff"] = float(diff[:64].max())
            res[f"{weights}_{cache}decode_max_abs_logit_diff"] = float(diff[64:].max())
            res[f"{weights}_{cache}top4_max_abs_logit_diff"] = float(diff.gather(1, top).max())
            res[f"{weights}_{cache}argmax_agreement"] = float((got.argmax(-1) == ref.argmax(-1)).float().mean())
    ref = refs[""]
    peer = llamacpp_logits(ids, gguf)
    if peer is not None:   # the peer on the same file and tokens, against the same twin (its cache is fp16 too)
        res["llamacpp_max_abs_logit_diff"] = float((peer - ref).abs().max())
        res["llamacpp_decode_max_abs_logit_diff"] = float((peer - ref)[64:].abs().max())
        res["llamacpp_argmax_agreement"] = float((peer.argmax(-1) == ref.argmax(-1)).float().mean())
    res["logit_scale"] = float(ref.abs().max())
    return res


def llamacpp_logits(ids: list[int], gguf: str):
    """llama.cpp's logits (128, vocab) for the tokens run_q4k_parity feeds: a 64-token prefill, then 64 one-token
    steps; None without llama-cpp-python."""
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    import torch

    llm = Llama(gguf, n_ctx=256, n_batch=64, n_threads=2, logits_all=True, verbose=False)
    llm.eval(ids[:64])
    for t in ids[64:128]:
        llm.eval([t])
    return torch.from_numpy(np.array(llm.scores[:128], dtype=np.float32))


def q4k_file() -> tuple[str | None, str | None]:
    """The bundled model requantised to Q4_K_M by llama.cpp (cached), or None and why not."""
    from rag.core.resources import default_gguf_path
    from rag.model.requantize import requantized

    try:
        return str(requantized(default_gguf_path(), "Q4_K_M")), None
    except ImportError as exc:
        return None, str(exc)
