"""The index folder records which store holds the data: FAISS versions (CURRENT) or a STORE.json naming Qdrant,
its collection and the embedder fingerprints, so a command run with the other --store fails with a clear error."""
from __future__ import annotations

import json
import os
from pathlib import Path

from rag.core.errors import ConfigError
from rag.index.store import layout

MARKER_FILE = "STORE.json"


def held_by(index_dir: Path) -> str | None:
    """'qdrant' when STORE.json says so, 'faiss' when FAISS versions exist, else None (no index yet)."""
    marker = Path(index_dir) / MARKER_FILE
    if marker.is_file():
        try:
            return str(json.loads(marker.read_text(encoding="utf-8"))["store"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{marker} is unreadable ({exc}); remove it or re-run rag ingest --rebuild") from exc
    return "faiss" if layout.current_version(Path(index_dir)) is not None else None


def check_marker(settings) -> None:
    """ConfigError when the index folder's data is held by another store than settings.store."""
    held = held_by(settings.index_path)
    if held is not None and held != settings.store:
        raise ConfigError(f"the index at {settings.index_path} is held by the {held} store, not {settings.store}: "
                          f"use --store {held} (or RAG_STORE={held}), or another --index")


def write_marker(index_dir: Path, record: dict) -> None:
    """Write STORE.json atomically (the store's name, where it lives, the dense sets' fingerprints)."""
    index_dir = Path(index_dir)
    layout.make_private_dir(index_dir)
    tmp = index_dir / f"{MARKER_FILE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, layout.PRIVATE_FILE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, index_dir / MARKER_FILE)
