"""The index: FAISS vectors + SQLite rows, versioned on disk with atomic swaps."""
from rag.store.db import DocRecord, make_chunk_id, normalize, text_hash
from rag.store.layout import IndexLock
from rag.store.reader import IndexStore
from rag.store.writer import IndexWriter

__all__ = ["DocRecord", "IndexLock", "IndexStore", "IndexWriter", "make_chunk_id", "normalize", "text_hash"]
