"""A span of a stored note without loading the note: incremental BLOB I/O from a char -> byte checkpoint.

Chunk offsets count characters, SQLite stores the text as UTF-8 bytes. At write time every CHECKPOINT_CHARS-th
character's byte offset is recorded (nothing for an ASCII note, where they are equal), so a read seeks to the
checkpoint before `start` and reads at most 4 bytes per character it needs. SQLite's substr would walk the
UTF-8 text from its start (about 0.2 s for the end of a 50 MB note, bench/soak.py); the BLOB read of the same
span takes a few tens of ms. Notes written before this table existed read None (the caller falls back).
"""
from __future__ import annotations

import sqlite3
import struct

CHECKPOINT_CHARS = 4096
_OFFSET = struct.Struct("<q")


def byte_checkpoints(text: str, step: int) -> bytes | None:
    """UTF-8 byte offsets of characters 0, step, 2*step... packed as int64; None for ASCII text."""
    if text.isascii():
        return None
    offsets, position = [0], 0
    for i in range(0, len(text), step):
        position += len(text[i:i + step].encode("utf-8"))
        offsets.append(position)
    return struct.pack(f"<{len(offsets)}q", *offsets)


def write_checkpoints(conn: sqlite3.Connection, source: str, text: str) -> None:
    """Record a note's checkpoints every CHECKPOINT_CHARS characters (call beside inserting its documents row)."""
    conn.execute("INSERT OR REPLACE INTO document_offsets VALUES (?, ?, ?)",
                 (source, CHECKPOINT_CHARS, byte_checkpoints(text, CHECKPOINT_CHARS)))


def read_slice(conn: sqlite3.Connection, source: str, start: int, end: int) -> str | None:
    """text[start:end] of a note (0 <= start <= end), or None when the note has no checkpoints."""
    try:
        row = conn.execute("SELECT d.rowid, o.step, o.offsets FROM documents d JOIN document_offsets o"
                           " ON o.source = d.source WHERE d.source = ?", (source,)).fetchone()
    except sqlite3.OperationalError:  # no such table: the index predates checkpoints
        return None
    if row is None:
        return None
    rowid, step, offsets = row
    if offsets is None:
        first_char, first_byte = start, start
    else:
        mark = min(start // step, len(offsets) // _OFFSET.size - 1)
        first_char, first_byte = mark * step, _OFFSET.unpack_from(offsets, mark * _OFFSET.size)[0]
    with conn.blobopen("documents", "text", rowid, readonly=True) as blob:
        blob.seek(min(first_byte, len(blob)))
        data = blob.read(4 * (end - first_char) if offsets is not None else end - start)
    text = data.decode("utf-8", errors="ignore")   # only a character cut at the end, past `end`, is lost
    return text[start - first_char:end - first_char]
