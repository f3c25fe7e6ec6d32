"""Evidence selection: split retrieved chunks into sentences, rank them against the question, number them."""
from __future__ import annotations

import re
from dataclasses import dataclass

from rag.answer.ground import content_terms
from rag.core.types import SearchResult

_BULLET = re.compile(r"^\s*(?:[-*+•▪◦‣>]|\d{1,3}[.)]|#{1,6})\s+")
_MARKER = re.compile(r"(?:[-*+•▪◦‣>]|\d{1,3}[.)]|#{1,6})\s+")  # a list or heading marker opening a unit
_END = re.compile(r"[.!?:;]['\")\]]*\s*$")
_SPLIT = re.compile(r"(?<=[.!?])['\")\]]*\s+(?=[\"'(\[*]*[A-Z0-9])")
_ABBREV = re.compile(r"\b(?:e\.g|i\.e|vs|etc|cf|fig|eq|approx|resp|dr|mr|ms|no)\.$", re.IGNORECASE)
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b[^.]{0,40}\b(?:instructions?|prompts?|rules)\b"
    r"|\b(?:system prompt|you are now|as an ai|new instructions?)\b"
    r"|\b(?:assistant|model|ai|chatbot)\b[^.]{0,30}\b(?:must|should|shall)\b[^.]{0,20}\b(?:say|answer|respond|reply|output)\b",
    re.IGNORECASE)
_ANAPHOR = re.compile(  # "It can ...", "Each input shown to them ...", "With such networks ...": refers back
    r"^(?:[-*+•▪◦‣]\s+)?(?:(?:that|thus|hence)\b|(?:\S+\s+){0,4}?(?:it|its|this|these|they|them|their|those|such)\b)",
    re.IGNORECASE)
MIN_WORDS = 4          # shorter units (titles, labels) are merged into the unit after them
MAX_CHARS = 600        # longer units are cut at clause boundaries


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


def _line_units(text: str) -> list[tuple[int, int]]:
    """Spans of logical lines: wrapped lines are joined; blank lines, bullets and closed lines break."""
    units: list[list[int]] = []
    prev_open = False
    for m in re.finditer(r"[^\n]+", text):
        line = m.group()
        if not line.strip():
            prev_open = False
            continue
        gap = text[units[-1][1]:m.start()].count("\n") > 1 if units else True
        if gap or not prev_open or _BULLET.match(line):
            units.append([m.start(), m.end()])
        else:
            units[-1][1] = m.end()
        prev_open = not _END.search(line) and len(line.split()) >= MIN_WORDS
    return [(a, b) for a, b in units]


def _sentences_in(text: str, a: int, b: int) -> list[tuple[int, int]]:
    """Split one logical line into sentences (abbreviation-aware), long ones at clause boundaries."""
    out, pos = [], a
    for m in _SPLIT.finditer(text, a, b):
        if _ABBREV.search(text[max(a, m.start() - 8):m.start()]):
            continue
        out.append((pos, m.start()))
        pos = m.end()
    out.append((pos, b))
    pieces = []
    for s, e in out:
        while e - s > MAX_CHARS:
            cut = max(text.rfind("; ", s, s + MAX_CHARS), text.rfind(", ", s, s + MAX_CHARS), text.rfind(" ", s, s + MAX_CHARS))
            cut = cut + 1 if cut > s else s + MAX_CHARS
            pieces.append((s, cut))
            s = cut
        pieces.append((s, e))
    return [(s, e) for s, e in pieces if text[s:e].strip()]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans [start, end) in `text`; short title-like units are merged into the next one."""
    spans = [s for a, b in _line_units(text) for s in _sentences_in(text, a, b)]
    spans = [(a + len(text[a:b]) - len(text[a:b].lstrip()), b - (len(text[a:b]) - len(text[a:b].rstrip())))
             for a, b in spans]
    merged: list[tuple[int, int]] = []
    carry = None
    for a, b in spans:
        if carry is not None:
            a = carry
            carry = None
        if len(text[a:b].split()) < MIN_WORDS and not _END.search(text[a:b]):
            carry = a
            continue
        merged.append((a, b))
    if carry is not None:
        if merged:
            merged[-1] = (merged[-1][0], len(text.rstrip()))
        else:
            merged.append((carry, len(text.rstrip())))
    return merged


def attach_anaphora(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Join a sentence with a pronoun among its first words ("It can ...", "Each input shown to them ...") to the
    unit before it."""
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if out and _ANAPHOR.match(text[a:b]) and b - out[-1][0] <= MAX_CHARS:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def unmarked(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """The span without a leading list or heading marker, so quotes read as sentences ("- It can" -> "It can")."""
    a, b = span
    m = _MARKER.match(text, a)
    return (m.end(), b) if m and m.end() < b else span


def evidence_units(text: str) -> list[tuple[int, int]]:
    """The spans of `text` that can be evidence: sentences, pronoun continuations joined to their referent,
    list and heading markers left out, instructions to the assistant dropped. Ingest embeds squash(text[a:b])
    of each, so answering finds their vectors in the index."""
    kept = [sp for sp in split_sentences(text) if not looks_like_instruction(text[sp[0]:sp[1]])]
    return [unmarked(text, sp) for sp in attach_anaphora(text, kept)]


def looks_like_instruction(text: str) -> bool:
    """Whether a note sentence addresses the assistant (prompt injection); such sentences are never evidence."""
    return bool(_INJECTION.search(text))


def squash(text: str) -> str:
    """Whitespace runs collapsed to single spaces."""
    return " ".join(text.split())


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
