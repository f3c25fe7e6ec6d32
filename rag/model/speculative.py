"""Prompt-lookup speculative decoding: grounded answers copy the evidence, so the prompt drafts the answer.

After each token, the last trigram or bigram (NGRAMS) of prompt + answer so far is looked up in what came before;
the tokens that followed its latest earlier occurrence are the draft. The model then runs the new token and the
draft as one batch (NativeDecoder.steps: every weight read once for all rows) and keeps the longest prefix of the
draft that greedy decoding would have produced, plus the model's own next token. Each row's logits are bit for bit
those of a one-token step, so the output is plain greedy decoding token for token, only fewer weight passes.
The draft length adapts: +2 after a fully accepted draft, down to what was accepted (at least 1) otherwise; and a
Pacer stops drafting for a while whenever batched steps have cost more per token than one-token steps (a machine
where extra rows are dear, a model that paraphrases), so it is on only where it wins. Drafting decisions never
change the tokens.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from torch import Tensor

# On SmolLM2-135M's answers over the notes' paragraphs (5 questions, 128 tokens each; the batched step's cost by
# rows measured on 1 and 2 threads), bigrams and trigrams alone and drafts of at most 5 tokens did as well as
# unigrams or 7-token drafts where rows are cheap, and better where they are not.
NGRAMS = (3, 2)  # n-gram lengths tried, longest first
MAX_DRAFT = 5  # with the new token: 6 rows (the native step takes up to MAX_ACT_ROWS = 8)
FIRST_DRAFT = 3
PAUSE = 16  # tokens decoded one at a time after batches were found dearer per token


class PromptLookup:
    """Drafts from earlier occurrences of the latest n-gram; `extend` adds tokens as they are decided."""

    def __init__(self, tokens: list[int]) -> None:
        self.tokens: list[int] = []
        self._follow: dict[tuple[int, ...], int] = {}  # n-gram -> where the token after its latest occurrence is
        self.extend(tokens)

    def extend(self, tokens: list[int]) -> None:
        """Append tokens, indexing every n-gram that now has a successor."""
        for token in tokens:
            end = len(self.tokens)
            for n in NGRAMS:
                if end >= n:
                    self._follow[tuple(self.tokens[end - n:end])] = end
            self.tokens.append(token)

    def draft(self, limit: int) -> list[int]:
        """Up to limit tokens that followed the latest earlier occurrence of the longest matching n-gram."""
        if limit <= 0:
            return []
        for n in NGRAMS:
            at = self._follow.get(tuple(self.tokens[-n:])) if len(self.tokens) >= n else None
            if at is not None:
                return self.tokens[at:at + limit]
        return []


@dataclass
class SpeculationStats:
    """What one generation drafted and kept (its acceptance rate: accepted / drafted)."""

    steps: int = 0  # batched forwards after the prefill
    drafted: int = 0
    accepted: int = 0

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.drafted if self.drafted else 0.0


class Pacer:
    """Whether to draft: moving averages of seconds per token of one-token and of batched steps; when batches cost
    more per token, drafting pauses for PAUSE tokens, then batches are timed afresh."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.single: float | None = None
        self.batched: float | None = None
        self.paused = 0

    def allow(self) -> bool:
        """Whether the next step may carry a draft."""
        if self.paused:
            self.paused -= 1
            return False
        return True

    def record(self, seconds: float, rows: int, tokens: int) -> None:
        """A step of rows fed rows, produced tokens and took seconds."""
        if rows == 1:
            self.single = seconds if self.single is None else (self.single + seconds) / 2
            return
        per_token = seconds / tokens
        self.batched = per_token if self.batched is None else (self.batched + per_token) / 2
        if self.single is not None and self.batched > self.single:
            self.paused, self.batched = PAUSE, None


def greedy(steps: Callable[[list[int], int], Tensor], logits: Tensor, prompt: list[int], budget: int, room: int,
           stops: set[int], stats: SpeculationStats, pacer: Pacer | None = None) -> Iterator[int]:
    """Greedy tokens after a prefilled prompt whose next-token logits are given, verified in batches.

    steps(tokens, pos) feeds tokens at positions pos.. and returns their logits (T, vocab); budget bounds the new
    tokens, room the positions left in the cache after the prompt. A stop id ends it unyielded.
    """
    pacer = pacer or Pacer()
    lookup = PromptLookup(prompt)
    pos, produced, draft_len = len(prompt), 0, FIRST_DRAFT
    while True:
        token = int(logits.argmax())  # decided, not yet fed: it goes in at pos
        if token in stops:
            return
        produced += 1
        yield token
        if produced == budget:
            return
        lookup.extend([token])
        limit = min(draft_len, budget - produced, room - (pos - len(prompt)) - 1) if pacer.allow() else 0
        draft = lookup.draft(limit)
        start = pacer.clock()
        rows = steps([token] + draft, pos)  # row i: the logits after token and draft[:i]
        accepted = 0
        while accepted < len(draft) and int(rows[accepted].argmax()) == draft[accepted]:
            accepted += 1
        pacer.record(pacer.clock() - start, 1 + len(draft), 1 + accepted)
        stats.steps += 1
        stats.drafted += len(draft)
        stats.accepted += accepted
        if draft:
            draft_len = min(draft_len + 2, MAX_DRAFT) if accepted == len(draft) else max(accepted, 1)
        for kept in draft[:accepted]:  # fed with the batch: their keys and values are in the cache
            if kept in stops:
                return
            produced += 1
            yield kept
            if produced == budget:
                return
            lookup.extend([kept])
        logits = rows[accepted]
        pos += 1 + accepted
