"""Our C packed kernels (Q4_1, Q8_0) agree with the plain fp32 reference; without them the layers fall back to torch."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from rag.model import native
from rag.model.quantize import Int4Linear, Int8Linear
from tests.rag.model.test_quantize import _close_at_bf16, _random_q4_1, gguf_weight

KERNELS = native.kernels()
needs_kernels = pytest.mark.skipif(KERNELS is None, reason="no C compiler or no AVX2/FMA/F16C here")


def _relative_error(got: torch.Tensor, x: torch.Tensor, w: torch.Tensor) -> float:
    """Largest error against x @ w.T, relative to the magnitude of the products summed (|x| @ |w|.T)."""
    return float(((got - x @ w.T).abs() / (x.abs() @ w.abs().T)).max())


@needs_kernels
@pytest.mark.parametrize("m,n,k", [(1, 1, 32), (1, 5, 96), (1, 37, 576), (3, 16, 64), (17, 9, 1536), (2, 960, 576)])
def test_matmul_matches_fp32_reference(m, n, k):
    raw = _random_q4_1(n, k, seed=n + k)
    layer = Int4Linear.from_q4_1(raw, k)
    x = torch.randn(m, k, generator=torch.Generator().manual_seed(m)) * 3
    got = KERNELS.matmul(layer.kind, layer.codes, layer.groups, x)
    assert got.shape == (m, n) and got.dtype == torch.float32
    # int16 activations: ~100x tighter than torch's bf16 kernel
    assert _relative_error(got, x, gguf_weight(raw, "Q4_1", k)) < 1e-4


def _paths_give(layer, x: torch.Tensor) -> dict[bool, torch.Tensor]:
    """layer's matmul of x on the AVX-512 path (True) and on the AVX2 one (False); the library's choice restored."""
    before = KERNELS.avx512
    try:
        return {on: KERNELS.matmul(layer.kind, layer.codes, layer.groups, x) for on in (True, False)
                if KERNELS.use_avx512(on) == on}
    finally:
        KERNELS.use_avx512(before)


@needs_kernels
@pytest.mark.parametrize("cls", [Int4Linear, Int8Linear])
@pytest.mark.parametrize("k", [32, 64, 96, 160, 576, 1536, 2080])  # 1 to 3 groups past the AVX-512 blocks of four
def test_avx512_and_avx2_paths_agree_for_every_row_count(cls, k):
    layer = cls.from_float(torch.randn(37, k, generator=torch.Generator().manual_seed(k)))
    w = layer.dequantize()
    for m in range(1, native.MAX_ACT_ROWS + 1):
        x = torch.randn(m, k, generator=torch.Generator().manual_seed(m)) * 3
        got = _paths_give(layer, x)
        if True not in got:
            pytest.skip("this CPU lacks AVX-512 VNNI")
        assert _relative_error(got[True], x, w) < 1e-4 and _relative_error(got[False], x, w) < 1e-4
        # the same exact integer dot products, scaled and summed in another order: ~1e-7 apart
        assert float(((got[True] - got[False]).abs() / (x.abs() @ w.abs().T)).max()) < 1e-6, m


@needs_kernels
@pytest.mark.parametrize("cls", [Int4Linear, Int8Linear])
def test_a_batch_of_rows_gives_the_bits_of_one_row_at_a_time(cls, kernel_path):
    layer = cls.from_float(torch.randn(45, 608, generator=torch.Generator().manual_seed(1)))
    x = torch.randn(19, 608, generator=torch.Generator().manual_seed(2))  # three passes over W: 8, 8 and 3 rows
    rows = torch.cat([KERNELS.matmul(layer.kind, layer.codes, layer.groups, x[i:i + 1]) for i in range(19)])
    for m in range(1, 20):  # every row count a pass can have, and its tile shape (weight rows by activation rows)
        assert torch.equal(KERNELS.matmul(layer.kind, layer.codes, layer.groups, x[:m]), rows[:m]), m


def test_avx512_off_by_environment(monkeypatch):
    monkeypatch.setenv("RAG_NATIVE_AVX512", "0")
    native.kernels.cache_clear()
    try:
        kernels = native.kernels()
        assert kernels is None or kernels.avx512 is False
    finally:
        monkeypatch.undo()
        native.kernels.cache_clear()
        native.kernels()  # the library's own choice again, for the tests after this one


@needs_kernels
def test_matmul_handles_zero_and_outlier_groups():
    layer = Int4Linear.from_q4_1(_random_q4_1(8, 96, seed=3), 96)
    x = torch.zeros(1, 96)
    x[0, 40] = 1e4  # one huge activation, a group of zeros, a group of tiny values
    x[0, 64:] = 1e-6
    assert _relative_error(KERNELS.matmul(layer.kind, layer.codes, layer.groups, x), x, layer.dequantize()) < 1e-4


@needs_kernels
def test_dequantize_is_bit_identical_to_the_gguf_reader():
    raw = _random_q4_1(33, 608, seed=4)
    layer = Int4Linear.from_q4_1(raw, 608)
    assert torch.equal(KERNELS.dequantize(layer.kind, layer.codes, layer.groups), gguf_weight(raw, "Q4_1", 608))


@needs_kernels
def test_matmul_rejects_a_mismatched_activation():
    layer = Int4Linear.from_q4_1(_random_q4_1(4, 64), 64)
    with pytest.raises(ValueError, match="does not fit"):
        KERNELS.matmul(layer.kind, layer.codes, layer.groups, torch.randn(1, 96))


@needs_kernels
def test_int4_layer_uses_the_kernels_for_few_rows():
    layer = Int4Linear.from_q4_1(_random_q4_1(48, 128, seed=5), 128)
    assert layer.kernels is not None and layer.act_dtype == torch.float32
    x = torch.randn(3, 128)
    assert _relative_error(layer(x), x, layer.dequantize()) < 1e-4


def test_int4_layer_falls_back_to_torch_int4_without_the_kernels():
    raw = _random_q4_1(48, 128, seed=6)
    layer = Int4Linear.from_q4_1(raw, 128)
    layer.kernels = None
    assert layer.act_dtype == torch.bfloat16
    assert torch.equal(layer.dequantize(), gguf_weight(raw, "Q4_1", 128))  # the torch unpacking is exact too
    x = torch.randn(2, 128)
    _close_at_bf16(layer(x), layer.reference(x))


def test_native_off_by_environment(monkeypatch):
    monkeypatch.setenv("RAG_NATIVE", "0")
    native.kernels.cache_clear()
    try:
        assert native.kernels() is None
    finally:
        native.kernels.cache_clear()


def test_a_failing_compiler_is_a_warning_not_an_error(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "false")  # exits 1 without output
    native.kernels.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="rag.model.native"):
            assert native.kernels() is None
        assert "cannot build the native packed kernels" in caplog.text
        assert not list((tmp_path / "native").glob("*.so"))  # nothing half-written left behind
    finally:
        native.kernels.cache_clear()


@needs_kernels
def test_build_is_cached_by_source_hash(monkeypatch, tmp_path):
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path))
    native.kernels.cache_clear()
    try:
        assert native.kernels() is not None
        built = list((tmp_path / "native").glob("kernels-*.so"))
        assert len(built) == 1
        stamp = built[0].stat().st_mtime_ns
        native.kernels.cache_clear()
        assert native.kernels() is not None and built[0].stat().st_mtime_ns == stamp  # reused, not rebuilt
    finally:
        native.kernels.cache_clear()


@needs_kernels
def test_kernels_reject_weights_in_another_layout():
    layer = Int4Linear.from_q4_1(_random_q4_1(4, 64), 64)
    with pytest.raises(ValueError, match="fp16 groups"):
        KERNELS.matmul(layer.kind, layer.codes, layer.groups.float(), torch.randn(1, 64))


def test_int8_holds_q4_1_blocks_exactly():
    raw = _random_q4_1(40, 96, seed=9)
    layer, w = Int8Linear.from_q4_1(raw, 96), gguf_weight(raw, "Q4_1", 96)
    assert torch.equal(layer.dequantize(), w)
    x = torch.randn(3, 96, generator=torch.Generator().manual_seed(10))
    assert _relative_error(layer(x), x, w) < (1e-4 if layer.kernels is not None else 0.02)


@needs_kernels
def test_activation_quantisation_matches_the_plain_reference():
    x = torch.randn(5, 160, generator=torch.Generator().manual_seed(0)) * torch.logspace(-4, 4, 160)
    x[0, :32] = 0.0  # a group of zeros
    x[1, 40] = -1e4  # a negative outlier sets the scale
    xq, scale, xsum = KERNELS.quantize(x)
    groups = x.view(5, 5, 32).numpy()
    amax = np.abs(groups).max(-1)
    inv = np.where(amax > 0, np.float32(32767) / np.where(amax > 0, amax, 1), np.float32(0)).astype(np.float32)
    want_q = np.rint(groups * inv[..., None]).astype(np.int16)  # x * inv in fp32, rounded half to even (lrintf)
    want_sum = np.zeros((5, 5), dtype=np.float32)
    for j in range(32):  # summed in order, one element at a time
        want_sum += groups[..., j]
    assert np.array_equal(xq.view(5, 5, 32).numpy(), want_q)
    assert np.array_equal(scale.numpy(), amax / np.float32(32767)) and np.array_equal(xsum.numpy(), want_sum)
    with pytest.raises(ValueError, match="whole groups"):
        KERNELS.quantize(torch.randn(1, 48))


@needs_kernels
@pytest.mark.parametrize("n", [1, 7, 8, 61])
def test_vectorised_exp_matches_torch_exp(n):
    x = torch.cat([torch.linspace(-120.0, 90.0, 4096), torch.randn(n) * 30, torch.tensor([0.0, -1e-30, 88.0])])
    got, want = KERNELS.exp(x), torch.exp(x.double())
    in_range = x <= 88.3  # above, the kernel saturates at e^88.3 (2.2e38) where expf heads for inf
    assert torch.all(((got.double() - want).abs() <= 4e-7 * want + 1e-37)[in_range])  # underflow: 0 within 1e-37
    assert torch.all(got[~in_range] > 2.2e38) and torch.all(got >= 0)


@needs_kernels
def test_prefill_gemm_reuses_one_buffer_per_shape_and_stays_exact():
    raw = _random_q4_1(48, 64, seed=3)
    a, b = Int4Linear.from_q4_1(raw, 64), Int4Linear.from_q4_1(_random_q4_1(48, 64, seed=4), 64)
    x = torch.randn(20, 64, generator=torch.Generator().manual_seed(0))  # 20 rows: the GEMM path
    ya, yb = a(x), b(x)
    assert a._prefill_weight().data_ptr() == b._prefill_weight().data_ptr()  # one buffer, rewritten per layer
    assert torch.allclose(ya, a.reference(x), atol=1e-5) and torch.allclose(yb, b.reference(x), atol=1e-5)
    with pytest.raises(ValueError, match="does not fit"):
        KERNELS.dequantize(native.Q4, a.codes, a.groups, out=torch.empty(48, 32))


IMPOSTOR_C = """
#include <stdio.h>
__attribute__((constructor)) static void mark(void) { FILE *f = fopen(MARKER, "w"); if (f) fclose(f); }
int packed_cpu_ok(void) { return 1; }
"""


@pytest.fixture
def library(monkeypatch, tmp_path):
    """This process's trusted build copied into a fresh cache folder (no compile), RAG_CACHE_DIR pointing there."""
    built = native._library_path(native.c_compiler())
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path))
    copy = native._library_path(native.c_compiler())
    copy.parent.mkdir(mode=0o700)
    for src, dst in ((built, copy), (native._digest_path(built), native._digest_path(copy))):
        dst.write_bytes(src.read_bytes())
        dst.chmod(0o700)
    native.kernels.cache_clear()
    yield copy
    native.kernels.cache_clear()


