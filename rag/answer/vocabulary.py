"""The words of the indexed notes, for telling question words the notes never use (inflections, stems and
abbreviations of two notes words tolerated)."""
from __future__ import annotations

from rag.core.text import word_parts

PAIR_PREFIX = 6  # adjacent-word pairs are compared on this many leading letters (inflections match)
MIN_PIECE = 3    # an abbreviation's pieces ("conv" + "nets") are at least this long


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
        self._by_head: dict[str, list[tuple[str, str]]] = {}
        for a, b in self._pairs:
            self._by_head.setdefault(a[:MIN_PIECE], []).append((a, b))

    def knows(self, word: str) -> bool:
        """Whether the word, an inflection of it or a longer word sharing its stem occurs in the notes."""
        w = word.lower()
        if w in self.words or w.rstrip("s") in self.words or w + "s" in self.words or w + "es" in self.words:
            return True
        k = min(len(w) - 2, 8)
        return k >= 5 and w[:k] in self._prefixes

    def knows_phrase(self, phrase: str) -> bool:
        """Whether every adjacent word pair of the phrase occurs adjacently somewhere in the notes."""
        seq = [w.lower() for w in word_parts(phrase)]
        return all((a[:PAIR_PREFIX], b[:PAIR_PREFIX]) in self._pairs for a, b in zip(seq, seq[1:]))

    def knows_compound(self, word: str) -> bool:
        """Whether the word reads as two adjacent notes words run together or shortened ("convnets" from
        "convolutional networks", "finetuning" from "fine tuning"): a first piece opening one word and a second
        opening the next."""
        w = word.lower().replace("-", "")
        if w.endswith("s"):
            w = w[:-1]
        for i in range(MIN_PIECE, len(w) - MIN_PIECE + 1):
            a, b = w[:i], w[i:i + PAIR_PREFIX]
            if any(x.startswith(a[:PAIR_PREFIX]) and y.startswith(b) for x, y in self._by_head.get(a[:MIN_PIECE], ())):
                return True
        return False

    def knows_term(self, term: str) -> bool:
        """Whether a question term (a word, or a hyphenated compound such as "f1-score") occurs in the notes: as
        itself, its parts side by side, or an abbreviation of two notes words."""
        parts = [p for p in word_parts(term) if not p.isdigit()]   # "5-fold": the notes may say "k-fold"
        if not parts:
            return True
        term = " ".join(parts)
        if len(parts) > 1:
            return self.knows_phrase(term) or self.knows("".join(parts)) or self.knows_compound(term)
        return self.knows(term) or self.knows_compound(term)
