"""The bundled LocalLM, loaded once per process on a daemon thread, so callers can start the load early.

`ask` starts it before importing LangChain and opening the index: on 2 cores the model's tensor work
overlaps that. This module imports nothing heavy; torch comes with rag.model on the loading thread.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future
from pathlib import Path

from rag.core.errors import ConfigError
from rag.core.settings import Settings

_LOADS: dict[tuple[str, str, int], Future] = {}
_LOCK = threading.Lock()


def gguf_path(settings: Settings) -> str:
    """The local backend's GGUF file (ConfigError, or ModelNotInstalledError for the default, when missing)."""
    from rag.core.resources import default_gguf_path

    path = settings.llm.gguf_path or str(default_gguf_path())
    if not Path(path).is_file():
        raise ConfigError(f"GGUF file not found: {path}")
    return path


def _load(key: tuple[str, str, int], future: Future) -> None:
    """Thread body: the LocalLM, or the exception, into `future`; a failed load is forgotten so it can be retried."""
    path, weights, threads = key
    try:
        from rag.model.generate import LocalLM

        future.set_result(LocalLM.load(Path(path), weights=weights, threads=threads))
    except BaseException as exc:  # any failure must reach the waiting thread, never leave it blocked
        with _LOCK:
            _LOADS.pop(key, None)
        future.set_exception(exc)


def start(settings: Settings) -> Future:
    """Start loading the local model of `settings` (once per process); the path is checked before returning."""
    key = (gguf_path(settings), settings.llm.weights, settings.llm.threads)
    with _LOCK:
        future = _LOADS.get(key)
        if future is None:
            future = _LOADS[key] = Future()
            threading.Thread(target=_load, args=(key, future), name="local-lm-load", daemon=True).start()
    return future


def load(settings: Settings):
    """The LocalLM of `settings`, waiting for a load already under way (its errors are raised here)."""
    return start(settings).result()
