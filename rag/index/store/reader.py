"""IndexStore: a read-only view of the live index version (SQLite rows + FAISS vectors)."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from rag.core.errors import IndexCorruptError, IndexNotFoundError, NotFoundError
from rag.core.types import Chunk
from rag.index.store import db, layout, slices, vectors


class IndexStore:
    """Chunks, documents and vectors of one committed index version."""

    def __init__(self, index_dir: Path, version_dir: Path, conn, exact, approx=None):
        self.index_dir = index_dir
        self.version_dir = version_dir
        self.conn = conn
        self.exact = exact
        self.approx = approx
        self.meta = db.read_meta(conn)
        self._lock = threading.Lock()

    @classmethod
    def open(cls, index_dir: Path, ef_search: int = 128) -> IndexStore:
        """Open the live version at `index_dir` (IndexNotFoundError when there is none)."""
        index_dir = Path(index_dir)
        if layout.current_version(index_dir) is not None:
            layout.clean_if_idle(index_dir)
        for _ in range(3):
            version = layout.current_version(index_dir)
            if version is None:
                raise IndexNotFoundError(f"no index at {index_dir}; run rag ingest PATH")
            try:
                conn, exact, approx, rows = cls._load(version, ef_search)
                break
            except Exception as exc:  # sqlite3 / faiss raise several unrelated types
                if layout.current_version(index_dir) == version:
                    raise IndexCorruptError(f"index at {version} is unreadable: {exc}") from exc
                # an ingest published a newer version and removed this one meanwhile: read the new one
        else:
            raise IndexCorruptError(f"index at {index_dir} keeps changing while being opened")
        if rows != exact.ntotal:
            raise IndexCorruptError(f"index at {version} is inconsistent: {rows} chunk rows, {exact.ntotal} vectors")
        return cls(index_dir, version, conn, exact, approx)

    @staticmethod
    def _load(version: Path, ef_search: int):
        """Connection, exact index, optional HNSW index and chunk row count of one version folder."""
        if not version.is_dir():
            raise FileNotFoundError(f"{version} is missing")
        conn = db.connect(version / layout.DB_FILE, readonly=True)
        exact = vectors.read(version / layout.VECTORS_FILE)
        approx = None
        if (version / layout.HNSW_FILE).is_file():
            approx = vectors.read(version / layout.HNSW_FILE)
            vectors.set_ef_search(approx, ef_search)
        rows = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return conn, exact, approx, rows

    def unit_vectors(self, hashes: list[str]) -> dict[str, np.ndarray]:
        """text hash -> vector of the evidence units embedded at ingest (db.text_hash of the unit text)."""
        with self._lock:
            return db.unit_vectors(self.conn, hashes)

    def check_model(self, model_id: str, dim: int) -> None:
        """Raise IndexMismatchError unless the index was built with this embedding model."""
        db.check_model(self.meta, model_id, dim, self.index_dir)

    def get_chunk(self, chunk_id: str) -> Chunk:
        """The chunk with this id (NotFoundError if absent)."""
        with self._lock:
            row = self.conn.execute("SELECT id FROM chunks WHERE chunk_id = ?", (chunk_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no chunk {chunk_id!r} in the index")
            return db.chunk_rows(self.conn, [row[0]])[row[0]]

    def chunks(self, ids: list[str]) -> list[Chunk]:
        """Chunks by chunk_id, in the given order (unknown ids are skipped)."""
        if not ids:
            return []
        with self._lock:
            marks = ",".join("?" * len(ids))
            vids = dict(self.conn.execute(f"SELECT chunk_id, id FROM chunks WHERE chunk_id IN ({marks})", list(ids)))
            rows = db.chunk_rows(self.conn, list(vids.values()))
        return [rows[vids[c]] for c in ids if c in vids]

    def by_vector_ids(self, vids: list[int]) -> dict[int, Chunk]:
        """Vector id -> Chunk."""
        with self._lock:
            return db.chunk_rows(self.conn, vids)

    def texts_for_bm25(self) -> tuple[list[int], list[str]]:
        """Vector ids and heading + text of every chunk."""
        with self._lock:
            return db.all_chunk_texts(self.conn)

    def document_text(self, source: str) -> str:
        """The loaded text of a note (what chunk offsets and quotes refer to)."""
        with self._lock:
            row = self.conn.execute("SELECT text FROM documents WHERE source = ?", (source,)).fetchone()
        if row is None:
            raise NotFoundError(f"no note {source!r} in the index")
        return row[0]

    def document_slice(self, source: str, start: int, end: int) -> str:
        """document_text(source)[start:end] without loading the whole note (slices.read_slice).

        A note stored before checkpoints existed is cut by SQLite's substr, which stops at a NUL character:
        a substr slice that comes back short is cut from the whole text instead.
        """
        start = max(start, 0)
        end = max(start, end)
        with self._lock:
            cut = slices.read_slice(self.conn, source, start, end)
            if cut is not None:
                return cut
            row = self.conn.execute("SELECT substr(text, ?, ?) FROM documents WHERE source = ?",
                                    (start + 1, end - start, source)).fetchone()
        if row is None:
            raise NotFoundError(f"no note {source!r} in the index")
        return row[0] if len(row[0]) == end - start else self.document_text(source)[start:end]

    def sources(self) -> list[str]:
        """Every note path in the index, relative to its ingested root."""
        with self._lock:
            return [r[0] for r in self.conn.execute("SELECT source FROM documents ORDER BY source")]

    def count(self) -> int:
        """Number of stored (deduplicated) chunks."""
        return int(self.exact.ntotal)

    def info(self) -> dict:
        """Model, sizes, index type and ingested roots."""
        with self._lock:
            notes = self.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        roots = json.loads(self.meta.get("roots", "[]"))
        return {"model_id": self.meta.get("model_id"), "dim": int(self.meta.get("dim", 0)),
                "chunks": self.count(), "notes": int(notes),
                "index_type": "hnsw" if self.approx is not None else "exact",
                "root": roots[0] if len(roots) == 1 else roots, "version": self.version_dir.name,
                "created": self.meta.get("created"), "updated": self.meta.get("updated")}

    def search_vectors(self, query: np.ndarray, n: int, exact: bool | None = None) -> list[tuple[int, float]]:
        """Top-n (vector id, cosine); approximate when an HNSW index exists unless exact=True."""
        index = self.exact if exact or self.approx is None else self.approx
        return vectors.search(index, query, n)

    def vectors_for(self, vids: list[int]) -> np.ndarray:
        """Stored unit vectors of these vector ids."""
        return vectors.reconstruct(self.exact, vids)

    def close(self) -> None:
        """Close the database connection."""
        self.conn.close()
