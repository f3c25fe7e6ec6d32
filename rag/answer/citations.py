"""Citation markers: parse `[n]` after each answer sentence, drop markers pointing at nothing, render.

`split_answer` cuts generated answer text, where markers follow the final punctuation and the last piece may still be
growing; note text is split by rag.core.text.sentence_spans.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.core.text import sentence_spans

MARKER = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])*\s+(?=\S)")
_STRAY = re.compile(r"\[\s*(?:\d+\s*[,;]?\s*)*\]|\[(?:source|evidence|ref)[^\]]*\]", re.IGNORECASE)


@dataclass
class Claim:
    """One answer sentence (markers removed) and the evidence numbers it cited, in order."""

    text: str
    cites: list[int] = field(default_factory=list)


def split_answer(text: str) -> list[str]:
    """Answer sentences, each keeping the markers that follow its final punctuation."""
    out, pos = [], 0
    for m in _SENTENCE_END.finditer(text):
        out.append(text[pos:m.end()].strip())
        pos = m.end()
    out.append(text[pos:].strip())
    return [s for s in out if s]


def parse_claim(sentence: str) -> Claim:
    """Strip `[n]` / `[n, m]` markers out of a sentence and collect the numbers, first use first."""
    cites: list[int] = []
    for m in MARKER.finditer(sentence):
        for part in re.split(r"[,;]", m.group(1)):
            n = int(part)
            if n not in cites:
                cites.append(n)
    text = MARKER.sub("", sentence)
    text = _STRAY.sub("", text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", " ".join(text.split()))
    return Claim(text.strip(), cites)


def parse_answer(text: str, n_evidence: int) -> list[Claim]:
    """Claims of an answer; markers outside 1..n_evidence are dropped."""
    claims = []
    for sentence in split_answer(text):
        claim = parse_claim(sentence)
        claim.cites = [n for n in claim.cites if 1 <= n <= n_evidence]
        if claim.text:
            claims.append(claim)
    return claims


def _attach(text: str, marks: str) -> str:
    """`text` with `marks` before its final punctuation; a cited quote without any (a bullet) gets a full stop."""
    m = re.search(r"[.!?]+[\"')\]]*$", text)
    if not marks:
        return text
    if m:
        return f"{text[:m.start()]} {marks}{text[m.start():]}"
    return f"{text} {marks}."


def render(claims: list[Claim]) -> str:
    """Answer text with `[n]` markers before the final punctuation of every sentence of each claim (a quote of two
    sentences carries its marker twice, so no answer sentence is left without one)."""
    parts = []
    for c in claims:
        marks = "".join(f"[{n}]" for n in c.cites)
        spans = sentence_spans(c.text) if marks else [(0, len(c.text))]
        parts.extend(_attach(c.text[a:b], marks) for a, b in spans)
    return " ".join(parts)
