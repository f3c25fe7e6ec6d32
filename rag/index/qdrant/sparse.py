"""BM25 as Qdrant sparse vectors: Qdrant's IDF modifier supplies idf = ln(1 + (N - n + 0.5) / (n + 0.5)), the same
as rag.index.bm25 (bm25s's Lucene variant); the document side stores the length-normalised term frequency
tf / (tf + k1 * (1 - b + b * len / avgdl)) and the query side the count of each query term, so a sparse dot
product is the BM25 score (same tokenizer, same stop words).

avgdl is the mean chunk length (in tokens) when the collection lineage was first built (or rebuilt); later
incremental versions keep it, so scores drift from an exact BM25 as the corpus changes (`rag ingest --rebuild`
recomputes it).
"""
from __future__ import annotations

import hashlib
from collections import Counter

from rag.index.bm25 import EMPTY, K1, B, tokenize


def term_id(term: str) -> int:
    """A stable 32-bit index for a term (blake2b; collisions at 1e6 distinct terms: ~1e-4 expected pairs per 1e3)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "little")


def doc_terms(text: str) -> Counter:
    """Term counts of a chunk's 'heading + text' (a chunk with no indexable word gets the one EMPTY token)."""
    return Counter(tokenize(text) or [EMPTY])


def doc_vector(counts: Counter, avgdl: float) -> tuple[list[int], list[float]]:
    """(indices, values) of a chunk's sparse vector."""
    length = sum(counts.values())
    norm = K1 * ((1 - B) + B * length / max(avgdl, 1e-9))
    merged: dict[int, float] = {}
    for term, tf in counts.items():
        idx = term_id(term)
        merged[idx] = merged.get(idx, 0.0) + tf / (tf + norm)
    return list(merged), list(merged.values())


def query_vector(text: str) -> tuple[list[int], list[float]]:
    """(indices, values) of a query: each term's count (bm25s adds a repeated query term twice)."""
    merged: dict[int, float] = {}
    for term, count in Counter(tokenize(text)).items():
        idx = term_id(term)
        merged[idx] = merged.get(idx, 0.0) + float(count)
    return list(merged), list(merged.values())
