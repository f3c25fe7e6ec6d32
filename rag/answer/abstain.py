"""Abstention: decide from retrieval and evidence scores whether the notes cover the question."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.core.settings import AnswerSettings
from rag.core.text import STOPWORDS, word_parts
from rag.core.types import SearchResult

PAIR_PREFIX = 6  # adjacent-word pairs are compared on this many leading letters (inflections match)
_SUBJECT = re.compile(  # "what is label smoothing and why ..." -> "label smoothing"
    r"^\s*(?:what|who)\s+(?:is|are|was|were|does|do)\s+(?:an?\s+|the\s+)?"
    r"(?P<subject>[a-z0-9][a-z0-9 -]*?)"
    r"(?=\s+(?:in|of|for|and|as|according|when|used|on|mean|do|does|work)\b|\s*[,?.;:]|\s*$)",
    re.IGNORECASE)
QUESTION_WORDS = frozenset("""what which who how why when where whose does do did is are was were can could should would
difference differ between compare versus explain describe mean meaning define definition""".split())


class Vocabulary:
    """The set of words in the indexed notes, for telling unknown question terms (prefix-tolerant)."""

    def __init__(self, texts):
        self.words: set[str] = set()
        self._pairs: set[tuple[str, str]] = set()
        for t in texts:
            seq = [w.lower() for w in word_parts(t)]
            self.words.update(seq)
            self._pairs.update((a[:PAIR_PREFIX], b[:PAIR_PREFIX]) for a, b in zip(seq, seq[1:]))
        self._prefixes = {w[:k] for w in self.words for k in range(5, min(len(w), 9) + 1)}

    def knows(self, word: str) -> bool:
        """Whether the word, an inflection of it or a longer word sharing its stem occurs in the notes."""
        w = word.lower()
        if w in self.words or w.rstrip("s") in self.words:
            return True
        k = min(len(w) - 2, 8)
        return k >= 5 and w[:k] in self._prefixes

    def knows_phrase(self, phrase: str) -> bool:
        """Whether every adjacent word pair of the phrase occurs adjacently somewhere in the notes."""
        seq = [w.lower() for w in word_parts(phrase)]
        return all((a[:PAIR_PREFIX], b[:PAIR_PREFIX]) in self._pairs for a, b in zip(seq, seq[1:]))


def question_subject(question: str) -> str | None:
    """The compound term a "what is X" question asks about ("label smoothing"), or None: single words are
    checked as terms, and subjects with function words ("difference between A") are no compound."""
    m = _SUBJECT.match(question)
    if not m:
        return None
    words = word_parts(m.group("subject"))
    if not 2 <= len(words) <= 4 or any(w.lower() in STOPWORDS for w in words):
        return None
    return " ".join(words)


def question_terms(question: str) -> list[str]:
    """Content words of a question (stopwords and question words dropped)."""
    return [w for w in (p.lower() for p in word_parts(question))
            if w not in STOPWORDS and w not in QUESTION_WORDS and len(w) > 2]


@dataclass
class Coverage:
    """The signals abstention is decided from."""

    top_dense: float
    top_evidence: float
    unknown_terms: list[str] = field(default_factory=list)
    term_share: float = 1.0     # share of question terms known to the notes
    unknown_subject: str | None = None  # the asked-about phrase when its words never occur together in the notes

    def to_dict(self) -> dict:
        """JSON-ready form for diagnostics."""
        return {"top_dense": round(self.top_dense, 4), "top_evidence": round(self.top_evidence, 4),
                "unknown_terms": self.unknown_terms, "term_share": round(self.term_share, 4),
                "unknown_subject": self.unknown_subject}


def measure(question: str, results: list[SearchResult], evidence_scores: list[float],
            vocab: Vocabulary | None) -> Coverage:
    """Coverage signals for one question."""
    top_dense = max((r.dense_score for r in results if r.dense_score is not None), default=0.0)
    top_ev = max(evidence_scores, default=0.0)
    terms = question_terms(question)
    unknown = [t for t in terms if vocab is not None and not vocab.knows(t)]
    share = 1.0 - len(unknown) / len(terms) if terms else 1.0
    subject = question_subject(question)
    unknown_subject = subject if subject and vocab is not None and not vocab.knows_phrase(subject) else None
    return Coverage(float(top_dense), float(top_ev), unknown, share, unknown_subject)


def decide(cov: Coverage, s: AnswerSettings) -> str | None:
    """The reason to abstain, or None to answer; every threshold comes from settings.

    Words or phrases the notes never use count only while no evidence sentence matches strongly: a question
    may say "store" or "advantage" where the notes say "stored" in other words.
    """
    if cov.top_dense < s.min_retrieval_score:
        return f"best passage similarity {cov.top_dense:.2f} < {s.min_retrieval_score:.2f}"
    if cov.top_evidence < s.min_evidence_score:
        return f"best evidence score {cov.top_evidence:.2f} < {s.min_evidence_score:.2f}"
    if cov.top_evidence >= s.unknown_term_max_evidence:  # a sentence answers it in other words
        return None
    if cov.unknown_terms and cov.top_dense < s.unknown_term_min_dense:
        return (f"question terms absent from the notes ({', '.join(cov.unknown_terms)}) "
                f"and best similarity {cov.top_dense:.2f} < {s.unknown_term_min_dense:.2f}")
    if cov.unknown_subject and cov.top_dense < s.unknown_term_min_dense:
        return (f"the notes never use the phrase '{cov.unknown_subject}' "
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
