"""The index store behind one interface (base.py): FAISS + SQLite in the index folder (default), or Qdrant.

`open_backend(settings)` picks the engine from settings.store and checks the index folder agrees (it records which
store holds the data); `open_store(settings)` opens the published version for reading. IndexStore and IndexWriter
(the FAISS ones) are imported lazily so that callers needing only the manifest (an unchanged re-ingest) do not pay
for importing faiss and numpy.
"""
from __future__ import annotations

from rag.index.store.db import DEFAULT_DENSE, DocRecord, make_chunk_id, text_hash
from rag.index.store.layout import IndexLock

__all__ = ["DEFAULT_DENSE", "DocRecord", "IndexLock", "IndexStore", "IndexWriter", "make_chunk_id", "open_backend",
           "open_store", "text_hash"]


def open_backend(settings):
    """The backend named by settings.store (`--store` / RAG_STORE) for settings.index_dir."""
    from rag.index.store.marker import check_marker

    check_marker(settings)
    if settings.store == "qdrant":
        from rag.index.qdrant.backend import QdrantBackend

        return QdrantBackend(settings)
    from rag.index.store.faiss_backend import FaissBackend

    return FaissBackend(settings.index_path)


def open_store(settings):
    """A reader of the published version (IndexNotFoundError when there is none)."""
    return open_backend(settings).open_reader(settings.retrieval.hnsw_ef_search)


def __getattr__(name: str):
    if name == "IndexStore":
        from rag.index.store.reader import IndexStore
        return IndexStore
    if name == "IndexWriter":
        from rag.index.store.writer import IndexWriter
        return IndexWriter
    raise AttributeError(f"module 'rag.index.store' has no attribute {name!r}")