@needs_kernels
def test_a_replaced_library_is_rebuilt_not_loaded(library, tmp_path):
    """Someone who writes the cache path gets their code rebuilt over, never run in our process."""
    assert native.trusted(library) and native.kernels() is not None
    good = library.read_bytes()
    marker = tmp_path / "impostor-ran"
    source = tmp_path / "impostor.c"
    source.write_text(IMPOSTOR_C.replace("MARKER", f'"{marker}"'))
    native.subprocess.run([native.c_compiler(), "-shared", "-fPIC", str(source), "-o", str(library)], check=True)
    assert not native.trusted(library)  # same owner and mode, another sha256
    native.kernels.cache_clear()
    assert native.kernels() is not None
    assert not marker.exists() and library.read_bytes() == good and native.trusted(library)


@needs_kernels
def test_a_writable_library_or_a_loose_folder_is_not_trusted(library, tmp_path):
    library.chmod(0o766)  # world-writable: anyone could have changed it after the digest was taken
    assert not native.trusted(library)
    library.chmod(0o700)
    (tmp_path / "native").chmod(0o777)
    assert native.kernels() is not None and native.trusted(library)
    assert (tmp_path / "native").stat().st_mode & 0o777 == 0o700  # made private again before loading
    native._digest_path(library).unlink()  # no record of what we built: not ours
    assert not native.trusted(library)


def test_a_cache_folder_owned_by_someone_else_is_refused(monkeypatch, tmp_path):
    real_uid = native.os.getuid()
    monkeypatch.setattr(native.os, "getuid", lambda: real_uid + 1)
    with pytest.raises(PermissionError, match="not a folder owned by this user"):
        native._private_folder(tmp_path)
