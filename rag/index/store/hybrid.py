"""In-process hybrid search of the FAISS store: dense (FAISS, one ranking per dense set asked for) + BM25, fused with
weighted reciprocal rank fusion (a chunk in a language only another dense set reads is fused on that set's votes).

Filters restrict both sides inside the search: FAISS gets an IDSelector of the allowed chunk ids, BM25 scores only
the allowed rows (IDF stays corpus-wide, as in Qdrant's sparse search), so k results come back when k chunks match.
"""
from __future__ import annotations

import numpy as np

from rag.core.types import SearchResult
from rag.index.fusion import rrf, top_with_leaders
from rag.index.store.base import SearchRequest


def hybrid_search(store, bm25, request: SearchRequest) -> list[SearchResult]:
    """Top-k chunks of `store` for `request`, deduplicated by chunk; dense_score is always set `dense`'s cosine."""
    s, k, mode = request.settings, request.k, request.mode
    n = max(s.candidates, k)
    allowed = store.allowed(request.filters)
    sets = {request.dense: request.vector, **request.more_dense} if mode != "bm25" else {}
    rankings = [_ranking(store, request, name, v, n) for name, v in sets.items()]
    dense = rankings[0] if rankings else []
    bm25_all = bm25.scores(request.text)
    if allowed is not None and bm25_all is not None:
        bm25_all = bm25.restrict(bm25_all, allowed[0])
    sparse = bm25.top(bm25_all, n) if mode != "dense" else []
    weighted = [([i for i, _ in r], s.dense_weight) for r in rankings]
    weighted += [([i for i, _ in sparse], s.bm25_weight)] if mode == "hybrid" else []
    if len(weighted) > 1:
        readers = frozenset(j for j, name in enumerate(sets) if name != request.dense)
        foreign = frozenset(int(i) for name in sets if name != request.dense for i in store.foreign_ids(name))
        ranked = rrf(weighted, k=s.rrf_k, foreign=foreign, readers=readers)
        top = top_with_leaders(ranked, [ids for ids, _ in weighted], k, s.fusion_leaders)
    else:
        ranked = dense if mode == "dense" else sparse
        top = [i for i, _ in ranked[:k]]
    fused = dict(ranked)
    cos = _cosines(store, request, top, dict(dense))
    bm = bm25.lookup(bm25_all, top)
    chunks = store.by_vector_ids(top)
    return [SearchResult(chunk=chunks[i] if allowed is None else chunks[i].located_in(allowed[1]),
                         score=float(fused[i]), dense_score=cos[i], bm25_score=bm[i])
            for i in top if i in chunks]


def _ranking(store, request: SearchRequest, name: str, vector: np.ndarray, n: int) -> list[tuple[int, float]]:
    """Top-n (vector id, score) of dense set `name`: the cosine; for the chunks a set other than the default one holds
    unit vectors for (those in a language MiniLM does not read), the better of the chunk's cosine and its best unit's
    (a long chunk in another language is as close as its closest sentence), plus settings.foreign_boost."""
    hits = store.search_vectors(vector, n, filters=request.filters, name=name)
    if name == request.dense:
        return hits
    owners, units = store.foreign_units(name)
    allowed = store.allowed(request.filters)
    keep = np.isin(owners, allowed[0]) if allowed is not None else np.ones(len(owners), dtype=bool)
    owners, units = owners[keep], units[keep]
    if not len(owners):
        return hits
    query = np.asarray(vector, dtype=np.float32)
    foreign, first = np.unique(owners, return_index=True)
    best = np.maximum.reduceat(units @ query, first)                     # owners ascending: one run per chunk
    sims = np.maximum(store.vectors_for([int(i) for i in foreign], name) @ query, best)
    scores = dict(hits)
    scores.update((int(i), float(s) + request.settings.foreign_boost) for i, s in zip(foreign, sims))
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def _cosines(store, request: SearchRequest, vids: list[int], known: dict[int, float]) -> dict[int, float]:
    """Cosine of query and each chunk; stored vectors are reconstructed where search did not score them."""
    missing = [i for i in vids if i not in known]
    out = {i: float(known[i]) for i in vids if i in known}
    if missing:
        sims = store.vectors_for(missing, request.dense) @ request.vector.astype(np.float32)
        out.update({i: float(s) for i, s in zip(missing, sims)})
    return out
