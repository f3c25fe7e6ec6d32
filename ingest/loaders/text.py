"""Decode text-like files: binary content is refused, invalid UTF-8 is replaced and kept."""
from __future__ import annotations

from pathlib import Path

from rag.core.errors import LoaderError

SNIFF_BYTES = 64 * 1024          # how much of the start is checked for binary signs
MAX_REPLACED_RATIO = 0.10        # more undecodable characters than this means the file is not text
_CONTROL = set(range(0, 9)) | {11, 12} | set(range(14, 32)) | {127}


def looks_binary(data: bytes) -> bool:
    """NUL bytes, or many control bytes, in the file's first 64 KiB."""
    head = data[:SNIFF_BYTES]
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b in _CONTROL)
    return controls > 0.05 * max(len(head), 1)


def decode_text(path: Path, data: bytes) -> str:
    """UTF-8 (BOM dropped); invalid bytes become U+FFFD unless most of the file is undecodable."""
    if looks_binary(data):
        raise LoaderError(path, "binary content (not a text file)")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    if text.count("\ufffd") > MAX_REPLACED_RATIO * max(len(text), 1):
        raise LoaderError(path, "not UTF-8 text (most bytes are undecodable)")
    return text
