"""Verifying a generated sentence against the numbered evidence: keep it where its cited (or the best) evidence
window supports it, with the citation repaired to the sentences that hold what it says, else drop it; and tell,
while a sentence is still being generated, when it can no longer be supported."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from rag.answer.citations import MARKER, Claim, parse_answer
from rag.answer.evidence import Evidence
from rag.answer.ground import SupportScorer

UNCLOSED_MARKER = re.compile(r"\[[\d,;\s]*$")  # a citation marker still being generated


@dataclass
class Verdict:
    """What became of one generated sentence."""

    record: dict                               # its entry in the answer's diagnostics "checks"
    claim: Claim | None = None                 # kept, with evidence numbers; None: dropped
    wide: list[int] = field(default_factory=list)   # evidence to quote with its window: no sentence alone holds it


class SentenceVerifier:
    """Checks generated sentences with a SupportScorer at one support threshold."""

    def __init__(self, scorer: SupportScorer, threshold: float):
        self.scorer = scorer
        self.threshold = threshold

    def check(self, sentence: str, evidence: list[Evidence], kept: list[Claim]) -> Verdict | None:
        """The verdict on one generated sentence (None for one that holds no claim); `kept` are the claims kept
        before it, which it may not repeat."""
        claim = parse_answer(sentence, len(evidence))
        if not claim:
            return None
        claim = claim[0]
        if any(claim.text.lower() == k.text.lower() for k in kept):
            return Verdict({"sentence": claim.text, "kept": False, "why": "duplicate"})
        if len(claim.text.split()) < 3:
            return Verdict({"sentence": claim.text, "kept": False, "why": "fragment"})
        scores = self.scorer.score([claim.text], [e.window for e in evidence])[0]  # one per evidence window
        best = int(np.argmax(scores))
        good = [n for n in claim.cites if scores[n - 1] >= self.threshold]
        record = {"sentence": claim.text, "cited": claim.cites, "best": best + 1, "score": round(scores[best], 4)}
        if not good and scores[best] < self.threshold:
            return Verdict({**record, "kept": False, "why": "unsupported"})
        numbers, wide = self.own_support(claim.text, evidence, good or [best + 1])
        if numbers != claim.cites:
            record["repaired"] = True
        return Verdict({**record, "kept": True}, Claim(claim.text, numbers), numbers if wide else [])

    def own_support(self, text: str, evidence: list[Evidence], numbers: list[int]) -> tuple[list[int], bool]:
        """Evidence numbers whose own sentence supports `text`: a window may owe its support to a neighbour, and
        the quote must hold what the claim says. Else the evidence whose sentence supports it best; where no
        sentence alone does, `numbers` stay and are quoted with their windows (True)."""
        own = self.scorer.score([text], [e.text for e in evidence])[0]
        kept = [n for n in numbers if own[n - 1] >= self.threshold]
        if kept:
            return kept, False
        best = int(np.argmax(own))
        if own[best] >= self.threshold:
            return [best + 1], False
        return numbers, True

    def doomed(self, pending: str, known: set[str]) -> bool:
        """Whether the sentence being generated can no longer be verified (its complete words decide)."""
        text = UNCLOSED_MARKER.sub("", MARKER.sub(" ", pending))
        if text[-1:].isalnum():  # the last word may still grow
            text = text[: len(text) - len(text.split()[-1])]
        return bool(text.strip()) and self.scorer.cannot_reach(text, known, self.threshold)
