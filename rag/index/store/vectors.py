"""FAISS part of the index: exact inner-product vectors with stable int64 ids, plus an optional HNSW copy."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import faiss
import numpy as np

_OMP_LOCK = threading.Lock()   # the OpenMP thread count is process-global: toggle it under one lock


def empty_exact(dim: int) -> faiss.IndexIDMap2:
    """Exact cosine search over unit vectors; ids survive deletes of other ids."""
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def read(path: Path) -> faiss.Index:
    """Load an index written by `write`."""
    return faiss.read_index(str(path))


def write(index: faiss.Index, path: Path) -> None:
    """Write an index file and flush it to disk."""
    faiss.write_index(index, str(path))
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def ids_of(index: faiss.IndexIDMap2) -> np.ndarray:
    """The int64 ids held by an id-mapped index, in storage order."""
    return faiss.vector_to_array(index.id_map).astype(np.int64)


def add(index: faiss.IndexIDMap2, ids: np.ndarray, vectors: np.ndarray) -> None:
    """Add unit vectors under explicit ids."""
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))


def remove(index: faiss.IndexIDMap2, ids: list[int]) -> int:
    """Remove ids; returns how many were present."""
    if not ids:
        return 0
    return int(index.remove_ids(np.asarray(ids, dtype=np.int64)))


def build_hnsw(exact: faiss.IndexIDMap2, m: int, ef_construction: int = 80) -> faiss.IndexIDMap2:
    """An HNSW (inner product) index holding the same ids and vectors as `exact`."""
    dim = exact.d
    hnsw = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = ef_construction
    out = faiss.IndexIDMap2(hnsw)
    if exact.ntotal:
        vecs = exact.index.reconstruct_n(0, exact.ntotal)
        out.add_with_ids(vecs, ids_of(exact))
    return out


def set_ef_search(index: faiss.Index, ef: int) -> None:
    """Set efSearch on an id-mapped HNSW index."""
    faiss.downcast_index(index.index).hnsw.efSearch = ef


def search(index: faiss.Index, query: np.ndarray, n: int, allowed: np.ndarray | None = None) -> list[tuple[int, float]]:
    """Top-n (id, inner product) for one query vector, among `allowed` ids when given (an IDSelector inside the
    search), on one OpenMP thread (one query gains nothing from more; on a busy 2-core machine a second thread made
    exact search over 10k chunks 20x slower)."""
    if index.ntotal == 0 or n <= 0:
        return []
    params = None if allowed is None else faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
    with _OMP_LOCK:
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32),
                                       min(n, index.ntotal), params=params)
        finally:
            faiss.omp_set_num_threads(threads)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def reconstruct(index: faiss.IndexIDMap2, ids: list[int]) -> np.ndarray:
    """Stored vectors for ids -> (len(ids), dim)."""
    if not ids:
        return np.zeros((0, index.d), dtype=np.float32)
    return np.stack([index.reconstruct(int(i)) for i in ids]).astype(np.float32)
