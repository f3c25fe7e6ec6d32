"""QdrantStore: a read-only view of one published Qdrant version (the collection the alias pointed at when opened).

Hybrid search runs in the engine: one batch of queries, the fused one prefetching dense and sparse candidates under
the same payload filter and fusing them with RRF (k = settings.rrf_k + 1: Qdrant ranks from 0, so its scores equal
rag.index.fusion.rrf's), plus each side's first `fusion_leaders` hits, which reach the top k (in at most half of
it) as in the FAISS store (rag.index.fusion.top_with_leaders).
"""
from __future__ import annotations

import threading

import numpy as np

from rag.core.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, NotFoundError
from rag.core.types import Chunk, Filters, NoteMeta, SearchResult
from rag.index.qdrant import client as qc
from rag.index.qdrant import points
from rag.index.store.base import DenseSpec, SearchRequest
from rag.index.store.db import DEFAULT_DENSE


class QdrantStore:
    """Chunks, notes and vectors of one Qdrant version collection."""

    kind = "qdrant"

    def __init__(self, backend, collection: str, meta: dict, ef_search: int = 128):
        self.backend = backend
        self.client = backend.client
        self.collection = collection
        self.opened_version = collection
        self.meta = meta
        self.ef_search = ef_search
        self._notes: list[NoteMeta] | None = None
        self._lock = threading.Lock()

    @classmethod
    def open(cls, backend, ef_search: int = 128) -> QdrantStore:
        """Open the version the alias points at now."""
        live = backend.version()
        if live is None:
            raise IndexNotFoundError(f"no index in {backend.where()}; run rag ingest PATH --store qdrant")
        meta = backend.read_meta(live)
        if not meta:
            raise IndexCorruptError(f"{backend.where()}: version {live} has no meta point")
        return cls(backend, live, meta, ef_search)

    def version(self) -> str:
        """The version published now (one alias lookup)."""
        return self.backend.version() or ""

    def dense_sets(self) -> dict[str, DenseSpec]:
        """The named dense sets this version holds."""
        return {n: DenseSpec(n, s["model_id"], int(s["dim"])) for n, s in self.meta["dense"].items()}

    def check_model(self, model_id: str, dim: int, name: str = DEFAULT_DENSE) -> None:
        """IndexMismatchError unless set `name` was filled by this model and dimension."""
        held = self.dense_sets().get(name)
        if held is None or (held.model_id, held.dim) != (model_id, dim):
            have = f"{held.model_id} (dim {held.dim})" if held else "no such vector set"
            raise IndexMismatchError(f"{self.backend.where()} was built with {have} for vector set {name!r} but the "
                                     f"embedder is {model_id} (dim {dim}); re-run rag ingest with --rebuild")

    def prepare(self) -> None:
        """Load the note list (filters resolve file globs and locations against it)."""
        self.notes()

    def notes(self) -> list[NoteMeta]:
        """Folder, title and tags of every note, by source (read once: a version never changes)."""
        with self._lock:
            if self._notes is None:
                self._notes = sorted((d.meta() for d in self.backend.docs(self.collection)), key=lambda n: n.source)
            return self._notes

    def sources(self) -> list[str]:
        """Every note path in the index, relative to its ingested root."""
        return [n.source for n in self.notes()]

    def document_text(self, source: str) -> str:
        """The loaded text of a note."""
        found = self.client.retrieve(self.collection, [points.doc_id(source)], with_payload=["text"])
        if not found:
            raise NotFoundError(f"no note {source!r} in the index")
        return found[0].payload["text"]

    def document_slice(self, source: str, start: int, end: int) -> str:
        """document_text(source)[start:end] (a payload is read whole: Qdrant has no partial payload reads)."""
        start = max(start, 0)
        return self.document_text(source)[start:max(start, end)]

    def count(self) -> int:
        """Number of stored (deduplicated) chunks."""
        return int(self.meta.get("chunks", 0))

    def info(self) -> dict:
        """Model, sizes, index type and ingested roots."""
        sets = self.dense_sets()
        roots = self.meta.get("roots", [])
        return {"store": self.kind, "model_id": sets[DEFAULT_DENSE].model_id, "dim": sets[DEFAULT_DENSE].dim,
                "dense": {n: {"model_id": s.model_id, "dim": s.dim} for n, s in sets.items()},
                "chunks": self.count(), "notes": int(self.meta.get("notes", 0)), "index_type": "qdrant",
                "root": roots[0] if len(roots) == 1 else roots, "version": self.collection,
                "location": self.backend.where(), "created": self.meta.get("created"),
                "updated": self.meta.get("updated")}

    def _scroll(self, flt, with_payload=True, with_vectors=False) -> list:
        out, offset = [], None
        while True:
            page, offset = self.client.scroll(self.collection, scroll_filter=flt, limit=256, offset=offset,
                                              with_payload=with_payload, with_vectors=with_vectors)
            out += page
            if offset is None:
                return out

    def get_chunk(self, chunk_id: str) -> Chunk:
        """The chunk with this id (NotFoundError if absent)."""
        found = self.chunks([chunk_id])
        if not found:
            raise NotFoundError(f"no chunk {chunk_id!r} in the index")
        return found[0]

    def chunks(self, ids: list[str]) -> list[Chunk]:
        """Chunks by chunk_id, in the given order (unknown ids are skipped)."""
        if not ids:
            return []
        m = qc.models()
        flt = m.Filter(must=[m.FieldCondition(key="chunk_id", match=m.MatchAny(any=list(ids)))])
        found = {p.payload["chunk_id"]: points.chunk_from(p.payload) for p in self._scroll(flt)}
        return [found[c] for c in ids if c in found]

    def by_vector_ids(self, vids: list[int]) -> dict[int, Chunk]:
        """Vector id -> Chunk."""
        found = self.client.retrieve(self.collection, [int(v) for v in vids], with_payload=True)
        return {int(p.id): points.chunk_from(p.payload) for p in found if p.payload.get("kind") == "chunk"}

    def vectors_for(self, vids: list[int], name: str = DEFAULT_DENSE) -> np.ndarray:
        """Stored vectors of set `name` for these vector ids."""
        found = {int(p.id): p.vector[name] for p in self.client.retrieve(self.collection, [int(v) for v in vids],
                                                                          with_vectors=[name])}
        dim = self.dense_sets()[name].dim
        return np.asarray([found[int(v)] for v in vids], dtype=np.float32).reshape(len(vids), dim)

    def unit_vectors(self, hashes: list[str], name: str = DEFAULT_DENSE) -> dict[str, np.ndarray]:
        """Evidence-unit text hash -> vector of set `name` embedded at ingest (the hashes found)."""
        if not hashes:
            return {}
        m = qc.models()
        wanted = set(hashes)
        flt = m.Filter(must=[m.FieldCondition(key="unit_hashes", match=m.MatchAny(any=sorted(wanted)))])
        out: dict[str, np.ndarray] = {}
        for p in self._scroll(flt, with_payload=["unit_hashes"], with_vectors=[name + qc.UNITS_SUFFIX]):
            for h, v in zip(p.payload["unit_hashes"], (p.vector or {}).get(name + qc.UNITS_SUFFIX) or []):
                if h in wanted:
                    out[h] = np.asarray(v, dtype=np.float32)
        return out

    def allowed_sources(self, filters: Filters | None) -> set[str] | None:
        """The notes inside `filters` (None without filters)."""
        return {n.source for n in self.notes() if filters.matches(n)} if filters else None

    def search_vectors(self, query: np.ndarray, n: int, exact: bool | None = None, filters: Filters | None = None,
                       name: str = DEFAULT_DENSE) -> list[tuple[int, float]]:
        """Top-n (vector id, cosine) in set `name` (Qdrant's HNSW unless exact=True), inside `filters`."""
        res = self.client.query_points(self.collection, query=np.asarray(query, dtype=np.float32).tolist(),
                                       using=name, limit=n, query_filter=points.scope(filters, self.notes()),
                                       search_params=qc.search_params(self.backend.server, self.ef_search,
                                                                      bool(exact)))
        return [(int(p.id), float(p.score)) for p in res.points]

    def search(self, request: SearchRequest) -> list[SearchResult]:
        """Hybrid, dense or sparse search in the engine; see the module docstring."""
        from rag.index.qdrant.query import run_search

        return run_search(self, request)

    def close(self) -> None:
        """Nothing to release: the client is shared by the process."""
