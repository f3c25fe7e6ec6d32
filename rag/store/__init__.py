"""The index: FAISS vectors + SQLite rows, versioned on disk with atomic swaps.

IndexStore and IndexWriter are imported lazily so that callers needing only the manifest
(an unchanged re-ingest) do not pay for importing faiss and numpy.
"""
from rag.store.db import DocRecord, make_chunk_id, normalize, text_hash
from rag.store.layout import IndexLock

__all__ = ["DocRecord", "IndexLock", "IndexStore", "IndexWriter", "make_chunk_id", "normalize", "text_hash"]


def __getattr__(name: str):
    if name == "IndexStore":
        from rag.store.reader import IndexStore
        return IndexStore
    if name == "IndexWriter":
        from rag.store.writer import IndexWriter
        return IndexWriter
    raise AttributeError(f"module 'rag.store' has no attribute {name!r}")
