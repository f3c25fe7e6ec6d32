"""One retrieval on Qdrant: the batch of queries for a mode, and SearchResults from the points it returns."""
from __future__ import annotations

import numpy as np

from rag.core.types import SearchResult
from rag.index.fusion import rrf, top_with_leaders
from rag.index.qdrant import client as qc
from rag.index.qdrant import points, sparse
from rag.index.store.base import SearchRequest


def run_search(store, request: SearchRequest) -> list[SearchResult]:
    """Top-k chunks of `store` for `request`: over several dense sets fused here, else fused in the engine (hybrid),
    or one side alone."""
    m = qc.models()
    s, k, name = request.settings, request.k, request.dense
    n = max(s.candidates, k)
    flt = points.scope(request.filters, store.notes())
    params = qc.search_params(store.backend.server, store.ef_search)
    dense_qs = {} if request.mode == "bm25" else {
        set_name: np.asarray(v, dtype=np.float32).tolist() for set_name, v in {name: request.vector,
                                                                               **request.more_dense}.items()}
    idx, vals = sparse.query_vector(request.text)
    sparse_q = m.SparseVector(indices=idx, values=vals) if idx and request.mode != "dense" else None

    def side(query, using, limit, payload=False):
        return m.QueryRequest(query=query, using=using, filter=flt, limit=limit, params=params,
                              with_payload=payload, with_vector=[name] if payload else False)

    if len(dense_qs) > 1:
        return _fused_here(store, request, flt, params, dense_qs, sparse_q, n)
    sides = [(q, using, s.dense_weight) for using, q in dense_qs.items()]
    sides += [(sparse_q, qc.SPARSE, s.bm25_weight)] if sparse_q is not None else []
    leaders = s.fusion_leaders
    fusing = len(sides) > 1 or (request.mode == "hybrid" and bool(sides))   # hybrid ranks by RRF even with one side
    if not sides:
        return []
    if not fusing:
        (query, using, _), = sides
        batch = [side(query, using, k, payload=True)]
    else:
        prefetch = [m.Prefetch(query=q, using=using, filter=flt, limit=n, params=params if using != qc.SPARSE
                               else None) for q, using, _ in sides]
        weights = [w for _, _, w in sides]
        fused = m.QueryRequest(prefetch=prefetch, query=m.RrfQuery(rrf=m.Rrf(
            k=s.rrf_k + 1, weights=None if set(weights) == {1.0} else weights)),
            limit=n, with_payload=True, with_vector=[name])
        batch = [fused] + ([side(q, using, leaders) for q, using, _ in sides] if leaders else [])
    responses = store.client.query_batch_points(store.collection, batch)
    hits = sorted(responses[0].points, key=lambda p: (-p.score, int(p.id)))  # ties by id, as rag.index.fusion.rrf
    ranked = [int(p.id) for p in hits]
    if fusing and leaders:
        top = top_with_leaders([(i, 0.0) for i in ranked], [[int(p.id) for p in r.points] for r in responses[1:]],
                               k, leaders)
    else:
        top = ranked[:k]
    return _results(store, request, top, {int(p.id): p for p in hits}, {int(p.id): float(p.score) for p in hits})


def _fused_here(store, request: SearchRequest, flt, params, dense_qs: dict, sparse_q, n: int) -> list[SearchResult]:
    """Several dense sets: every side ranked in one batch (plus, per set other than the default one, its chunks holding
    unit vectors: those MiniLM does not read, scored by the better of their cosine and their best unit's (the units
    multivector's max-sim), which get the foreign boost and are fused on that set's votes), fused here with
    rag.index.fusion as the FAISS store does (rag.index.store.hybrid), so both stores rank alike."""
    m = qc.models()
    s = request.settings
    batch = [m.QueryRequest(query=q, using=using, filter=flt, limit=n, params=params) for using, q in dense_qs.items()]
    boosted = [using for using in dense_qs if using != request.dense]
    for using in boosted:
        foreign = m.Filter(must=[*([flt] if flt is not None else []),
                                 m.HasVectorCondition(has_vector=using + qc.UNITS_SUFFIX)])
        batch.append(m.QueryRequest(query=dense_qs[using], using=using, filter=foreign, limit=n, params=params))
        batch.append(m.QueryRequest(query=[dense_qs[using]], using=using + qc.UNITS_SUFFIX,
                                    filter=foreign, limit=n,
                                    params=qc.search_params(store.backend.server, store.ef_search, exact=True)))
    if sparse_q is not None:
        batch.append(m.QueryRequest(query=sparse_q, using=qc.SPARSE, filter=flt, limit=n))
    responses = store.client.query_batch_points(store.collection, batch)
    ranked = {using: {int(p.id): float(p.score) for p in r.points} for using, r in zip(dense_qs, responses)}
    for j, using in enumerate(boosted):   # a foreign chunk: the better of its cosine and its best unit's (max-sim)
        chunk, unit = responses[len(dense_qs) + 2 * j], responses[len(dense_qs) + 2 * j + 1]
        best = {int(p.id): float(p.score) for p in chunk.points}
        for p in unit.points:
            best[int(p.id)] = max(best.get(int(p.id), float("-inf")), float(p.score))
        ranked[using].update((i, score + s.foreign_boost) for i, score in best.items())
    rankings = [([i for i, _ in sorted(sc.items(), key=lambda kv: (-kv[1], kv[0]))[:n]], s.dense_weight)
                for sc in ranked.values()]
    if sparse_q is not None:
        rankings.append(([int(p.id) for p in responses[-1].points], s.bm25_weight))
    elif request.mode == "hybrid":
        rankings.append(([], s.bm25_weight))
    foreign = frozenset(int(p.id) for r in responses[len(dense_qs):len(dense_qs) + 2 * len(boosted)] for p in r.points)
    readers = frozenset(j for j, using in enumerate(dense_qs) if using != request.dense)
    fused = rrf(rankings, k=s.rrf_k, foreign=foreign, readers=readers)
    top = top_with_leaders(fused, [ids for ids, _ in rankings], request.k, s.fusion_leaders)
    found = store.client.retrieve(store.collection, top, with_payload=True, with_vectors=[request.dense])
    by_id = {int(p.id): p for p in found}
    return _results(store, request, [i for i in top if i in by_id], by_id, dict(fused))


def _results(store, request: SearchRequest, top: list[int], by_id: dict, scores: dict[int, float],
             ) -> list[SearchResult]:
    """SearchResults for the ranked vector ids from their points (payload and the default set's vector)."""
    name = request.dense
    allowed = store.allowed_sources(request.filters)
    qvec = np.asarray(request.vector, dtype=np.float32)
    out = []
    for vid in top:
        p = by_id[vid]
        chunk = points.chunk_from(p.payload)
        cosine = float(np.dot(qvec, np.asarray(p.vector[name], dtype=np.float32)))
        out.append(SearchResult(chunk=chunk if allowed is None else chunk.located_in(allowed), score=scores[vid],
                                dense_score=cosine, bm25_score=scores[vid] if request.mode == "bm25" else None))
    return out
