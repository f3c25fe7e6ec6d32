"""SQLite part of the index: schema, documents manifest, chunks with all their locations, meta."""
from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from rag.core.errors import IndexMismatchError
from rag.core.text import squash
from rag.core.types import Chunk, Location, NoteMeta
from rag.index.store import slices

SCHEMA_VERSION = "2"   # 2: note folder/title/tags, named dense vector sets (meta "dense"), unit_vectors.vector_set
DEFAULT_DENSE = "minilm"   # the dense vector set MiniLM fills; indexes from before named sets hold only this one

TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    source TEXT PRIMARY KEY, root TEXT NOT NULL, sha256 TEXT NOT NULL, mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL, pages TEXT NOT NULL,
    folder TEXT NOT NULL DEFAULT '', title TEXT NOT NULL DEFAULT '', tags TEXT NOT NULL DEFAULT '[]');
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, chunk_id TEXT NOT NULL UNIQUE,
    text_hash TEXT NOT NULL UNIQUE, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS locations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, chunk INTEGER NOT NULL REFERENCES chunks(id),
    source TEXT NOT NULL, heading TEXT NOT NULL, start_line INTEGER NOT NULL, end_line INTEGER NOT NULL,
    start_char INTEGER NOT NULL, end_char INTEGER NOT NULL, page INTEGER);
CREATE TABLE IF NOT EXISTS unit_vectors (
    chunk INTEGER NOT NULL REFERENCES chunks(id), text_hash TEXT NOT NULL, vector BLOB NOT NULL,
    vector_set TEXT NOT NULL DEFAULT 'minilm');
