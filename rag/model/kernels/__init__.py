"""Triton attention kernels (optional extra): prefill flash attention and split-K decode.

Importing this package does not import triton (slow, and TRITON_INTERPRET must be set before it):
HAS_TRITON only checks that it is installed; calling a kernel without it raises ImportError.
Set TRITON_INTERPRET=1 before the first triton import to run the kernels on CPU tensors.
"""
from __future__ import annotations

import importlib.util

HAS_TRITON = importlib.util.find_spec("triton") is not None


def triton_attention(q, k, v, **kwargs):
    """Triton attention: the split-K decode kernel for one query token, else the prefill kernel."""
    if not HAS_TRITON:
        raise ImportError("the Triton attention kernels need triton: pip install 'notes-rag[gpu]'")
    if q.shape[2] == 1:
        from rag.model.kernels.decode_attention import decode_attention as fn
    else:
        from rag.model.kernels.flash_attention import flash_attention as fn
    return fn(q, k, v, **kwargs)
