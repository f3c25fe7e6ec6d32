"""PDF text through pypdf, one page after another, remembering where each page starts."""
from __future__ import annotations

import io
import logging
from pathlib import Path

from rag.core.errors import LoaderError

PAGE_SEPARATOR = "\n\n"


def pdf_text(path: Path, data: bytes) -> tuple[str, list[tuple[int, int]]]:
    """(text, [(char offset of page start, 1-based page number)]); broken PDFs raise LoaderError."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    parts: list[str] = []
    pages: list[tuple[int, int]] = []
    offset = 0
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise LoaderError(path, "encrypted PDF")
        for number, page in enumerate(reader.pages, start=1):
            page_text = (page.extract_text() or "").replace("\x00", "").strip()
            if parts:
                parts.append(PAGE_SEPARATOR)
                offset += len(PAGE_SEPARATOR)
            pages.append((offset, number))
            parts.append(page_text)
            offset += len(page_text)
    except LoaderError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise LoaderError(path, f"unreadable PDF ({type(exc).__name__}: {exc})") from exc
    text = "".join(parts)
    if not text.strip():
        raise LoaderError(path, "empty: the PDF has no extractable text (scanned images?)")
    return text, pages
