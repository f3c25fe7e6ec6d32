"""Map a (cleaned) evidence sentence back to an exact substring of the note's stored document text.

Words here are runs of Unicode word characters, not rag.core.text's ASCII terms: a quote must be found in notes in
any language, accents included.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

_WORD = re.compile(r"\w+", re.UNICODE)
_SPACE = re.compile(r"[\s\u00a0\u200b\u2007\u202f\ufeff]+")
MIN_PARTIAL = 0.6   # a partial match must cover this share of the sentence's words


@dataclass(frozen=True)
class Quote:
    """An exact span of a note: `text == document[start:end]`, lines 1-based inclusive."""

    text: str
    start: int
    end: int
    start_line: int
    end_line: int


def _squash(text: str) -> tuple[str, list[int]]:
    """Text with whitespace runs collapsed to one space, and each kept char's original index."""
    out, index = [], []
    pos = 0
    for m in _SPACE.finditer(text):
        for i in range(pos, m.start()):
            out.append(text[i])
            index.append(i)
        out.append(" ")
        index.append(m.start())
        pos = m.end()
    for i in range(pos, len(text)):
        out.append(text[i])
        index.append(i)
    return "".join(out), index


def _find_spaced(doc: str, sentence: str, lo: int, hi: int) -> tuple[int, int] | None:
    """Whitespace- and nbsp-tolerant search of `sentence` inside doc[lo:hi]."""
    window, index = _squash(doc[lo:hi])
    needle = _SPACE.sub(" ", sentence).strip()
    if not needle:
        return None
    at = window.find(needle)
    if at < 0:
        return None
    return lo + index[at], lo + index[at + len(needle) - 1] + 1


def _find_words(doc: str, sentence: str, lo: int, hi: int) -> tuple[int, int] | None:
    """Match the sentence's word sequence (case-insensitive, markup ignored), whole or its longest run."""
    want = [w.lower() for w in _WORD.findall(sentence)]
    if not want:
        return None
    spans = [(m.start() + lo, m.end() + lo) for m in _WORD.finditer(doc[lo:hi])]
    have = [doc[a:b].lower() for a, b in spans]
    if not have:
        return None
    match = SequenceMatcher(None, have, want, autojunk=False).find_longest_match(0, len(have), 0, len(want))
    if match.size == 0 or match.size < MIN_PARTIAL * len(want):
        return None
    start = spans[match.a][0]
    end = spans[match.a + match.size - 1][1]
    if match.b + match.size == len(want):
        trail = re.match(r"[.!?)\]\"'%]*", doc[end:hi])
        end += trail.end() if trail else 0
    return start, end


def locate(doc: str, sentence: str, lo: int = 0, hi: int | None = None) -> tuple[int, int] | None:
    """Span [start, end) of `sentence` in `doc`, searched in doc[lo:hi] first, then everywhere."""
    hi = len(doc) if hi is None else min(hi, len(doc))
    lo = max(0, min(lo, hi))
    windows = [(lo, hi)] if (lo, hi) == (0, len(doc)) else [(lo, hi), (0, len(doc))]
    for a, b in windows:
        at = doc.find(sentence, a, b)
        if sentence and at >= 0:
            return at, at + len(sentence)
        for finder in (_find_spaced, _find_words):
            span = finder(doc, sentence, a, b)
            if span:
                return span
    return None


def line_of(doc: str, offset: int) -> int:
    """1-based line number of a char offset."""
    return doc.count("\n", 0, offset) + 1


def make_quote(doc: str, sentence: str, lo: int = 0, hi: int | None = None) -> Quote | None:
    """The exact quote of `sentence` in `doc` with its line range, or None when it cannot be found."""
    span = locate(doc, sentence, lo, hi)
    if span is None:
        return None
    start, end = span
    while end > start and doc[end - 1].isspace():
        end -= 1
    text = doc[start:end]
    return Quote(text, start, end, line_of(doc, start), line_of(doc, max(start, end - 1)))
