"""The default backend: FAISS vectors + SQLite rows in versioned folders under the index folder."""
from __future__ import annotations

from pathlib import Path

from rag.core.settings import RetrievalSettings
from rag.core.text import SPLITTER_VERSION
from rag.index.store import db, layout
from rag.index.store.base import DenseSpec
from rag.index.units import UNIT_VECTORS


class FaissBackend:
    """An index folder holding FAISS + SQLite versions (layout.py)."""

    kind = "faiss"

    def __init__(self, index_dir: Path):
        self.index_dir = Path(index_dir)

    def exists(self) -> bool:
        """Whether a version has been published."""
        return layout.current_version(self.index_dir) is not None

    def version(self) -> str | None:
        """The published version folder's name."""
        live = layout.current_version(self.index_dir)
        return live.name if live is not None else None

    def lock(self) -> layout.IndexLock:
        """The flock on index_dir/LOCK."""
        return layout.IndexLock(self.index_dir)

    def clean_stale(self) -> None:
        """Remove temp folders and old versions."""
        layout.clean_stale(self.index_dir)

    def read_state(self, dense: DenseSpec, rebuild: bool) -> tuple[dict[str, db.DocRecord], int]:
        """Manifest and chunk count of the live version (empty when rebuilding or new); checks the model. An index
        from before note metadata, or cut by another SPLITTER_VERSION, lists every note as changed, so the next
        ingest re-reads each once (chunks whose text is unchanged are reused by text hash, not re-embedded)."""
        version = layout.current_version(self.index_dir)
        if rebuild or version is None:
            return {}, 0
        conn = db.connect(version / layout.DB_FILE, readonly=True)
        try:
            meta = db.read_meta(conn)
            db.check_model(meta, dense.model_id, dense.dim, self.index_dir, dense.name)
            known = db.manifest(conn)
            if meta.get("version", "1") < db.SCHEMA_VERSION or meta.get("splitter") != SPLITTER_VERSION:
                known = db.all_changed(known)
            return known, conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        finally:
            conn.close()

    def units_current(self) -> bool:
        """Whether the live version's unit vectors were embedded as this version embeds them (True when none)."""
        meta = self._live_meta()
        return meta is None or meta.get("units") == UNIT_VECTORS

    def dense_sets(self) -> dict[str, DenseSpec]:
        """The named dense sets of the published version ({} when there is none)."""
        meta = self._live_meta()
        sets = db.dense_sets(meta) if meta is not None else {}
        return {n: DenseSpec(n, m, d) for n, (m, d) in sets.items()}

    def _live_meta(self) -> dict | None:
        """The published version's meta rows (None when there is none)."""
        version = layout.current_version(self.index_dir)
        if version is None:
            return None
        conn = db.connect(version / layout.DB_FILE, readonly=True)
        try:
            return db.read_meta(conn)
        finally:
            conn.close()

    def open_reader(self, ef_search: int = 128):
        """The live version (IndexNotFoundError when there is none)."""
        from rag.index.store.reader import IndexStore

        return IndexStore.open(self.index_dir, ef_search=ef_search)

    def writer(self, dense: list[DenseSpec], retrieval: RetrievalSettings, rebuild: bool = False):
        """An IndexWriter for the next version; dense[0] fills the default set. Call under the lock."""
        from rag.index.store.writer import IndexWriter

        first, *others = dense
        return IndexWriter(self.index_dir, first.model_id, first.dim, retrieval, rebuild=rebuild,
                           other_sets=[(d.name, d.model_id, d.dim) for d in others])
