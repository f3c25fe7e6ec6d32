"""Our C kernels (kernels/*.c: matmul and dequantisation of packed int4 / int8 weights and of GGUF Q8_0, Q5_0, Q4_K,
Q5_K and Q6_K blocks, the native decode step), compiled once with the system C compiler and called through ctypes.

The shared library is built on first use into <weight cache dir>/native/, named after a hash of the
sources, flags and machine, and written atomically. Loading a library runs its code, so the folder is
made 0700 and a library is loaded only when it is a regular file owned by this user, writable by no one
else, and its sha256 equals the one recorded beside it when we built it; anything else is rebuilt.
Without a C compiler, on a CPU without AVX2/FMA/F16C, with a cache folder owned by someone else, or with
RAG_NATIVE=0, `kernels()` is None and callers use torch's packed kernels instead. Where the CPU has AVX-512 VNNI,
int4 / int8 weights run AVX-512 kernels on int16 activations and GGUF blocks AVX-512 kernels on the fp32 activations
themselves; the AVX2 kernels (int16 activations) run elsewhere or with RAG_NATIVE_AVX512=0.
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import stat
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor

from rag.model.weight_cache import cache_dir

log = logging.getLogger(__name__)

KERNELS_DIR = Path(__file__).with_name("kernels")
SOURCES = [KERNELS_DIR / "packed_cpu.c", KERNELS_DIR / "packed_avx512.c", KERNELS_DIR / "blocks_cpu.c",
           KERNELS_DIR / "blocks_avx512.c", KERNELS_DIR / "decode_cpu.c"]
HEADERS = [KERNELS_DIR / "packed.h"]
FLAGS = ["-O3", "-mavx2", "-mfma", "-mf16c", "-ffp-contract=off", "-fopenmp", "-shared", "-fPIC", "-lm"]
GROUP = 32
MAX_ACT_ROWS = 8  # activation rows the decode step takes at once (packed.h)
Q4, Q8 = 0, 1  # repacked weight kinds (KIND_* in packed.h)
BLOCK_KINDS = {"Q8_0": 2, "Q5_0": 3, "Q4_K": 4, "Q5_K": 5, "Q6_K": 6}  # GGUF block types the kernels read as they are
BLOCK_SHAPES = {"Q8_0": (32, 34), "Q5_0": (32, 22), "Q4_K": (256, 144), "Q5_K": (256, 176), "Q6_K": (256, 210)}
_BLOCK_SHAPE_OF_KIND = {kind: BLOCK_SHAPES[name] for name, kind in BLOCK_KINDS.items()}


def _library_path(compiler: str) -> Path:
    """Where the build for these sources, compiler, flags and machine lives."""
    texts = [p.read_text() for p in SOURCES + HEADERS]
    ident = "\0".join([*texts, compiler, *FLAGS, platform.machine(), torch.__version__])
    return cache_dir() / "native" / f"kernels-{hashlib.sha256(ident.encode()).hexdigest()[:16]}.so"


def _private_folder(folder: Path) -> None:
    """Create folder 0700, or make an existing one of ours 0700; PermissionError when another user owns it."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = folder.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise PermissionError(f"{folder} is not a folder owned by this user: not loading native code from it")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(folder, 0o700)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _digest_path(library: Path) -> Path:
    return library.with_name(library.name + ".sha256")


