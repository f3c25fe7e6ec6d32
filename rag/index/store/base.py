"""The store interface: what ingest, the retriever, the chain and the service need from an index, whichever
engine holds it (FAISS + SQLite in the index folder, or Qdrant).

A backend is where an index lives (rag.index.store.open_backend picks it from settings). A reader is one published
version, immutable while it is open: several readers (processes) may serve it at once, and `version()` tells
cheaply whether a newer one has been published since (poll it, then open a new reader and swap). A writer builds
the next version beside the live one and publishes it atomically on `commit`; readers never see a half-written
version, and an interrupted write leaves the previous one live.

Chunks are stored once per distinct text (`text_hash`) under an integer vector id that is never reused, with every
place the text occurs (locations). Each chunk may hold vectors in several named dense sets (DenseSpec: the
default "minilm", later e.g. "e5"), each recorded with the model and dimension that filled it, plus the vectors
of its evidence sentences ("unit vectors") per set.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from rag.core.settings import RetrievalMode, RetrievalSettings
from rag.core.types import Chunk, Filters, NoteMeta, SearchResult
from rag.index.store.db import DEFAULT_DENSE, DocRecord


@dataclass(frozen=True)
class DenseSpec:
    """A named dense vector set and the fingerprint of the embedder that fills it."""

    name: str
    model_id: str
    dim: int


@dataclass(frozen=True)
class SearchRequest:
    """One retrieval: the query text (sparse side), its embedding in set `dense`, k, mode, fusion settings, filters.
    `more_dense` (set name -> the query's embedding in that set) adds further dense rankings to the fusion (hybrid:
    RRF of every dense ranking and BM25; dense: RRF of the dense rankings); scores that read a cosine
    (`dense_score`) stay set `dense`'s."""

    text: str
    vector: np.ndarray
    k: int
    mode: RetrievalMode = "hybrid"
    settings: RetrievalSettings = field(default_factory=RetrievalSettings)
    filters: Filters = field(default_factory=Filters)
    dense: str = DEFAULT_DENSE
    more_dense: dict[str, np.ndarray] = field(default_factory=dict)


class StoreReader(Protocol):
    """A read-only view of one published index version."""

    kind: str                   # "faiss" | "qdrant"
    opened_version: str         # the version this reader serves

    def version(self) -> str:
        """The version published now (cheap: one small file read, or one alias lookup); differs from
        `opened_version` once a writer has published a newer one."""

    def search(self, request: SearchRequest) -> list[SearchResult]:
        """Top-k chunks in rank order; filters apply inside retrieval, so k come back when enough chunks match.
        Scores: hybrid -> fused RRF score, dense -> cosine, bm25 -> sparse score; dense_score is always the cosine."""

    def search_vectors(self, query: np.ndarray, n: int, exact: bool | None = None, filters: Filters | None = None,
                       name: str = DEFAULT_DENSE) -> list[tuple[int, float]]:
        """Top-n (vector id, cosine) in dense set `name`."""

    def vectors_for(self, vids: list[int], name: str = DEFAULT_DENSE) -> np.ndarray:
        """Stored vectors of set `name` for these vector ids -> (len(vids), dim)."""

    def check_model(self, model_id: str, dim: int, name: str = DEFAULT_DENSE) -> None:
        """IndexMismatchError unless set `name` was filled by this model and dimension."""

    def dense_sets(self) -> dict[str, DenseSpec]:
        """The named dense sets this version holds."""

    def unit_vectors(self, hashes: list[str], name: str = DEFAULT_DENSE) -> dict[str, np.ndarray]:
        """Evidence-unit text hash -> vector of set `name` embedded at ingest (the hashes found)."""

    def by_vector_ids(self, vids: list[int]) -> dict[int, Chunk]: ...
    def get_chunk(self, chunk_id: str) -> Chunk: ...
    def chunks(self, ids: list[str]) -> list[Chunk]: ...
    def document_text(self, source: str) -> str: ...
    def document_slice(self, source: str, start: int, end: int) -> str: ...
    def sources(self) -> list[str]: ...
    def notes(self) -> list[NoteMeta]: ...
    def count(self) -> int: ...
    def info(self) -> dict: ...
    def close(self) -> None: ...


class StoreWriter(Protocol):
    """The next version being built: changes are invisible until `commit` publishes them all at once."""

    embedded: int                # chunks added with new vectors

    def manifest(self) -> dict[str, DocRecord]: ...
    def existing(self, hashes: list[str]) -> dict[str, int]:
        """text_hash -> vector id for chunks already stored (reused, not re-embedded)."""

    def remove_document(self, source: str) -> None: ...
    def put_document(self, doc: DocRecord, chunks: list[Chunk], new_vectors: dict[str, np.ndarray],
                     new_units: dict[str, list[tuple[str, np.ndarray]]] | None = None,
                     other_sets: dict[str, dict[str, np.ndarray]] | None = None,
                     other_units: dict[str, dict[str, list[tuple[str, np.ndarray]]]] | None = None) -> None:
        """Store a note and its chunks. `new_vectors`: text_hash -> default-set vector for chunks not stored yet;
        `new_units`: text_hash -> (unit hash, vector) of their evidence units; `other_sets`: set name ->
        text_hash -> vector for the writer's other dense sets; `other_units`: set name -> the units' vectors in it
        (same units, same order)."""

    def missing_vectors(self, name: str) -> dict[str, Chunk]:
        """text_hash -> stored chunk without a vector in set `name` (what a newly added set must backfill)."""

    def add_vectors(self, name: str, by_hash: dict[str, np.ndarray],
                    units: dict[str, list[tuple[str, np.ndarray]]] | None = None) -> None:
        """Fill set `name` for stored chunks: text_hash -> vector, and text_hash -> its units' vectors in the set."""

    def add_roots(self, roots: list[str]) -> None: ...
    def count(self) -> int: ...
    def commit(self) -> str:
        """Publish; returns the new version id."""

    def abort(self) -> None: ...


class StoreBackend(Protocol):
    """Where an index lives; opens readers and writers."""

    kind: str

    def exists(self) -> bool:
        """Whether a version has been published."""

    def version(self) -> str | None:
        """The published version id (None when there is none)."""

    def lock(self) -> AbstractContextManager:
        """The exclusive ingest lock (one writer at a time)."""

    def read_state(self, dense: DenseSpec, rebuild: bool) -> tuple[dict[str, DocRecord], int]:
        """(manifest, chunk count) of the live version, every note listed as changed where the version predates note
        metadata or was cut by another SPLITTER_VERSION; checks the embedder fingerprint. Call under the lock."""

    def dense_sets(self) -> dict[str, DenseSpec]:
        """The named dense sets of the published version ({} when there is none): cheap, no vectors read."""

    def units_current(self) -> bool:
        """Whether the published version's unit vectors were embedded as this version embeds them
        (rag.index.units.UNIT_VECTORS); True when there is none."""

    def open_reader(self, ef_search: int = 128) -> StoreReader: ...

    def writer(self, dense: list[DenseSpec], retrieval: RetrievalSettings, rebuild: bool = False) -> StoreWriter:
        """A writer for the next version (the first spec is the default set). Call under the lock."""

    def clean_stale(self) -> None:
        """Drop what interrupted writes left behind. Call under the lock."""
