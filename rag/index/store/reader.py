"""IndexStore: a read-only view of the live FAISS + SQLite index version (the default store)."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from rag.core.errors import IndexCorruptError, IndexNotFoundError, NotFoundError
from rag.core.types import Chunk, Filters, NoteMeta, SearchResult
from rag.index.store import db, layout, slices, vectors
from rag.index.store.base import DenseSpec, SearchRequest

FILTER_MEMO = 64   # filters whose allowed chunk ids are remembered per reader (a version never changes)


class IndexStore:
    """Chunks, documents and vectors of one committed index version."""

    kind = "faiss"

    def __init__(self, index_dir: Path, version_dir: Path, conn, dense: dict[str, tuple], ef_search: int = 128):
        self.index_dir = index_dir
        self.version_dir = version_dir
        self.opened_version = version_dir.name
        self.conn = conn
        self.dense = dense                 # set name -> (exact index, HNSW index or None)
        self.meta = db.read_meta(conn)
        self._lock = threading.Lock()
        self._bm25 = None
        self._notes: list[NoteMeta] | None = None
        self._allowed: dict[Filters, tuple[np.ndarray, set[str]]] = {}
        self._foreign: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}   # set -> owners, vectors, ids

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
                conn, dense, rows = cls._load(version, ef_search)
                break
            except Exception as exc:  # sqlite3 / faiss raise several unrelated types
                if layout.current_version(index_dir) == version:
                    raise IndexCorruptError(f"index at {version} is unreadable: {exc}") from exc
                # an ingest published a newer version and removed this one meanwhile: read the new one
        else:
            raise IndexCorruptError(f"index at {index_dir} keeps changing while being opened")
        for name, (exact, _) in dense.items():
            if rows != exact.ntotal:
                raise IndexCorruptError(f"index at {version} is inconsistent: {rows} chunk rows, {exact.ntotal} "
                                        f"{name} vectors")
        return cls(index_dir, version, conn, dense, ef_search)

    @staticmethod
    def _load(version: Path, ef_search: int):
        """Connection, {set name: (exact index, HNSW index or None)} and chunk row count of one version folder."""
        if not version.is_dir():
            raise FileNotFoundError(f"{version} is missing")
        conn = db.connect(version / layout.DB_FILE, readonly=True)
        dense = {}
        for name in db.dense_sets(db.read_meta(conn)):
            exact = vectors.read(version / layout.vectors_file(name, db.DEFAULT_DENSE))
            approx = None
            hnsw = version / layout.hnsw_file(name, db.DEFAULT_DENSE)
            if hnsw.is_file():
                approx = vectors.read(hnsw)
                vectors.set_ef_search(approx, ef_search)
            dense[name] = (exact, approx)
        rows = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return conn, dense, rows

    @property
    def exact(self):
        """The default set's exact index."""
        return self.dense[db.DEFAULT_DENSE][0]

    @property
    def approx(self):
        """The default set's HNSW index, or None below the approximate threshold."""
        return self.dense[db.DEFAULT_DENSE][1]

    def version(self) -> str:
        """The version published now (one small file read); differs from `opened_version` after a newer ingest."""
        live = layout.current_version(self.index_dir)
        return live.name if live is not None else ""

    def dense_sets(self) -> dict[str, DenseSpec]:
        """The named dense sets this version holds."""
        return {n: DenseSpec(n, m, d) for n, (m, d) in db.dense_sets(self.meta).items()}

    def unit_vectors(self, hashes: list[str], name: str = db.DEFAULT_DENSE) -> dict[str, np.ndarray]:
        """text hash -> vector of the evidence units embedded at ingest (db.text_hash of the unit text)."""
        with self._lock:
            return db.unit_vectors(self.conn, hashes, name)

    def check_model(self, model_id: str, dim: int, name: str = db.DEFAULT_DENSE) -> None:
        """Raise IndexMismatchError unless set `name` was built with this embedding model."""
        db.check_model(self.meta, model_id, dim, self.index_dir, name)

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

    def notes(self) -> list[NoteMeta]:
        """Folder, title and tags of every note, by source."""
        if self._notes is None:
            with self._lock:
                self._notes = sorted(db.notes(self.conn), key=lambda n: n.source)
        return self._notes

    def count(self) -> int:
        """Number of stored (deduplicated) chunks."""
        return int(self.exact.ntotal)

    def info(self) -> dict:
        """Model, sizes, index type and ingested roots."""
        with self._lock:
            notes = self.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        roots = json.loads(self.meta.get("roots", "[]"))
        sets = self.dense_sets()
        return {"store": self.kind, "model_id": sets[db.DEFAULT_DENSE].model_id, "dim": sets[db.DEFAULT_DENSE].dim,
                "dense": {n: {"model_id": s.model_id, "dim": s.dim} for n, s in sets.items()},
                "chunks": self.count(), "notes": int(notes),
                "index_type": "hnsw" if self.approx is not None else "exact",
                "root": roots[0] if len(roots) == 1 else roots, "version": self.opened_version,
                "created": self.meta.get("created"), "updated": self.meta.get("updated")}

    def allowed(self, filters: Filters | None) -> tuple[np.ndarray, set[str]] | None:
        """(vector ids of chunks with a location in a note inside `filters`, those notes), None without filters."""
        if not filters:
            return None
        if filters not in self._allowed:
            sources = {n.source for n in self.notes() if filters.matches(n)}
            with self._lock:
                vids = np.asarray(db.chunk_ids_of_sources(self.conn, sorted(sources)), dtype=np.int64)
            if len(self._allowed) >= FILTER_MEMO:
                self._allowed.clear()
            self._allowed[filters] = (vids, sources)
        return self._allowed[filters]

    def search_vectors(self, query: np.ndarray, n: int, exact: bool | None = None, filters: Filters | None = None,
                       name: str = db.DEFAULT_DENSE) -> list[tuple[int, float]]:
        """Top-n (vector id, cosine) in set `name`; approximate when an HNSW index exists unless exact=True.
        Filters select ids inside the search (a FAISS IDSelector), so n come back when n chunks match; a filter that
        keeps under a tenth of the chunks searches exactly (a sparse selection leaves HNSW too few paths)."""
        full, approx = self.dense[name]
        allowed = self.allowed(filters)
        if allowed is not None and len(allowed[0]) * 10 < full.ntotal:
            exact = True
        index = full if exact or approx is None else approx
        if allowed is None:
            return vectors.search(index, query, n)
        return vectors.search(index, query, min(n, len(allowed[0])), allowed[0])

    def foreign_units(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(chunk vector id, vector) of every evidence-unit vector set `name` holds, read once: the units of the chunks
        in a language only that set reads, ascending by chunk."""
        return self._foreign_of(name)[:2]

    def foreign_ids(self, name: str) -> np.ndarray:
        """Vector ids of the chunks set `name` holds evidence-unit vectors for, ascending."""
        return self._foreign_of(name)[2]

    def _foreign_of(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(unit owners, unit vectors, distinct owners) of set `name`, read once."""
        if name not in self._foreign:
            with self._lock:
                owners, units = db.units_of_set(self.conn, name, self.dense[name][0].d)
                self._foreign[name] = (owners, units, np.unique(owners))
        return self._foreign[name]

    def vectors_for(self, vids: list[int], name: str = db.DEFAULT_DENSE) -> np.ndarray:
        """Stored vectors of set `name` for these vector ids."""
        return vectors.reconstruct(self.dense[name][0], vids)

    def prepare(self) -> None:
        """Build the in-memory BM25 index now rather than at the first query."""
        self._keywords()

    def _keywords(self):
        from rag.index.bm25 import BM25Index

        if self._bm25 is None:
            ids, texts = self.texts_for_bm25()
            self._bm25 = BM25Index(ids, texts)
        return self._bm25

    def search(self, request: SearchRequest) -> list[SearchResult]:
        """Dense (FAISS) + BM25 in this process, fused with weighted RRF; see rag.index.store.hybrid."""
        from rag.index.store.hybrid import hybrid_search

        return hybrid_search(self, self._keywords(), request)

    def close(self) -> None:
        """Close the database connection."""
        self.conn.close()