def _owned_private_file(path: Path) -> bool:
    """A regular file (not a link) owned by this user that neither group nor others can write."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def trusted(library: Path) -> bool:
    """Whether library is ours as we built it: owner, mode, and the sha256 recorded at build time."""
    record = _digest_path(library)
    if not (_owned_private_file(library) and _owned_private_file(record)):
        return False
    return record.read_text().strip() == _digest(library)


def _build(compiler: str, target: Path) -> None:
    """Compile SOURCES into target and record its sha256 beside it (each written under a temporary name, renamed)."""
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(fd)
    try:
        subprocess.run([compiler, *map(str, SOURCES), *FLAGS, "-o", tmp], check=True, capture_output=True, text=True)
        os.chmod(tmp, 0o700)
        digest = _digest(Path(tmp))
        fd, tmp_record = tempfile.mkstemp(suffix=".sha256", dir=target.parent)
        with os.fdopen(fd, "w") as f:
            f.write(digest + "\n")
        os.replace(tmp_record, _digest_path(target))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def check_weight(kind: int, codes: Tensor, groups: Tensor) -> None:
    """ValueError unless (codes, groups) is a weight in the kernels' layout (packed.h)."""
    if kind in _BLOCK_SHAPE_OF_KIND:
        values, nbytes = _BLOCK_SHAPE_OF_KIND[kind]
        if codes.dtype != torch.uint8 or codes.dim() != 2 or codes.shape[1] % nbytes:
            raise ValueError(f"block kind {kind} takes uint8 rows of whole {nbytes}-byte blocks, not {codes.dtype} "
                             f"{tuple(codes.shape)}")
        if not codes.is_contiguous():
            raise ValueError("packed kernels take contiguous weights")
        return
    if kind not in (Q4, Q8):
        raise ValueError(f"unknown packed weight kind {kind}")
    code_dtype, what = (torch.uint8, "uint8 nibbles (N, K/2)") if kind == Q4 else (torch.int8, "int8 codes (N, K)")
    n, k = codes.shape[0], in_features(kind, codes)
    if codes.dtype != code_dtype or groups.dtype != torch.float16 or tuple(groups.shape) != (n, k // GROUP, 2):
        raise ValueError(f"packed kernels take {what} and fp16 groups (N, K/32, 2), not {codes.dtype} "
                         f"{tuple(codes.shape)} / {groups.dtype} {tuple(groups.shape)}")
    if not (codes.is_contiguous() and groups.is_contiguous()):
        raise ValueError("packed kernels take contiguous weights")


def in_features(kind: int, codes: Tensor) -> int:
    """K of a packed weight."""
    if kind in _BLOCK_SHAPE_OF_KIND:
        values, nbytes = _BLOCK_SHAPE_OF_KIND[kind]
        return codes.shape[1] // nbytes * values
    return codes.shape[1] * 2 if kind == Q4 else codes.shape[1]


class PackedKernels:
    """Typed entry points of the compiled library."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        i64, ptr = ctypes.c_int64, ctypes.c_void_p
        self._matmul = lib.packed_matmul
        self._matmul.argtypes = [i64, ptr, ptr, ptr, ptr, i64, i64, i64, ctypes.c_int]
        self._matmul.restype = ctypes.c_int
        self._dequantize = lib.packed_dequantize
        self._dequantize.argtypes = [i64, ptr, ptr, ptr, i64, i64, ctypes.c_int, ctypes.c_int]
        self._dequantize.restype = ctypes.c_int
        self._quantize = lib.packed_quantize
        self._quantize.argtypes = [ptr, ptr, ptr, ptr, i64, i64]
        self._quantize.restype = ctypes.c_int
        self._exp = lib.packed_exp
        self._exp.argtypes = [ptr, ptr, i64]
        self._exp.restype = None
        self._set_avx512 = lib.packed_set_avx512
        self._set_avx512.argtypes = [ctypes.c_int]
        self._set_avx512.restype = ctypes.c_int
        self._avx512 = lib.packed_avx512
        self._avx512.restype = ctypes.c_int
        self.use_avx512(os.environ.get("RAG_NATIVE_AVX512", "1") != "0")
        self.decode = lib.packed_decode  # argtypes set by rag.model.native_decode, which owns its structs

    @property
    def avx512(self) -> bool:
        """Whether the AVX-512 kernels run (int4 / int8 weights and GGUF blocks; else the AVX2 ones)."""
        return bool(self._avx512())

    def use_avx512(self, on: bool) -> bool:
        """Run the AVX-512 kernels (where this CPU has them) or the AVX2 ones, for the whole library; whether the
        AVX-512 ones are on now."""
        return bool(self._set_avx512(int(on)))

    def matmul_into(self, kind: int, codes: Tensor, groups: Tensor, x: Tensor, y: Tensor) -> Tensor:
        """y (M, N) fp32 = x (M, K) fp32 @ W.T; all contiguous, unchecked (the decode hot path)."""
        m, k = x.shape
        if self._matmul(kind, codes.data_ptr(), groups.data_ptr(), x.data_ptr(), y.data_ptr(), m, y.shape[1], k,
                        torch.get_num_threads()):
            raise ValueError(f"packed_matmul cannot take x {tuple(x.shape)} for weight {tuple(codes.shape)}")
        return y

    def matmul(self, kind: int, codes: Tensor, groups: Tensor, x: Tensor) -> Tensor:
        """(M, K) activations -> (M, N) fp32."""
        check_weight(kind, codes, groups)
        if x.dim() != 2 or x.shape[1] != in_features(kind, codes):
            raise ValueError(f"packed_matmul: x {tuple(x.shape)} does not fit weight {tuple(codes.shape)}")
        x = x.float().contiguous()
        return self.matmul_into(kind, codes, groups, x, torch.empty(x.shape[0], codes.shape[0]))

    def dequantize(self, kind: int, codes: Tensor, groups: Tensor, out: Tensor | None = None) -> Tensor:
        """The fp32 (N, K) weight, written into `out` when given: contiguous, of that shape, fp32 or bf16 (each fp32
        value rounded to nearest even, as Tensor.to(torch.bfloat16) rounds it)."""
        check_weight(kind, codes, groups)
        n, k = codes.shape[0], in_features(kind, codes)
        w = torch.empty(n, k, dtype=torch.float32) if out is None else out
        if w.shape != (n, k) or w.dtype not in (torch.float32, torch.bfloat16) or not w.is_contiguous():
            raise ValueError(f"packed_dequantize: out {tuple(w.shape)} {w.dtype} does not fit weight ({n}, {k})")
        if self._dequantize(kind, codes.data_ptr(), groups.data_ptr(), w.data_ptr(), n, k,
                            int(w.dtype == torch.bfloat16), torch.get_num_threads()):
            raise ValueError(f"packed_dequantize cannot take weight {tuple(codes.shape)}")
        return w

    def quantize(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The kernels' int16 activations of x (M, K): codes (M, K), scales and exact sums (M, K/32), for tests."""
        x = x.float().contiguous()
        m, k = x.shape
        xq, scale, xsum = torch.empty(m, k, dtype=torch.int16), torch.empty(m, k // GROUP), torch.empty(m, k // GROUP)
        if self._quantize(x.data_ptr(), xq.data_ptr(), scale.data_ptr(), xsum.data_ptr(), m, k):
            raise ValueError(f"packed_quantize takes rows of whole groups of {GROUP}, not {tuple(x.shape)}")
        return xq, scale, xsum

    def exp(self, x: Tensor) -> Tensor:
        """e^x through the decode step's vectorised exp (softmax and SiLU), for tests against torch.exp."""
        x = x.float().contiguous()
        y = torch.empty_like(x)
        self._exp(x.data_ptr(), y.data_ptr(), x.numel())
        return y


def c_compiler() -> str | None:
    """$CC, else gcc or cc on the PATH."""
    return os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")


@lru_cache(maxsize=1)
def kernels() -> PackedKernels | None:
    """The compiled kernels, built on first use; None where they cannot run here (callers fall back)."""
    if os.environ.get("RAG_NATIVE", "1") == "0" or platform.machine() not in ("x86_64", "AMD64"):
        return None
    compiler = c_compiler()
    if not compiler:
        log.info("no C compiler found: using torch's packed kernels")
        return None
    path = _library_path(compiler)
    try:
        _private_folder(path.parent)
        if not trusted(path):
            if path.exists() or path.is_symlink():
                log.warning("%s is not the library we built (owner, mode or sha256 differ): rebuilding it", path)
                path.unlink()
            _build(compiler, path)
        lib = ctypes.CDLL(str(path))
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        log.warning("cannot build the native packed kernels (%s): using torch's packed kernels", detail)
        return None
    if not lib.packed_cpu_ok():
        log.info("this CPU lacks AVX2/FMA/F16C: using torch's packed kernels")
        return None
    return PackedKernels(lib)
