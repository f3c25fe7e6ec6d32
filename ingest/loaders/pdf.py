"""PDF text through pypdf, one page after another, remembering where each page starts.

pypdf parses untrusted bytes and can fail in many ways (its own errors, RecursionError on deep object
graphs, zlib.error, NotImplementedError for exotic filters, MemoryError...): every failure becomes a
LoaderError naming the file. Page count and extraction time are capped (IngestSettings).
"""
from __future__ import annotations

import io
import logging
import time
from pathlib import Path

from rag.core.errors import LoaderError

PAGE_SEPARATOR = "\n\n"


def _pages(path: Path, reader, max_pages: int, max_seconds: float) -> tuple[list[str], list[tuple[int, int]]]:
    """Page texts and (offset, number) starts; LoaderError past the page or time cap."""
    count = len(reader.pages)
    if count > max_pages:
        raise LoaderError(path, f"PDF has {count} pages, over the limit of {max_pages} (ingest.max_pdf_pages)")
    parts: list[str] = []
    pages: list[tuple[int, int]] = []
    offset = 0
    started = time.monotonic()
    for number, page in enumerate(reader.pages, start=1):
        page_text = (page.extract_text() or "").replace("\x00", "").strip()
        if parts:
            parts.append(PAGE_SEPARATOR)
            offset += len(PAGE_SEPARATOR)
        pages.append((offset, number))
        parts.append(page_text)
        offset += len(page_text)
        if time.monotonic() - started > max_seconds and number < count:
            raise LoaderError(path, f"PDF text extraction took over {max_seconds:g} s (stopped at page {number} "
                                    f"of {count}; ingest.max_pdf_seconds)")
    return parts, pages


def pdf_text(path: Path, data: bytes, max_pages: int, max_seconds: float) -> tuple[str, list[tuple[int, int]]]:
    """(text, [(char offset of page start, 1-based page number)]); broken or oversized PDFs raise LoaderError."""
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise LoaderError(path, "encrypted PDF")
        parts, pages = _pages(path, reader, max_pages, max_seconds)
    except LoaderError:
        raise
    except Exception as exc:  # noqa: BLE001 - untrusted bytes: any parser failure costs only this file
        raise LoaderError(path, f"unreadable PDF ({type(exc).__name__}: {exc})") from exc
    text = "".join(parts)
    if not text.strip():
        raise LoaderError(path, "empty: the PDF has no extractable text (scanned images?)")
    return text, pages
