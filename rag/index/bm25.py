"""BM25 over chunk text, built in memory at open time from SQLite rows (nothing pickled).

Scores are bm25s's (Lucene variant, k1=1.5, b=0.75, float32) bit for bit (tests/rag/index/test_bm25.py), computed
with numpy alone: bm25s imports scipy.sparse, about 0.3 s of every cold `ask` on 2 cores.

Words come from rag.core.text (word_parts), but the stop list is BM25's own on purpose: the shared list is made for
support scoring and also drops words a keyword search needs ("use", "mean", "type", "one", "only"...). With it, dev
retrieval (../shared/eval/dev_qa.jsonl, answerable questions, k=10) fell: BM25 hit@1 0.837 -> 0.796, hybrid hit@1
0.857 -> 0.837, hybrid MRR@10 0.897 -> 0.889, 28 of 49 hybrid top-5 lists changed.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from rag.core.text import word_parts

STOPWORDS = frozenset(
    "a an and are as at be been but by can do does for from had has have how i if in into is it its "
    "of on or so such than that the their them then there these they this to was were what when where "
    "which while who why will with you your".split())
EMPTY = "\u2205"   # the one token of a chunk with no indexable word
K1, B = 1.5, 0.75


def tokenize(text: str) -> list[str]:
    """Lower-cased words without BM25's stop words."""
    return [w for w in word_parts(text.lower()) if w not in STOPWORDS]


def _postings(docs: list[list[str]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """term -> (row indices, float32 scores), with bm25s's arithmetic: float64 idf and length norm, float32 tf."""
    n = len(docs)
    avg_len = np.array([len(d) for d in docs]).mean()
    df = Counter(t for d in docs for t in set(d))
    idf = {t: np.float32(math.log(1 + (n - f + 0.5) / (f + 0.5))) for t, f in df.items()}
    rows: dict[str, list[int]] = {t: [] for t in df}
    vals: dict[str, list[np.float32]] = {t: [] for t in df}
    for row, doc in enumerate(docs):
        counts = Counter(doc)
        tf = np.array(list(counts.values()), dtype=np.float32)
        tfc = tf / (K1 * ((1 - B) + B * len(doc) / avg_len) + tf)
        scores = (np.array([idf[t] for t in counts], dtype=np.float32) * tfc).astype(np.float32)
        for t, s in zip(counts, scores):
            rows[t].append(row)
            vals[t].append(s)
    return {t: (np.array(rows[t], dtype=np.int64), np.array(vals[t], dtype=np.float32)) for t in df}


class BM25Index:
    """Keyword scoring of chunks; ids are the store's vector ids."""

    def __init__(self, ids: list[int], texts: list[str]):
        self.ids = np.asarray(ids, dtype=np.int64)
        self.vocab = _postings([tokenize(t) or [EMPTY] for t in texts]) if texts else {}
        self._pos = {int(v): i for i, v in enumerate(self.ids)}

    def scores(self, query: str) -> np.ndarray | None:
        """BM25 score of every chunk (row order of `ids`), or None when no query term is indexed."""
        terms = [t for t in tokenize(query) if t in self.vocab]
        if not terms:
            return None
        out = np.zeros(len(self.ids), dtype=np.float32)
        for t in terms:   # query order, repeats included, float32 sums: bm25s's order of additions
            rows, vals = self.vocab[t]
            out[rows] += vals
        return out

    def restrict(self, scores: np.ndarray, vids: np.ndarray) -> np.ndarray:
        """Scores with every row outside `vids` set to 0 (filtered search: only allowed chunks can rank)."""
        keep = np.zeros(len(self.ids), dtype=bool)
        keep[[self._pos[int(v)] for v in vids if int(v) in self._pos]] = True
        return np.where(keep, scores, np.float32(0))

    def top(self, scores: np.ndarray | None, n: int) -> list[tuple[int, float]]:
        """Top-n (vector id, score) with a positive score."""
        if scores is None or n <= 0:
            return []
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.ids[i]), float(scores[i])) for i in top if scores[i] > 0]

    def search(self, query: str, n: int) -> list[tuple[int, float]]:
        """Top-n (vector id, BM25 score) with a positive score."""
        return self.top(self.scores(query), n)

    def lookup(self, scores: np.ndarray | None, vids: list[int]) -> dict[int, float]:
        """Scores of specific chunks (0 when no term matches)."""
        if scores is None:
            return {v: 0.0 for v in vids}
        return {v: float(scores[self._pos[v]]) if v in self._pos else 0.0 for v in vids}
