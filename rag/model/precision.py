"""The dtype a prefill runs its GEMMs and attention in: bf16 where the CPU multiplies bf16 natively, fp32 elsewhere.

A prompt's rows (PREFILL_ROWS or more at once) are compute-bound: on a CPU with AMX tiles, oneDNN's bf16 GEMM runs
4-7x faster than the fp32 one and bf16 flash attention 2.7x (800-token prefill shapes of the bundled model, 2 threads,
measured on the dev machine). bf16 keeps 8 bits of mantissa per input and sums in fp32: the prompt's logits move by
about 1% of their range (llama.cpp quantises the activations of its prefill GEMMs to 8 bits). Decode steps, and
every fp32-weight model (the reference), stay fp32. RAG_PREFILL_DTYPE=fp32|bf16 forces one.
"""
from __future__ import annotations

import os

import torch

PREFILL_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def native_bf16_matmul() -> bool:
    """Whether this CPU has AMX tiles (oneDNN's bf16 GEMM outruns fp32 there)."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe and probe())


def packed_prefill_dtype() -> torch.dtype:
    """The prefill dtype of packed-weight models: RAG_PREFILL_DTYPE, else bf16 with AMX and fp32 without."""
    forced = os.environ.get("RAG_PREFILL_DTYPE")
    if forced:
        if forced not in PREFILL_DTYPES:
            raise ValueError(f"RAG_PREFILL_DTYPE={forced!r}; expected one of {', '.join(PREFILL_DTYPES)}")
        return PREFILL_DTYPES[forced]
    return torch.bfloat16 if native_bf16_matmul() else torch.float32
