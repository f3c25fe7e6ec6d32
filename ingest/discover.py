"""Find note files under a folder: sorted, hidden files and folders skipped."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ingest.loaders import SUPPORTED_SUFFIXES

SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})


def _hidden(name: str) -> bool:
    """Dot-files and dot-folders (.git, .obsidian, .ipynb_checkpoints...)."""
    return name.startswith(".")


def iter_note_files(root: Path, include_unsupported: bool = False) -> Iterator[Path]:
    """Files under root in sorted order; only supported suffixes unless include_unsupported."""
    root = Path(root)
    if root.is_file():
        if include_unsupported or root.suffix.lower() in SUPPORTED_SUFFIXES:
            yield root
        return
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not _hidden(d) and d not in SKIPPED_DIRS]
        for name in filenames:
            path = Path(dirpath) / name
            if not _hidden(name) and (include_unsupported or path.suffix.lower() in SUPPORTED_SUFFIXES):
                found.append(path)
    yield from sorted(found)
