"""The index: FAISS vectors + SQLite rows, versioned on disk with atomic swaps.

IndexStore and IndexWriter are imported lazily so that callers needing only the manifest
(an unchanged re-ingest) do not pay for importing faiss and numpy.
"""
from rag.index.store.db import DocRecord, make_chunk_id, text_hash
from rag.index.store.layout import IndexLock

__all__ = ["DocRecord", "IndexLock", "IndexStore", "IndexWriter", "make_chunk_id", "text_hash"]


def __getattr__(name: str):
    if name == "IndexStore":
        from rag.index.store.reader import IndexStore
        return IndexStore
    if name == "IndexWriter":
        from rag.index.store.writer import IndexWriter
        return IndexWriter
    raise AttributeError(f"module 'rag.index.store' has no attribute {name!r}")
