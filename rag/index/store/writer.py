"""IndexWriter: builds the next index version in a temp folder and publishes it atomically."""
from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

import numpy as np

from rag.core.errors import IndexCorruptError
from rag.core.settings import RetrievalSettings
from rag.core.types import Chunk
from rag.index.store import db, layout, vectors


class IndexWriter:
    """Copy of the live version (or an empty one) that changes are applied to; `commit` swaps it in.

    The caller must hold layout.IndexLock for the index folder.
    """

    def __init__(self, index_dir: Path, model_id: str, dim: int, retrieval: RetrievalSettings,
                 rebuild: bool = False):
        self.index_dir = Path(index_dir)
        self.retrieval = retrieval
        self.temp_dir = layout.new_temp_dir(self.index_dir)
        base = None if rebuild else layout.current_version(self.index_dir)
        self.conn = db.connect(self.temp_dir / layout.DB_FILE)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if base is not None:
            src = db.connect(base / layout.DB_FILE, readonly=True)
            src.backup(self.conn)
            src.close()
            self.exact = vectors.read(base / layout.VECTORS_FILE)
        else:
            self.exact = vectors.empty_exact(dim)
            db.write_meta(self.conn, {"model_id": model_id, "dim": dim, "created": now, "roots": "[]",
                                      "version": db.SCHEMA_VERSION})
        db.write_meta(self.conn, {"updated": now})
        self.embedded = 0

    def manifest(self) -> dict[str, db.DocRecord]:
        """source -> manifest row of the version being built."""
        return db.manifest(self.conn)

    def existing(self, hashes: list[str]) -> dict[str, int]:
        """text_hash -> vector id for chunks already stored (reused, not re-embedded)."""
        return db.existing_hashes(self.conn, hashes)

    def remove_document(self, source: str) -> None:
        """Drop a note; its chunks go at commit unless another location still uses them."""
        db.delete_document(self.conn, source)

    def put_document(self, doc: db.DocRecord, chunks: list[Chunk], new_vectors: dict[str, np.ndarray],
                     new_units: dict[str, list[tuple[str, np.ndarray]]] | None = None) -> None:
        """Store a note and its chunks; `new_vectors` maps text_hash -> vector for chunks not stored yet, and
        `new_units` text_hash -> (unit text hash, vector) of their evidence units."""
        db.delete_document(self.conn, doc.source)
        db.insert_document(self.conn, doc)
        for ordinal, chunk in enumerate(chunks):
            thash = db.text_hash(chunk.text)
            found = db.existing_hashes(self.conn, [thash])
            if found:
                vid = found[thash]
            else:
                if thash not in new_vectors:
                    raise IndexCorruptError(f"no vector for a new chunk of {doc.source}")
                vid = db.insert_chunk(self.conn, db.make_chunk_id(doc.source, chunk.text, ordinal), thash, chunk.text)
                vectors.add(self.exact, np.array([vid]), new_vectors[thash].reshape(1, -1))
                db.insert_unit_vectors(self.conn, vid, (new_units or {}).get(thash, []))
                self.embedded += 1
            db.insert_location(self.conn, vid, chunk)

    def add_roots(self, roots: list[str]) -> None:
        """Remember which folders were ingested."""
        meta = db.read_meta(self.conn)
        known = json.loads(meta.get("roots", "[]"))
        db.write_meta(self.conn, {"roots": json.dumps(known + [r for r in roots if r not in known])})

    def commit(self) -> Path:
        """Collect orphans, write vectors (+ HNSW above the threshold), publish, drop the old version."""
        orphans = db.delete_orphans(self.conn)
        vectors.remove(self.exact, orphans)
        rows = self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        if rows != self.exact.ntotal:
            raise IndexCorruptError(f"refusing to commit: {rows} chunk rows but {self.exact.ntotal} vectors")
        self.conn.commit()
        self.conn.close()
        vectors.write(self.exact, self.temp_dir / layout.VECTORS_FILE)
        if self.exact.ntotal > self.retrieval.approximate_above:
            hnsw = vectors.build_hnsw(self.exact, self.retrieval.hnsw_m)
            vectors.write(hnsw, self.temp_dir / layout.HNSW_FILE)
        final = layout.publish(self.index_dir, self.temp_dir)
        layout.clean_stale(self.index_dir)
        return final

    def abort(self) -> None:
        """Throw the temp version away."""
        try:
            self.conn.close()
        except sqlite3.Error:
            pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)
