"""Evidence selection: split retrieved chunks into sentences, rank them against the question, number them."""
from __future__ import annotations

from dataclasses import dataclass

from rag.core.text import content_terms, squash
from rag.core.types import SearchResult
from rag.index.units import evidence_units


@dataclass
class Evidence:
    """One numbered evidence sentence: `text` is from chunk.text[start:end] with whitespace collapsed."""

    n: int
    text: str
    result: SearchResult
    start: int
    end: int
    score: float
    window: str = ""                           # the sentence with its neighbours, for support checks
    window_start: int = 0                      # chunk.text[window_start:window_end] holds the window
    window_end: int = 0

    @property
    def chunk(self):
        """The chunk this sentence came from."""
        return self.result.chunk


def lexical_overlap(question_terms: set[str], text: str) -> float:
    """Share of the question's content terms present in `text`."""
    if not question_terms:
        return 0.0
    return len(question_terms & content_terms(text)) / len(question_terms)


def select_evidence(question: str, results: list[SearchResult], embed, count_tokens,
                    max_sentences: int, token_budget: int,
                    weights: tuple[float, float, float] = (0.6, 0.4, 0.1), max_candidates: int = 40) -> list[Evidence]:
    """Rank every sentence of the retrieved chunks; keep the best, deduplicated, within the budget.

    A sentence opening with a pronoun is one unit with the sentence it refers back to, so a quote never
    starts with a dangling "It" and the referent's words count for its ranking.

    `embed(texts) -> (n, dim)` normalised vectors, the question first; `count_tokens(text) -> int`.
    Score = w_dense * cosine + w_lex * question-term coverage (sentence + heading) + w_rank * chunk prior, the
    prior being the chunk's retrieval score over the best one's (chunks tied in retrieval weigh the same);
    only the `max_candidates` best by the cheap (lexical + prior) part are embedded.
    """
    cands = []
    best = max((res.score for res in results), default=0.0)
    for res in results:
        text = res.chunk.text
        spans = evidence_units(text)
        for i, (a, b) in enumerate(spans):
            around = spans[max(0, i - 1):i + 2]
            window = (" ".join(squash(text[x:y]) for x, y in around), around[0][0], around[-1][1])
            cands.append((max(res.score, 0.0) / best if best > 0 else 0.0, res, a, b, squash(text[a:b]), window))
    if not cands:
        return []
    q_terms = content_terms(question)
    w_dense, w_lex, w_rank = weights
    if len(cands) > max_candidates:
        cands.sort(key=lambda c: -(w_lex * lexical_overlap(q_terms, c[4] + " " + c[1].chunk.heading) + w_rank * c[0]))
        cands = cands[:max_candidates]
    vecs = embed([question] + [c[4] for c in cands])
    cos = vecs[1:] @ vecs[0]
    scored = []
    for (prior, res, a, b, sent, window), c in zip(cands, cos):
        lex = lexical_overlap(q_terms, sent + " " + res.chunk.heading)
        score = w_dense * float(c) + w_lex * lex + w_rank * prior
        scored.append((score, prior, a, res, sent, window, b))
    scored.sort(key=lambda s: (-s[0], -s[1], s[2]))
    chosen: list[Evidence] = []
    seen: list[set[str]] = []
    used = 0
    for score, _prior, a, res, sent, window, b in scored:
        if len(chosen) >= max_sentences:
            break
        terms = content_terms(sent) or {sent.lower()}
        if any(len(terms & t) / max(1, len(terms | t)) > 0.8 for t in seen):
            continue
        cost = count_tokens(sent)
        if chosen and used + cost > token_budget:
            continue
        used += cost
        seen.append(terms)
        chosen.append(Evidence(len(chosen) + 1, sent, res, a, b, score, *window))
    return chosen
