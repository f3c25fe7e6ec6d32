"""Retrieval metrics over ranked passage lists: support hits, hit@k, MRR@k, nDCG@k.

Part of the judge: its normaliser and word pattern are its own on purpose (not rag.core.text's), so what counts
as a hit does not move when the chain's text handling does.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence

_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+", re.UNICODE)


def normalise(text: str) -> str:
    """Unicode NFKC, lower case, every whitespace run folded to one space, trimmed."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def _words(text: str) -> list[str]:
    return _WORD.findall(normalise(text))


def _longest_run(chunk_words: list[str], support_words: list[str]) -> int:
    """Length of the longest contiguous run of support words that also appears contiguously in the chunk."""
    best = 0
    prev = [0] * (len(support_words) + 1)
    for cw in chunk_words:
        cur = [0] * (len(support_words) + 1)
        for j, sw in enumerate(support_words, start=1):
            if cw == sw:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def support_hit(chunk_text: str, support: Sequence[str], min_word_fraction: float = 0.6) -> bool:
    """True when the chunk contains a support string, or a contiguous run of most of its words.

    The run rule covers a support passage that a chunk boundary cut: the chunk then holds a
    prefix or suffix of it. Runs are counted in words, so punctuation and cleaning differences
    do not matter.
    """
    chunk_norm = normalise(chunk_text)
    chunk_words = None
    for s in support:
        s_norm = normalise(s)
        if not s_norm:
            continue
        if s_norm in chunk_norm:
            return True
        s_words = _words(s)
        if not s_words:
            continue
        if chunk_words is None:
            chunk_words = _words(chunk_text)
        if _longest_run(chunk_words, s_words) >= max(1, math.ceil(min_word_fraction * len(s_words))):
            return True
    return False


def relevance(texts: Sequence[str], support: Sequence[str], min_word_fraction: float = 0.6) -> list[bool]:
    """Per-rank relevance flags of retrieved chunk texts for one question."""
    return [support_hit(t, support, min_word_fraction) for t in texts]


def first_hit_rank(relevant: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant item, or None."""
    for i, rel in enumerate(relevant, start=1):
        if rel:
            return i
    return None


def hit_at_k(relevant: Sequence[bool], k: int) -> float:
    """1.0 if any of the top k is relevant."""
    return 1.0 if any(relevant[:k]) else 0.0


def mrr_at_k(relevant: Sequence[bool], k: int) -> float:
    """Reciprocal rank of the first relevant item within the top k, else 0."""
    rank = first_hit_rank(relevant[:k])
    return 0.0 if rank is None else 1.0 / rank


def ndcg_at_k(relevant: Sequence[bool], k: int, n_relevant: int | None = None) -> float:
    """Binary-gain nDCG@k; the ideal ranking puts min(n_relevant, k) relevant items first.

    n_relevant defaults to the number of relevant items in the list (all we know from a ranked
    list alone); pass the true count when known.
    """
    top = list(relevant[:k])
    dcg = sum(1.0 / math.log2(i + 2) for i, rel in enumerate(top) if rel)
    total = sum(1 for rel in relevant if rel) if n_relevant is None else n_relevant
    ideal_n = min(total, k)
    if ideal_n == 0:
        return 0.0
    idcg = sum(1.0 / math.log2(i + 2) for i in range(ideal_n))
    return dcg / idcg


def retrieval_scores(texts: Sequence[str], support: Sequence[str], min_word_fraction: float = 0.6,
                     top5: Sequence[str] | None = None) -> dict:
    """hit@1, hit@5, mrr@10, ndcg@10 and the first hit rank for one question's ranked chunk texts; hit@1 and hit@5
    from `top5` where given: what a search for five returns, which need not be the first five of ten (the fused
    ranking keeps each retriever's leaders in whatever k is asked)."""
    rel = relevance(texts, support, min_word_fraction)
    head = rel if top5 is None else relevance(top5, support, min_word_fraction)
    return {
        "hit@1": hit_at_k(head, 1),
        "hit@5": hit_at_k(head, 5),
        "mrr@10": mrr_at_k(rel, 10),
        "ndcg@10": ndcg_at_k(rel, 10),
        "first_hit_rank": first_hit_rank(rel),
    }


def mean_scores(rows: Sequence[dict], keys: Sequence[str] = ("hit@1", "hit@5", "mrr@10", "ndcg@10")) -> dict:
    """Mean of each key over per-question score rows (0.0 for no rows)."""
    return {k: (sum(r[k] for r in rows) / len(rows) if rows else 0.0) for k in keys}