CREATE TABLE IF NOT EXISTS document_offsets (source TEXT PRIMARY KEY, step INTEGER NOT NULL, offsets BLOB);
"""
INDEXES = """
CREATE INDEX IF NOT EXISTS locations_chunk ON locations(chunk);
CREATE INDEX IF NOT EXISTS locations_source ON locations(source);
CREATE INDEX IF NOT EXISTS unit_vectors_hash ON unit_vectors(text_hash);
CREATE INDEX IF NOT EXISTS unit_vectors_chunk ON unit_vectors(chunk);
"""
ADDED_COLUMNS = {  # columns schema 1 lacks: added in place when a writer copies such an index
    "documents": [("folder", "TEXT NOT NULL DEFAULT ''"), ("title", "TEXT NOT NULL DEFAULT ''"),
                  ("tags", "TEXT NOT NULL DEFAULT '[]'")],
    "unit_vectors": [("vector_set", "TEXT NOT NULL DEFAULT 'minilm'")],
}


@dataclass
class DocRecord:
    """One ingested note file: its manifest row and loaded text."""

    source: str
    root: str
    sha256: str
    mtime_ns: int
    size: int
    kind: str = "text"
    text: str = ""
    pages: list = None
    title: str = ""
    tags: tuple[str, ...] = ()

    def meta(self) -> NoteMeta:
        """Folder, title and tags of this note."""
        return NoteMeta(self.source, folder_of(self.source), self.title, tuple(self.tags))


def all_changed(known: dict[str, DocRecord]) -> dict[str, DocRecord]:
    """The manifest with every note marked changed (no digest, no mtime): the next ingest re-reads each once, its
    chunks still reused by text hash."""
    return {s: replace(d, sha256="", mtime_ns=-1) for s, d in known.items()}


def folder_of(source: str) -> str:
    """The folder of a note path relative to its root ('' at the root)."""
    return source.rsplit("/", 1)[0] if "/" in source else ""


def text_hash(text: str) -> str:
    """Content key of a chunk (duplicates share it)."""
    return hashlib.sha1(squash(text).encode("utf-8")).hexdigest()


def make_chunk_id(source: str, text: str, ordinal: int) -> str:
    """sha1 of source + squashed text + ordinal, 16 hex."""
    return hashlib.sha1(f"{source}\0{squash(text)}\0{ordinal}".encode()).hexdigest()[:16]


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """Open the store database (read-only opens never create or modify it)."""
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.executescript(TABLES)
        migrate(conn)
        conn.executescript(INDEXES)
    return conn


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """Column names of a table (empty when it does not exist)."""
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def migrate(conn: sqlite3.Connection) -> None:
    """Add the columns a schema-1 index lacks (their defaults: no metadata, every unit vector in the default set)."""
    for table, added in ADDED_COLUMNS.items():
        have = columns(conn, table)
        for name, decl in added:
            if name not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    """All meta rows."""
    return dict(conn.execute("SELECT key, value FROM meta"))


def write_meta(conn: sqlite3.Connection, values: dict[str, object]) -> None:
    """Upsert meta rows (values stored as strings)."""
    conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                     [(k, str(v)) for k, v in values.items()])


def dense_sets(meta: dict) -> dict[str, tuple[str, int]]:
    """Named dense vector sets -> (model id, dim); an index from before named sets holds only the default one."""
    if "dense" in meta:
        return {name: (spec["model_id"], int(spec["dim"])) for name, spec in json.loads(meta["dense"]).items()}
    return {DEFAULT_DENSE: (meta.get("model_id"), int(meta.get("dim", -1)))}


def check_model(meta: dict, model_id: str, dim: int, index_dir, name: str = DEFAULT_DENSE) -> None:
    """Raise IndexMismatchError unless the vector set `name` was filled by this embedding model and dimension."""
    have_id, have_dim = dense_sets(meta).get(name, (None, -1))
    if have_id != model_id or have_dim != dim:
        raise IndexMismatchError(
            f"index at {index_dir} was built with {have_id} (dim {have_dim}) for vector set {name!r} but the "
            f"embedder is {model_id} (dim {dim}); re-run rag ingest with --rebuild")


def manifest(conn: sqlite3.Connection) -> dict[str, DocRecord]:
    """source -> manifest row (text not loaded)."""
    rows = conn.execute("SELECT source, root, sha256, mtime_ns, size, kind FROM documents")
    return {r[0]: DocRecord(*r) for r in rows}


def chunk_rows(conn: sqlite3.Connection, ids: list[int]) -> dict[int, Chunk]:
    """Vector id -> Chunk (primary location first, the rest in extra_locations)."""
    out: dict[int, Chunk] = {}
    for start in range(0, len(ids), 500):
        part = [int(i) for i in ids[start:start + 500]]
        marks = ",".join("?" * len(part))
        rows = conn.execute(
            f"SELECT c.id, c.chunk_id, c.text, l.source, l.heading, l.start_line, l.end_line, l.start_char,"
            f" l.end_char, l.page FROM chunks c JOIN locations l ON l.chunk = c.id"
            f" WHERE c.id IN ({marks}) ORDER BY c.id, l.id", part)
        for vid, cid, text, source, heading, sl, el, sc, ec, page in rows:
            if vid in out:
                out[vid].extra_locations.append(Location(source, sl, el, sc, ec, heading, page))
            else:
                out[vid] = Chunk(source=source, heading=heading, text=text, start_line=sl, end_line=el,
                                 start_char=sc, end_char=ec, chunk_id=cid, page=page)
    return out


def insert_document(conn: sqlite3.Connection, doc: DocRecord) -> None:
    """Add or replace a manifest row with its text and metadata (and the checkpoints slices.read_slice seeks by)."""
    conn.execute("INSERT OR REPLACE INTO documents(source, root, sha256, mtime_ns, size, kind, text, pages, folder,"
                 " title, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (doc.source, doc.root, doc.sha256, doc.mtime_ns, doc.size, doc.kind, doc.text,
                  json.dumps(doc.pages or []), folder_of(doc.source), doc.title, json.dumps(list(doc.tags))))
    slices.write_checkpoints(conn, doc.source, doc.text)


def notes(conn: sqlite3.Connection) -> list[NoteMeta]:
    """Folder, title and tags of every note (an index from before metadata: folders only)."""
    if "tags" not in columns(conn, "documents"):
        return [NoteMeta(r[0], folder_of(r[0])) for r in conn.execute("SELECT source FROM documents")]
    return [NoteMeta(src, folder, title, tuple(json.loads(tags)))
            for src, folder, title, tags in conn.execute("SELECT source, folder, title, tags FROM documents")]


def chunk_ids_of_sources(conn: sqlite3.Connection, sources: list[str]) -> list[int]:
    """Vector ids of every chunk with a location in one of these notes."""
    out: set[int] = set()
    for start in range(0, len(sources), 500):
        part = sources[start:start + 500]
        marks = ",".join("?" * len(part))
        out.update(r[0] for r in conn.execute(f"SELECT DISTINCT chunk FROM locations WHERE source IN ({marks})", part))
    return sorted(out)


def delete_document(conn: sqlite3.Connection, source: str) -> None:
    """Drop a note's manifest row and its locations (orphan chunks are collected separately)."""
    conn.execute("DELETE FROM locations WHERE source = ?", (source,))
    conn.execute("DELETE FROM documents WHERE source = ?", (source,))
    conn.execute("DELETE FROM document_offsets WHERE source = ?", (source,))


