"""One question moving through the chain: what each stage found, and the stream of its answer."""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from rag.answer.abstain import Coverage
from rag.answer.citations import Claim, render
from rag.answer.conversation import Followup
from rag.answer.evidence import Evidence
from rag.answer.question import Question
from rag.core.types import Filters, SearchResult


@dataclass
class Turn:
    """State of one question moving through the chain."""

    question: str
    t0: float
    query: Question | None = None
    coverage: Coverage | None = None
    results: list[SearchResult] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    diagnostics: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    order: list[int] = field(default_factory=list)   # evidence numbers in citation order
    wide: set[int] = field(default_factory=set)      # evidence quoted with its window (verify.Verdict.wide)
    followup: Followup | None = None                 # a follow-up: `question` is its standalone form
    filters: Filters | None = None                   # scope applied inside retrieval
    finding: str | None = None                       # what the notes lack, found by the conversation's rules
    spelled: dict[str, str] = field(default_factory=dict)   # words searched as the notes write them: short forms
                                                             # ("BN" -> "Batch Normalization") and slips of typing
                                                             # ("convnet" -> "convent covnet"): AnswerChain._spelled

    @property
    def n_parts(self) -> int:
        """How many parts the question asks (one before it is read)."""
        return len(self.query.parts) if self.query else 1

    def cite(self, numbers: list[int]) -> list[int]:
        """Answer-side citation numbers for evidence numbers, assigned in order of first use."""
        for n in numbers:
            if n not in self.order:
                self.order.append(n)
        return [self.order.index(n) + 1 for n in numbers]

    def token(self, text: str) -> Iterator[tuple[str, object]]:
        """Stream a piece of the answer ("token", text); the first one sets the time to first token."""
        if text:
            self.timings.setdefault("first_token_s", time.perf_counter() - self.t0)
            yield "token", text

    def claims(self, claims: list[Claim], first: bool) -> Iterator[tuple[str, object]]:
        """Stream claims (evidence-numbered) as rendered sentences with answer-side numbers; returns them."""
        for i, c in enumerate(claims):
            sep = "" if first and i == 0 else " "
            yield from self.token(sep + render([Claim(c.text, self.cite(c.cites))]))
        return claims
