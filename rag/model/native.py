"""Our C kernels (kernels/*.c: Q4_1 matmul, the native decode step), compiled once with the system C compiler
and called through ctypes.

The shared library is built on first use into <weight cache dir>/native/, named after a hash of the
source, flags and machine, and written atomically. Without a C compiler, on a CPU without AVX2/FMA/F16C, or
with RAG_NATIVE=0, `kernels()` is None and callers use torch's packed kernels instead.
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

from rag.model.weight_cache import cache_dir

log = logging.getLogger(__name__)

KERNELS_DIR = Path(__file__).with_name("kernels")
SOURCES = [KERNELS_DIR / "q4_1_cpu.c", KERNELS_DIR / "decode_cpu.c"]
HEADERS = [KERNELS_DIR / "q4_1.h"]
FLAGS = ["-O3", "-mavx2", "-mfma", "-mf16c", "-ffp-contract=off", "-fopenmp", "-shared", "-fPIC", "-lm"]


def _library_path(compiler: str) -> Path:
    """Where the build for this source, compiler, flags and machine lives."""
    texts = [p.read_text() for p in SOURCES + HEADERS]
    ident = "\0".join([*texts, compiler, *FLAGS, platform.machine(), torch.__version__])
    return cache_dir() / "native" / f"kernels-{hashlib.sha256(ident.encode()).hexdigest()[:16]}.so"


def _build(compiler: str, target: Path) -> None:
    """Compile SOURCES into target (written under a temporary name, then renamed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        subprocess.run([compiler, *FLAGS, *map(str, SOURCES), "-o", tmp], check=True, capture_output=True, text=True)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _check_weight(nibbles: Tensor, groups: Tensor) -> None:
    """ValueError unless the weight is in the kernels' layout: uint8 nibbles (N, K/2), fp16 groups (N, K/32, 2)."""
    n, half_k = nibbles.shape
    if nibbles.dtype != torch.uint8 or groups.dtype != torch.float16 or groups.shape != (n, half_k // 16, 2):
        raise ValueError(f"Q4_1 kernels take uint8 nibbles (N, K/2) and fp16 groups (N, K/32, 2), not "
                         f"{nibbles.dtype} {tuple(nibbles.shape)} / {groups.dtype} {tuple(groups.shape)}")
    if not (nibbles.is_contiguous() and groups.is_contiguous()):
        raise ValueError("Q4_1 kernels take contiguous weights")


class Q4Kernels:
    """Typed entry points of the compiled library."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        i64, ptr = ctypes.c_int64, ctypes.c_void_p
        self._matmul = lib.q4_1_matmul
        self._matmul.argtypes = [ptr, ptr, ptr, ptr, i64, i64, i64, ctypes.c_int]
        self._matmul.restype = ctypes.c_int
        self._dequantize = lib.q4_1_dequantize
        self._dequantize.argtypes = [ptr, ptr, ptr, i64, i64, ctypes.c_int]
        self._dequantize.restype = ctypes.c_int
        self.decode_step = lib.q4_decode_step  # argtypes set by rag.model.native_decode, which owns its structs

    def matmul_into(self, nibbles: Tensor, groups: Tensor, x: Tensor, y: Tensor) -> Tensor:
        """y (M, N) fp32 = x (M, K) fp32 @ W.T; all contiguous, unchecked (the decode hot path)."""
        m, k = x.shape
        if self._matmul(nibbles.data_ptr(), groups.data_ptr(), x.data_ptr(), y.data_ptr(), m, y.shape[1], k,
                        torch.get_num_threads()):
            raise ValueError(f"q4_1_matmul cannot take x {tuple(x.shape)} for weight {tuple(nibbles.shape)}")
        return y

    def matmul(self, nibbles: Tensor, groups: Tensor, x: Tensor) -> Tensor:
        """(M, K) activations -> (M, N) fp32."""
        if x.dim() != 2 or x.shape[1] != nibbles.shape[1] * 2:
            raise ValueError(f"q4_1_matmul: x {tuple(x.shape)} does not fit weight {tuple(nibbles.shape)}")
        _check_weight(nibbles, groups)
        x = x.float().contiguous()
        return self.matmul_into(nibbles, groups, x, torch.empty(x.shape[0], nibbles.shape[0]))

    def dequantize(self, nibbles: Tensor, groups: Tensor) -> Tensor:
        """The fp32 (N, K) weight q * d + m."""
        _check_weight(nibbles, groups)
        n, k = nibbles.shape[0], nibbles.shape[1] * 2
        w = torch.empty(n, k, dtype=torch.float32)
        if self._dequantize(nibbles.data_ptr(), groups.data_ptr(), w.data_ptr(), n, k, torch.get_num_threads()):
            raise ValueError(f"q4_1_dequantize cannot take weight {tuple(nibbles.shape)}")
        return w


@lru_cache(maxsize=1)
def kernels() -> Q4Kernels | None:
    """The compiled kernels, built on first use; None where they cannot run here (callers fall back)."""
    if os.environ.get("RAG_NATIVE", "1") == "0" or platform.machine() not in ("x86_64", "AMD64"):
        return None
    compiler = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not compiler:
        log.info("no C compiler found: using torch's int4 kernels")
        return None
    path = _library_path(compiler)
    try:
        if not path.is_file():
            _build(compiler, path)
        lib = ctypes.CDLL(str(path))
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        log.warning("cannot build the native Q4_1 kernels (%s): using torch's int4 kernels", detail)
        return None
    if not lib.q4_1_cpu_ok():
        log.info("this CPU lacks AVX2/FMA/F16C: using torch's int4 kernels")
        return None
    return Q4Kernels(lib)
