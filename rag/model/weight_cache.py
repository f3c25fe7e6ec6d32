"""Cache converted weights as safetensors so a second start neither parses nor dequantises again.

The file lives in RAG_CACHE_DIR (default ~/.cache/notes-rag/), named after the GGUF, the variant and a
key: sha256 of the GGUF's absolute path, size, mtime and CONVERSION_VERSION; writing a new one removes
the same GGUF's stale caches of that variant. Loading memory-maps it
(safetensors.torch.load_file is lazy and zero-copy); writing goes to a temp file then os.replace, so
a crash never leaves a half-written cache behind. A cache that cannot be written is skipped, not fatal.
"""
from __future__ import annotations

import glob
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch

CONVERSION_VERSION = 7  # 7: GGUF block types kept as stored (BlockLinear, ConcatLinear)
log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """Where converted weights are kept: $RAG_CACHE_DIR, else ~/.cache/notes-rag."""
    env = os.environ.get("RAG_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "notes-rag"


def cache_key(gguf_path: str | Path, variant: str) -> str:
    """sha256 over the GGUF's identity (absolute path, size, mtime), the conversion version and the variant."""
    path = Path(gguf_path).resolve()
    st = path.stat()
    ident = f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{CONVERSION_VERSION}\0{variant}"
    return hashlib.sha256(ident.encode()).hexdigest()


def cache_path(gguf_path: str | Path, variant: str, suffix: str = ".safetensors") -> Path:
    """The cache file for this GGUF and variant."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", variant)
    return cache_dir() / f"{Path(gguf_path).stem}.{safe}.{cache_key(gguf_path, variant)[:20]}{suffix}"


def _load(path: Path, variant: str) -> dict[str, torch.Tensor] | None:
    """The cached tensors, or None when the file is absent, unreadable or for another variant."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if meta.get("variant") != variant or meta.get("version") != str(CONVERSION_VERSION):
            return None
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own SafetensorError for corrupt files
        log.warning("ignoring unreadable weight cache %s: %s", path, exc)
        return None


def _unshared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous tensors, none sharing storage (safetensors refuses shared or strided ones)."""
    seen: set[int] = set()
    out = {}
    for name, t in tensors.items():
        t = t.detach().contiguous()
        ptr = t.untyped_storage().data_ptr()
        if ptr in seen:
            t = t.clone()
        seen.add(t.untyped_storage().data_ptr())
        out[name] = t
    return out


def save_atomic(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Write tensors to path through a temp file in the same folder and os.replace."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(_unshared(tensors), tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prune_stale(path: Path, gguf: str) -> None:
    """Remove this GGUF's older caches of the same variant (written before the GGUF changed)."""
    from safetensors import safe_open

    stem = path.name.rsplit(".", 2)[0]  # "<gguf stem>.<variant>"
    for old in path.parent.glob(f"{glob.escape(stem)}.*.safetensors"):
        if old == path or old.name.rsplit(".", 2)[0] != stem:
            continue
        try:
            with safe_open(str(old), framework="pt") as f:
                same = (f.metadata() or {}).get("gguf") == gguf
            if same:
                old.unlink()
        except Exception as exc:  # unreadable or vanished: leave it to the user
            log.debug("not pruning %s: %s", old, exc)


def load_or_convert(
    gguf_path: str | Path, convert_fn: Callable[[], dict[str, torch.Tensor]], variant: str
) -> dict[str, torch.Tensor]:
    """Cached tensors for (GGUF, variant) if present, else convert_fn()'s, written to the cache for next time."""
    path = cache_path(gguf_path, variant)
    cached = _load(path, variant)
    if cached is not None:
        return cached
    tensors = convert_fn()
    meta = {"variant": variant, "version": str(CONVERSION_VERSION), "gguf": str(Path(gguf_path).resolve())}
    try:
        save_atomic(tensors, path, meta)
        _prune_stale(path, meta["gguf"])
    except OSError as exc:
        log.warning("cannot write the weight cache %s: %s", path, exc)
    return tensors
