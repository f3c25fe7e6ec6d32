"""Load one note file into text: dispatch on the file suffix to a small loader per format."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rag.core.errors import LoaderError, UnsupportedFileError
from rag.core.settings import IngestSettings


@dataclass
class LoadedNote:
    """A note's document text; chunk offsets and citation quotes index `text`."""

    path: Path
    text: str
    kind: str                                   # markdown | text | pdf | html | ipynb
    pages: list[tuple[int, int]] = field(default_factory=list)  # (char offset where a page starts, page number)


_KINDS = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".pdf": "pdf",
          ".html": "html", ".htm": "html", ".ipynb": "ipynb"}
SUPPORTED_SUFFIXES = frozenset(_KINDS)


def load_note(path: Path, limits: IngestSettings | None = None) -> LoadedNote:
    """Read a note within `limits` (size, PDF pages and time); raises LoaderError / UnsupportedFileError naming it."""
    from ingest.discover import NotRegularFileError, read_regular

    path = Path(path)
    limits = limits or IngestSettings()
    kind = _KINDS.get(path.suffix.lower())
    if kind is None:
        raise UnsupportedFileError(path, f"unsupported file type {path.suffix or '(no suffix)'!r}; "
                                         f"supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}")
    try:
        data = read_regular(path, limits.max_file_bytes)
    except NotRegularFileError as exc:
        raise LoaderError(path, str(exc)) from exc
    except OSError as exc:
        raise LoaderError(path, f"cannot read file: {exc.strerror or exc}") from exc
    if not data.strip():
        raise LoaderError(path, "empty file")
    pages: list[tuple[int, int]] = []
    if kind in ("markdown", "text"):
        from ingest.loaders.text import decode_text
        text = decode_text(path, data)
    elif kind == "pdf":
        from ingest.loaders.pdf import pdf_text
        text, pages = pdf_text(path, data, limits.max_pdf_pages, limits.max_pdf_seconds)
    elif kind == "html":
        from ingest.loaders.html import html_text
        from ingest.loaders.text import decode_text
        text = html_text(decode_text(path, data))
    else:
        from ingest.loaders.ipynb import notebook_text
        from ingest.loaders.text import decode_text
        text = notebook_text(path, decode_text(path, data))
    if not text.strip():
        raise LoaderError(path, "empty: no text found in the file")
    return LoadedNote(path=path, text=text, kind=kind, pages=pages)


__all__ = ["LoadedNote", "SUPPORTED_SUFFIXES", "load_note"]
