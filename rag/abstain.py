"""Abstention: decide from retrieval and evidence scores whether the notes cover the question."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.ground import STOPWORDS
from rag.settings import AnswerSettings
from rag.types import SearchResult

_WORD = re.compile(r"[a-z0-9]+", re.IGNORECASE)
QUESTION_WORDS = frozenset("""what which who how why when where whose does do did is are was were can could should would
difference differ between compare versus explain describe mean meaning define definition""".split())


class Vocabulary:
    """The set of words in the indexed notes, for telling unknown question terms (prefix-tolerant)."""

    def __init__(self, texts):
        self.words = {w.lower() for t in texts for w in _WORD.findall(t)}
        self._prefixes = {w[:k] for w in self.words for k in range(5, min(len(w), 9) + 1)}

    def knows(self, word: str) -> bool:
        """Whether the word, an inflection of it or a longer word sharing its stem occurs in the notes."""
        w = word.lower()
        if w in self.words or w.rstrip("s") in self.words:
            return True
        k = min(len(w) - 2, 8)
        return k >= 5 and w[:k] in self._prefixes


def question_terms(question: str) -> list[str]:
    """Content words of a question (stopwords and question words dropped)."""
    return [w for w in (m.lower() for m in _WORD.findall(question))
            if w not in STOPWORDS and w not in QUESTION_WORDS and len(w) > 2]


@dataclass
class Coverage:
    """The signals abstention is decided from."""

    top_dense: float
    top_evidence: float
    unknown_terms: list[str] = field(default_factory=list)
    term_share: float = 1.0     # share of question terms known to the notes

    def to_dict(self) -> dict:
        """JSON-ready form for diagnostics."""
        return {"top_dense": round(self.top_dense, 4), "top_evidence": round(self.top_evidence, 4),
                "unknown_terms": self.unknown_terms, "term_share": round(self.term_share, 4)}


def measure(question: str, results: list[SearchResult], evidence_scores: list[float],
            vocab: Vocabulary | None) -> Coverage:
    """Coverage signals for one question."""
    top_dense = max((r.dense_score for r in results if r.dense_score is not None), default=0.0)
    top_ev = max(evidence_scores, default=0.0)
    terms = question_terms(question)
    unknown = [t for t in terms if vocab is not None and not vocab.knows(t)]
    share = 1.0 - len(unknown) / len(terms) if terms else 1.0
    return Coverage(float(top_dense), float(top_ev), unknown, share)


def decide(cov: Coverage, s: AnswerSettings) -> str | None:
    """The reason to abstain, or None to answer; every threshold comes from settings."""
    if cov.top_dense < s.min_retrieval_score:
        return f"best passage similarity {cov.top_dense:.2f} < {s.min_retrieval_score:.2f}"
    if cov.top_evidence < s.min_evidence_score:
        return f"best evidence score {cov.top_evidence:.2f} < {s.min_evidence_score:.2f}"
    if cov.unknown_terms and cov.top_dense < s.unknown_term_min_dense:
        return (f"question terms absent from the notes ({', '.join(cov.unknown_terms)}) "
                f"and best similarity {cov.top_dense:.2f} < {s.unknown_term_min_dense:.2f}")
    return None


def refusal(results: list[SearchResult], limit: int = 3) -> str:
    """A refusal that names the closest notes found."""
    seen: list[str] = []
    for r in results:
        label = r.chunk.source + (f" ({r.chunk.heading})" if r.chunk.heading else "")
        if label not in seen:
            seen.append(label)
        if len(seen) >= limit:
            break
    if not seen:
        return "I could not find this in your notes (the index has nothing close)."
    return "I could not find this in your notes. The closest notes are: " + "; ".join(seen) + "."
