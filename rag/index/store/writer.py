"""IndexWriter: builds the next FAISS + SQLite version in a temp folder and publishes it atomically."""
from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

import numpy as np

from rag.core.errors import ConfigError, IndexCorruptError
from rag.core.settings import RetrievalSettings
from rag.core.text import SPLITTER_VERSION
from rag.core.types import Chunk
from rag.index.store import db, layout, vectors
from rag.index.units import UNIT_VECTORS


class IndexWriter:
    """Copy of the live version (or an empty one) that changes are applied to; `commit` swaps it in.

    Dense sets: `model_id`/`dim` fill the default set, `other_sets` ([(name, model_id, dim)]) any others; every set
    the live version holds must be among them (a new chunk needs a vector in each). The caller must hold
    layout.IndexLock for the index folder.
    """

    kind = "faiss"

    def __init__(self, index_dir: Path, model_id: str, dim: int, retrieval: RetrievalSettings,
                 rebuild: bool = False, other_sets: list[tuple[str, str, int]] = ()):
        self.index_dir = Path(index_dir)
        self.retrieval = retrieval
        self.temp_dir = layout.new_temp_dir(self.index_dir)
        base = None if rebuild else layout.current_version(self.index_dir)
        self.conn = db.connect(self.temp_dir / layout.DB_FILE)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        wanted = {db.DEFAULT_DENSE: (model_id, dim), **{layout.check_set_name(n): (m, d) for n, m, d in other_sets}}
        self.sets: dict[str, tuple[str, int]] = wanted
        self.dense: dict[str, object] = {}
        if base is not None:
            src = db.connect(base / layout.DB_FILE, readonly=True)
            src.backup(self.conn)
            src.close()
            db.migrate(self.conn)
            meta = db.read_meta(self.conn)
            unfilled = sorted(set(db.dense_sets(meta)) - set(wanted))
            if unfilled:
                raise ConfigError(f"the index at {self.index_dir} holds dense set(s) {', '.join(unfilled)}: ingest "
                                  f"must embed them too")
            for name in db.dense_sets(meta):
                db.check_model(meta, *wanted[name], self.index_dir, name)
                self.dense[name] = vectors.read(base / layout.vectors_file(name, db.DEFAULT_DENSE))
        else:
            db.write_meta(self.conn, {"created": now, "roots": "[]", "units": UNIT_VECTORS})
        for name, (_, d) in wanted.items():
            self.dense.setdefault(name, vectors.empty_exact(d))
        self.conn.execute("DELETE FROM meta WHERE key IN ('model_id', 'dim')")   # schema 1's fingerprint keys
        db.write_meta(self.conn, {"updated": now, "version": db.SCHEMA_VERSION, "splitter": SPLITTER_VERSION,
                                  "store": self.kind,
                                  "dense": json.dumps({n: {"model_id": m, "dim": d} for n, (m, d) in wanted.items()})})
        self.embedded = 0

    @property
    def exact(self):
        """The default set's exact index."""
        return self.dense[db.DEFAULT_DENSE]

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
                     new_units: dict[str, list[tuple[str, np.ndarray]]] | None = None,
                     other_sets: dict[str, dict[str, np.ndarray]] | None = None,
                     other_units: dict[str, dict[str, list[tuple[str, np.ndarray]]]] | None = None) -> None:
        """Store a note and its chunks; `new_vectors` maps text_hash -> default-set vector for chunks not stored yet,
        `new_units` text_hash -> (unit text hash, vector) of their evidence units, `other_sets` name -> text_hash ->
        vector for the other dense sets and `other_units` name -> their units' vectors in that set."""
        per_set = {db.DEFAULT_DENSE: new_vectors, **(other_sets or {})}
        units_per_set = {db.DEFAULT_DENSE: new_units or {}, **(other_units or {})}
        db.delete_document(self.conn, doc.source)
        db.insert_document(self.conn, doc)
        for ordinal, chunk in enumerate(chunks):
            thash = db.text_hash(chunk.text)
            found = db.existing_hashes(self.conn, [thash])
            if found:
                vid = found[thash]
            else:
                missing = [n for n in self.dense if thash not in per_set.get(n, {})]
                if missing:
                    raise IndexCorruptError(f"no {', '.join(missing)} vector for a new chunk of {doc.source}")
                vid = db.insert_chunk(self.conn, db.make_chunk_id(doc.source, chunk.text, ordinal), thash, chunk.text)
                for name, index in self.dense.items():
                    vectors.add(index, np.array([vid]), per_set[name][thash].reshape(1, -1))
                for name, units in units_per_set.items():
                    db.insert_unit_vectors(self.conn, vid, units.get(thash, []), name)
                self.embedded += 1
            db.insert_location(self.conn, vid, chunk)

    def missing_vectors(self, name: str) -> dict[str, Chunk]:
        """text_hash -> stored chunk without a vector in set `name` (what a newly added set must backfill)."""
        have = set(vectors.ids_of(self.dense[name]).tolist())
        todo = [vid for (vid,) in self.conn.execute("SELECT id FROM chunks") if vid not in have]
        return {db.text_hash(c.text): c for c in db.chunk_rows(self.conn, todo).values()}

    def add_vectors(self, name: str, by_hash: dict[str, np.ndarray],
                    units: dict[str, list[tuple[str, np.ndarray]]] | None = None) -> None:
        """Fill set `name` for stored chunks (text_hash -> vector, and their evidence units' vectors in that set),
        e.g. after `missing_vectors`."""
        ids = self.existing(list(by_hash))
        hashes = [h for h in by_hash if h in ids]
        if hashes:
            vectors.add(self.dense[name], np.array([ids[h] for h in hashes]), np.stack([by_hash[h] for h in hashes]))
        for h in hashes:
            db.insert_unit_vectors(self.conn, ids[h], (units or {}).get(h, []), name)

    def add_roots(self, roots: list[str]) -> None:
        """Remember which folders were ingested."""
        meta = db.read_meta(self.conn)
        known = json.loads(meta.get("roots", "[]"))
        db.write_meta(self.conn, {"roots": json.dumps(known + [r for r in roots if r not in known])})

    def count(self) -> int:
        """Chunks in the version being built."""
        return int(self.exact.ntotal)

    def commit(self) -> str:
        """Collect orphans, write each set's vectors (+ HNSW above the threshold), publish, drop the old version."""
        orphans = db.delete_orphans(self.conn)
        rows = self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        for name, index in self.dense.items():
            vectors.remove(index, orphans)
            if rows != index.ntotal:
                raise IndexCorruptError(f"refusing to commit: {rows} chunk rows but {index.ntotal} {name} vectors")
        self.conn.commit()
        self.conn.close()
        for name, index in self.dense.items():
            vectors.write(index, self.temp_dir / layout.vectors_file(name, db.DEFAULT_DENSE))
            if index.ntotal > self.retrieval.approximate_above:
                hnsw = vectors.build_hnsw(index, self.retrieval.hnsw_m)
                vectors.write(hnsw, self.temp_dir / layout.hnsw_file(name, db.DEFAULT_DENSE))
        final = layout.publish(self.index_dir, self.temp_dir)
        layout.clean_stale(self.index_dir)
        return final.name

    def abort(self) -> None:
        """Throw the temp version away."""
        try:
            self.conn.close()
        except sqlite3.Error:
            pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)
