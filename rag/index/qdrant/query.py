"""One retrieval on Qdrant: the batch of queries for a mode, and SearchResults from the points it returns."""
from __future__ import annotations

import numpy as np

from rag.core.types import SearchResult
from rag.index.fusion import top_with_leaders
from rag.index.qdrant import client as qc
from rag.index.qdrant import points, sparse
from rag.index.store.base import SearchRequest


def run_search(store, request: SearchRequest) -> list[SearchResult]:
    """Top-k chunks of `store` for `request`: fused in the engine (hybrid), or one side alone."""
    m = qc.models()
    s, k, name = request.settings, request.k, request.dense
    n = max(s.candidates, k)
    flt = points.scope(request.filters, store.notes())
    params = qc.search_params(store.backend.server, store.ef_search)
    dense_q = np.asarray(request.vector, dtype=np.float32).tolist()
    idx, vals = sparse.query_vector(request.text)
    sparse_q = m.SparseVector(indices=idx, values=vals) if idx else None

    def side(query, using, limit, payload=False):
        return m.QueryRequest(query=query, using=using, filter=flt, limit=limit, params=params,
                              with_payload=payload, with_vector=[name] if payload else False)

    leaders = s.fusion_leaders
    if request.mode == "dense":
        batch = [side(dense_q, name, k, payload=True)]
    elif request.mode == "bm25":
        if sparse_q is None:
            return []
        batch = [side(sparse_q, qc.SPARSE, k, payload=True)]
    else:
        prefetch = [m.Prefetch(query=dense_q, using=name, filter=flt, limit=n, params=params)]
        if sparse_q is not None:
            prefetch.append(m.Prefetch(query=sparse_q, using=qc.SPARSE, filter=flt, limit=n))
        weights = None if s.dense_weight == s.bm25_weight == 1.0 else [s.dense_weight, s.bm25_weight][:len(prefetch)]
        fused = m.QueryRequest(prefetch=prefetch, query=m.RrfQuery(rrf=m.Rrf(k=s.rrf_k + 1, weights=weights)),
                               limit=n, with_payload=True, with_vector=[name])
        batch = [fused] + ([side(dense_q, name, leaders)] + ([side(sparse_q, qc.SPARSE, leaders)] if sparse_q else [])
                           if leaders else [])
    responses = store.client.query_batch_points(store.collection, batch)
    hits = sorted(responses[0].points, key=lambda p: (-p.score, int(p.id)))  # ties by id, as rag.index.fusion.rrf
    ranked = [int(p.id) for p in hits]
    if request.mode == "hybrid" and leaders:
        top = top_with_leaders([(i, 0.0) for i in ranked], [[int(p.id) for p in r.points] for r in responses[1:]],
                               k, leaders)
    else:
        top = ranked[:k]
    by_id = {int(p.id): p for p in hits}
    allowed = store.allowed_sources(request.filters)
    qvec = np.asarray(request.vector, dtype=np.float32)
    out = []
    for vid in top:
        p = by_id[vid]
        chunk = points.chunk_from(p.payload)
        cosine = float(np.dot(qvec, np.asarray(p.vector[name], dtype=np.float32)))
        out.append(SearchResult(chunk=chunk if allowed is None else chunk.located_in(allowed), score=float(p.score),
                                dense_score=cosine, bm25_score=float(p.score) if request.mode == "bm25" else None))
    return out
