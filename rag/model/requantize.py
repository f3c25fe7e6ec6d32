"""A K-quant copy of a GGUF made by llama.cpp's own quantizer, cached beside the converted weights.

llama-cpp-python (the `peers` extra) exposes `llama_model_quantize`; requantising an already quantised file (the
bundled Q4_1) needs its allow_requantize flag. The copy is named like the weight caches (the source's identity
and the file type in the key), written under a temporary name and renamed, and made once per source file. Rows
whose length is not a multiple of 256 cannot be K-quants: llama.cpp stores those as Q5_0 (for Q4_K) or Q8_0
(for Q6_K), which our kernels read as well.
"""
from __future__ import annotations

import ctypes
import os
import tempfile
from pathlib import Path

from rag.model.weight_cache import cache_path

FTYPES = ("Q4_K_M", "Q4_K_S", "Q5_K_M", "Q5_K_S", "Q6_K", "Q8_0")  # llama_cpp.LLAMA_FTYPE_MOSTLY_<name>


def requantized(gguf_path: str | Path, ftype: str = "Q4_K_M", threads: int = 0) -> Path:
    """The GGUF requantised to ftype by llama.cpp (made on first use); ImportError without llama-cpp-python."""
    if ftype not in FTYPES:
        raise ValueError(f"ftype must be one of {', '.join(FTYPES)}, not {ftype!r}")
    target = cache_path(gguf_path, f"requantized-{ftype}", suffix=".gguf")
    if target.is_file():
        return target
    try:
        import llama_cpp
    except ImportError as exc:
        raise ImportError("requantising needs llama-cpp-python: pip install 'notes-rag[peers]'") from exc
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype}")
    params.allow_requantize = True
    params.nthread = threads
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        rc = llama_cpp.llama_model_quantize(str(gguf_path).encode(), tmp.encode(), ctypes.byref(params))
        if rc != 0:
            raise RuntimeError(f"llama.cpp could not quantise {gguf_path} to {ftype} (code {rc})")
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target
