"""Weighted reciprocal rank fusion of several ranked id lists, and turn-taking of several ranked result lists."""
from __future__ import annotations

from rag.core.types import SearchResult


def rrf(rankings: list[tuple[list[int], float]], k: int = 60, foreign: frozenset[int] = frozenset(),
        readers: frozenset[int] = frozenset()) -> list[tuple[int, float]]:
    """Fuse (ranked ids, weight) lists: score(id) = sum of weight / (k + rank), rank from 1; best first.

    `foreign`: ids in a language only the rankings at the `readers` positions read (an Italian chunk for an English
    question: BM25 cannot match a word of it, MiniLM does not know its words). Where a reader ranks one, the other
    rankings' votes on it are left out and the readers' votes stand for all of them (scaled by total weight over the
    readers' weight): a vote that cannot be cast is missing, not a vote against."""
    total = sum(weight for _, weight in rankings)
    read = sum(weight for j, (_, weight) in enumerate(rankings) if j in readers)
    held = {i for j, (ids, _) in enumerate(rankings) if j in readers for i in ids} if read > 0 else set()
    unread = foreign & held   # readers without weight say nothing: votes stand as cast
    scale = total / read if read > 0 else 1.0
    scores: dict[int, float] = {}
    for j, (ids, weight) in enumerate(rankings):
        for rank, item in enumerate(ids, start=1):
            if item not in unread:
                scores[item] = scores.get(item, 0.0) + weight / (k + rank)
            elif j in readers:
                scores[item] = scores.get(item, 0.0) + scale * weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def top_with_leaders(fused: list[tuple[int, float]], rankings: list[list[int]], k: int,
                     leaders: int) -> list[int]:
    """The k best fused ids, where each ranking's first `leaders` ids get a place (in fused order), rank by rank
    (every ranking's first, then every ranking's second), in at most half of the k places (rounded up).

    RRF rewards agreement: a chunk that only one retriever ranks near the top (a paraphrase BM25 cannot
    see, a rare keyword the embedding blurs) can fall far down the fused list; leaders keep it in. The cap keeps
    the fusion deciding the rest: three rankings with two leaders each would otherwise fill five places alone.
    """
    by_rank = (ids[r] for r in range(leaders) for ids in rankings if r < len(ids))
    must = list(dict.fromkeys(by_rank))[:(k + 1) // 2]
    order = [i for i, _ in fused]
    chosen = set(must)
    for i in order:
        if len(chosen) >= k:
            break
        chosen.add(i)
    return [i for i in order if i in chosen]


def interleave(lists: list[list[SearchResult]], limit: int) -> list[SearchResult]:
    """The ranked lists taking turns, each chunk once, until `limit` results: on its turn a list gives its best chunk
    not yet in, so a list whose top chunks another list already gave still adds one of its own."""
    out: list[SearchResult] = []
    seen: set[str] = set()
    queues = [iter(results) for results in lists]
    while queues and len(out) < limit:
        for queue in list(queues):
            fresh = next((r for r in queue if r.chunk.chunk_id not in seen), None)
            if fresh is None:
                queues.remove(queue)
            elif len(out) < limit:
                seen.add(fresh.chunk.chunk_id)
                out.append(fresh)
    return out
