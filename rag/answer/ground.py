"""Sentence support scoring: content-word coverage within one passage window plus embedding similarity."""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.core.text import content_terms, words

_NEGATION = {"not", "no", "never", "none", "cannot", "without", "neither", "nor", "non"}
Embed = Callable[[list[str]], np.ndarray]


def coverage(sentence: str, passage: str) -> float:
    """Share of the sentence's content terms that occur in the passage (0.0 for a sentence without any)."""
    return _share(content_terms(sentence), content_terms(passage))


def _share(want: set[str], have: set[str]) -> float:
    """Share of `want` found in `have` (0.0 when `want` is empty)."""
    return len(want & have) / len(want) if want else 0.0


def _negated(text: str) -> bool:
    return bool({w.lower() for w in words(text)} & _NEGATION) or "n't" in text.lower()


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:[.,]\d+)?", text))


@dataclass(frozen=True)
class Support:
    """How well one sentence is supported: best passage index (or -1) and the combined score."""

    index: int
    score: float
    coverage: float
    similarity: float


class SupportScorer:
    """score = w_cov * coverage + (1 - w_cov) * cosine, in one passage window; penalties for new numbers,
    a negation the passage lacks, and each content word the passage lacks (up to two): one invented word
    ("sharper", "sigmoid") is where a fluent false claim hides."""

    def __init__(self, embed: Embed, w_coverage: float = 0.75, number_penalty: float = 0.3,
                 negation_penalty: float = 0.3, novel_term_penalty: float = 0.25):
        self.embed = embed
        self.w_coverage = w_coverage
        self.number_penalty = number_penalty
        self.negation_penalty = negation_penalty
        self.novel_term_penalty = novel_term_penalty

    def score_pair(self, sentence: str, passage: str, similarity: float) -> float:
        """Combined support of a sentence by one passage, given their cosine similarity."""
        want, have = content_terms(sentence), content_terms(passage)
        score = self.w_coverage * _share(want, have) + (1 - self.w_coverage) * max(0.0, similarity)
        score -= self.novel_term_penalty * min(len(want - have), 2)
        if _numbers(sentence) - _numbers(passage):
            score -= self.number_penalty
        if _negated(sentence) and not _negated(passage):
            score -= self.negation_penalty
        return score

    def cannot_reach(self, partial: str, passage_terms: set[str], threshold: float) -> bool:
        """Whether a sentence beginning with `partial` is already doomed: its content words absent from every
        passage cost more than full coverage and similarity could give back, whatever follows."""
        novel = content_terms(partial) - passage_terms
        return 1.0 - self.novel_term_penalty * min(len(novel), 2) < threshold

    def _matrix(self, sentences: Sequence[str], passages: Sequence[str]) -> tuple[list[list[float]], np.ndarray]:
        vecs = self.embed(list(sentences) + list(passages))
        sims = vecs[: len(sentences)] @ vecs[len(sentences):].T
        return [[self.score_pair(s, p, float(sims[i, j])) for j, p in enumerate(passages)]
                for i, s in enumerate(sentences)], sims

    def score(self, sentences: Sequence[str], passages: Sequence[str]) -> list[list[float]]:
        """Support matrix [sentence][passage]."""
        if not sentences or not passages:
            return [[] for _ in sentences]
        return self._matrix(sentences, passages)[0]

    def best(self, sentences: Sequence[str], passages: Sequence[str]) -> list[Support]:
        """For each sentence, its best-supporting passage."""
        if not passages:
            return [Support(-1, 0.0, 0.0, 0.0) for _ in sentences]
        matrix, sims = self._matrix(sentences, passages)
        out = []
        for i, s in enumerate(sentences):
            j = int(np.argmax(matrix[i]))
            out.append(Support(j, matrix[i][j], coverage(s, passages[j]), float(sims[i, j])))
        return out
