"""Jupyter notebooks: markdown cells as text, code cells as fenced blocks, outputs dropped.

The JSON is untrusted: fields of the wrong type are skipped (metadata) or named in the error (cell source),
and nesting deeper than the JSON parser allows is a LoaderError, not a RecursionError.
"""
from __future__ import annotations

import json
from pathlib import Path

from rag.core.errors import LoaderError


def _source(path: Path, index: int, cell: dict) -> str:
    """A cell's source, stored either as one string or as a list of strings."""
    src = cell.get("source", "")
    if isinstance(src, str):
        return src
    if isinstance(src, list) and all(isinstance(line, str) for line in src):
        return "".join(src)
    found = (f"a list holding {type(next(x for x in src if not isinstance(x, str))).__name__}"
             if isinstance(src, list) else type(src).__name__)
    raise LoaderError(path, f"cell {index}: 'source' must be a string or a list of strings (found {found})")


def _table(value) -> dict:
    """A JSON object, or an empty one for any other type."""
    return value if isinstance(value, dict) else {}


def _language(nb: dict) -> str:
    """The notebook's language for code fences (python when absent or malformed)."""
    meta = _table(nb.get("metadata"))
    name = _table(meta.get("language_info")).get("name") or _table(meta.get("kernelspec")).get("language")
    return name if isinstance(name, str) and name.isprintable() and "`" not in name else "python"


def notebook_text(path: Path, raw: str) -> str:
    """Markdown and code cells in order, joined by blank lines; code in ``` fences."""
    try:
        nb = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LoaderError(path, f"invalid notebook JSON (line {exc.lineno}: {exc.msg})") from exc
    except RecursionError as exc:
        raise LoaderError(path, "invalid notebook JSON (nested too deeply)") from exc
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise LoaderError(path, "not a Jupyter notebook (no 'cells' list; nbformat 4 expected)")
    lang = _language(nb)
    parts = []
    for index, cell in enumerate(nb["cells"]):
        if not isinstance(cell, dict):
            continue
        src = _source(path, index, cell).strip("\n")
        if not src.strip():
            continue
        if cell.get("cell_type") == "code":
            parts.append(f"```{lang}\n{src}\n```")
        elif cell.get("cell_type") in ("markdown", "raw"):
            parts.append(src)
    return "\n\n".join(parts) + "\n" if parts else ""
