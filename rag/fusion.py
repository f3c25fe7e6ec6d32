"""Weighted reciprocal rank fusion of several ranked id lists."""
from __future__ import annotations


def rrf(rankings: list[tuple[list[int], float]], k: int = 60) -> list[tuple[int, float]]:
    """Fuse (ranked ids, weight) lists: score(id) = sum of weight / (k + rank), rank from 1; best first."""
    scores: dict[int, float] = {}
    for ids, weight in rankings:
        for rank, item in enumerate(ids, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
