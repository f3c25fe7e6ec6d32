"""BM25 over chunk text with bm25s, built in memory at open time from SQLite rows (nothing pickled)."""
from __future__ import annotations

import re

import bm25s
import numpy as np

_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    "a an and are as at be been but by can do does for from had has have how i if in into is it its "
    "of on or so such than that the their them then there these they this to was were what when where "
    "which while who why will with you your".split())


def tokenize(text: str) -> list[str]:
    """Lowercase word split without stopwords."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


class BM25Index:
    """Keyword scoring of chunks; ids are the store's vector ids."""

    def __init__(self, ids: list[int], texts: list[str]):
        self.ids = np.asarray(ids, dtype=np.int64)
        self.model = bm25s.BM25()
        if texts:
            self.model.index([tokenize(t) or ["\u2205"] for t in texts], show_progress=False)
        self.vocab = self.model.vocab_dict if texts else {}
        self._pos = {int(v): i for i, v in enumerate(self.ids)}

    def scores(self, query: str) -> np.ndarray | None:
        """BM25 score of every chunk (row order of `ids`), or None when no query term is indexed."""
        terms = [t for t in tokenize(query) if t in self.vocab]
        return self.model.get_scores(terms) if terms else None

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