def existing_hashes(conn: sqlite3.Connection, hashes: list[str]) -> dict[str, int]:
    """text_hash -> vector id for the hashes already stored."""
    out: dict[str, int] = {}
    for start in range(0, len(hashes), 500):
        part = hashes[start:start + 500]
        marks = ",".join("?" * len(part))
        out.update(conn.execute(f"SELECT text_hash, id FROM chunks WHERE text_hash IN ({marks})", part))
    return out


def insert_chunk(conn: sqlite3.Connection, chunk_id: str, thash: str, text: str) -> int:
    """Add a chunk row; returns its vector id (never reused: AUTOINCREMENT)."""
    cur = conn.execute("INSERT INTO chunks(chunk_id, text_hash, text) VALUES (?, ?, ?)", (chunk_id, thash, text))
    return int(cur.lastrowid)


def insert_location(conn: sqlite3.Connection, vid: int, chunk: Chunk) -> None:
    """Record one place a chunk's text occurs."""
    conn.execute("INSERT INTO locations(chunk, source, heading, start_line, end_line, start_char, end_char, page)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (vid, chunk.source, chunk.heading, chunk.start_line, chunk.end_line, chunk.start_char,
                  chunk.end_char, chunk.page))


def delete_orphans(conn: sqlite3.Connection) -> list[int]:
    """Remove chunks no location points at, with their unit vectors; returns their vector ids."""
    ids = [r[0] for r in conn.execute(
        "SELECT id FROM chunks WHERE NOT EXISTS (SELECT 1 FROM locations l WHERE l.chunk = chunks.id)")]
    conn.executemany("DELETE FROM unit_vectors WHERE chunk = ?", [(i,) for i in ids])
    conn.executemany("DELETE FROM chunks WHERE id = ?", [(i,) for i in ids])
    return ids


def insert_unit_vectors(conn: sqlite3.Connection, vid: int, units: list[tuple[str, np.ndarray]],
                        name: str = DEFAULT_DENSE) -> None:
    """Store the (text hash, float32 vector) of each evidence unit of chunk `vid` in vector set `name`."""
    conn.executemany("INSERT INTO unit_vectors(chunk, text_hash, vector, vector_set) VALUES (?, ?, ?, ?)",
                     [(vid, h, np.asarray(v, dtype=np.float32).tobytes(), name) for h, v in units])


def units_of_set(conn: sqlite3.Connection, name: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(the chunk vector id of each unit vector of set `name`, ascending; those vectors as an (n, dim) matrix)."""
    rows = conn.execute("SELECT chunk, vector FROM unit_vectors WHERE vector_set = ? ORDER BY chunk", (name,)
                        ).fetchall() if "vector_set" in columns(conn, "unit_vectors") else []
    owners = np.asarray([vid for vid, _ in rows], dtype=np.int64)
    vectors = np.stack([np.frombuffer(blob, dtype=np.float32) for _, blob in rows]) if rows else \
        np.zeros((0, dim), dtype=np.float32)
    return owners, vectors


def unit_vectors(conn: sqlite3.Connection, hashes: list[str], name: str = DEFAULT_DENSE) -> dict[str, np.ndarray]:
    """text hash -> stored unit vector of set `name`, for the hashes found (none in an index built before unit
    vectors; an index from before named sets holds the default set only)."""
    have = columns(conn, "unit_vectors")
    if not have or ("vector_set" not in have and name != DEFAULT_DENSE):
        return {}
    where = " AND vector_set = ?" if "vector_set" in have else ""
    out: dict[str, np.ndarray] = {}
    for start in range(0, len(hashes), 500):
        part = hashes[start:start + 500]
        marks = ",".join("?" * len(part))
        rows = conn.execute(f"SELECT text_hash, vector FROM unit_vectors WHERE text_hash IN ({marks}){where}",
                            part + ([name] if where else []))
        out.update((h, np.frombuffer(blob, dtype=np.float32)) for h, blob in rows)
    return out


def all_chunk_texts(conn: sqlite3.Connection) -> tuple[list[int], list[str]]:
    """Vector ids and 'heading + text' of every chunk (primary heading), for BM25."""
    rows = conn.execute(
        "SELECT c.id, l.heading, c.text FROM chunks c JOIN locations l ON l.id ="
        " (SELECT MIN(id) FROM locations WHERE chunk = c.id) ORDER BY c.id").fetchall()
    return [r[0] for r in rows], [f"{r[1]}\n{r[2]}" for r in rows]
