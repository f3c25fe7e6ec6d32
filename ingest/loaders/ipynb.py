"""Jupyter notebooks: markdown cells as text, code cells as fenced blocks, outputs dropped."""
from __future__ import annotations

import json
from pathlib import Path

from rag.core.errors import LoaderError


def _source(cell: dict) -> str:
    """A cell's source, stored either as one string or as a list of lines."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def notebook_text(path: Path, raw: str) -> str:
    """Markdown and code cells in order, joined by blank lines; code in ``` fences."""
    try:
        nb = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LoaderError(path, f"invalid notebook JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise LoaderError(path, "not a Jupyter notebook (no 'cells' list; nbformat 4 expected)")
    meta = nb.get("metadata") or {}
    lang = ((meta.get("language_info") or {}).get("name")
            or (meta.get("kernelspec") or {}).get("language") or "python")
    parts = []
    for cell in nb["cells"]:
        if not isinstance(cell, dict):
            continue
        src = _source(cell).strip("\n")
        if not src.strip():
            continue
        if cell.get("cell_type") == "code":
            parts.append(f"```{lang}\n{src}\n```")
        elif cell.get("cell_type") in ("markdown", "raw"):
            parts.append(src)
    return "\n\n".join(parts) + "\n" if parts else ""
