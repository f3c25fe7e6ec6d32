"""Prompt-lookup speculative decoding: grounded answers copy the evidence, so the prompt drafts the answer.

After each token, the last trigram or bigram (NGRAMS) of prompt + answer so far is looked up in what came before;
the tokens that followed its latest earlier occurrence are the draft. The model then runs the new token and the
draft as one batch (NativeDecoder.steps: every weight read once for all rows) and keeps the longest prefix of the
draft that greedy decoding would have produced, plus the model's own next token. Each row's logits are bit for bit
those of a one-token step, so the output is plain greedy decoding token for token, only fewer weight passes. A
logits processor (constrained mode's copy bias) is applied to each row in order before its argmax, as plain decoding
applies it; copy-biased answers repeat the evidence, so their drafts are accepted most.
The draft length adapts: +2 after a fully accepted draft, down to what was accepted (at least 1) otherwise; and a
Pacer stops drafting for a while whenever batched steps, over a trial of several, have cost more per token than
one-token steps (a machine where extra rows are dear, a model that paraphrases), so it is on only where it wins.
Drafting decisions never change the tokens.
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
    """Whether to draft: batched steps are judged in trials of at least PAUSE tokens, on their seconds per token over
    the whole trial against the moving average of one-token steps; when they cost more, drafting pauses for PAUSE
    tokens (as long as a trial), then a new trial starts. A trial's totals, not a per-step average, decide, so one
    rejected draft does not stop drafting that pays over the answer."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.single: float | None = None
        self.trial_seconds = 0.0
        self.trial_tokens = 0
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
        self.trial_seconds += seconds
        self.trial_tokens += tokens
        if self.trial_tokens < PAUSE or self.single is None:
            return
        if self.trial_seconds / self.trial_tokens > self.single:
            self.paused = PAUSE
        self.trial_seconds, self.trial_tokens = 0.0, 0


def greedy(steps: Callable[[list[int], int], Tensor], logits: Tensor, prompt: list[int], budget: int, room: int,
           stops: set[int], stats: SpeculationStats, pacer: Pacer | None = None,
           process: Callable[[list[int], Tensor], Tensor] | None = None) -> Iterator[int]:
    """Greedy tokens after a prefilled prompt whose next-token logits are given, verified in batches.

    steps(tokens, pos) feeds tokens at positions pos.. and returns their logits (T, vocab); budget bounds the new
    tokens, room the positions left in the cache after the prompt. A stop id ends it unyielded. process (a logits
    processor) sees the tokens decided so far and the logits that decide the next one, called exactly as plain
    decoding calls it: once per decided token, in order, never for a row after the first disagreeing one.
    """
    pacer = pacer or Pacer()
    lookup = PromptLookup(prompt)
    out: list[int] = []  # decided tokens, what process sees

    def decide(row: Tensor) -> int:
        return int((row if process is None else process(out, row)).argmax())

    pos, draft_len, token = len(prompt), FIRST_DRAFT, decide(logits)  # token: decided, not yet fed (goes in at pos)
    while True:
        if token in stops:
            return
        out.append(token)
        yield token
        if len(out) == budget:
            return
        lookup.extend([token])
        limit = min(draft_len, budget - len(out), room - (pos - len(prompt)) - 1) if pacer.allow() else 0
        draft = lookup.draft(limit)
        start = pacer.clock()
        rows = steps([token] + draft, pos)  # row i: the logits after token and draft[:i]
        seconds = pacer.clock() - start
        accepted, token = 0, decide(rows[0])
        while accepted < len(draft) and token == draft[accepted] and token not in stops:
            out.append(token)  # fed with the batch: its keys and values are in the cache
            accepted += 1
            if len(out) == budget:
                break
            token = decide(rows[accepted])
        pacer.record(seconds, 1 + len(draft), 1 + accepted)
        stats.steps += 1
        stats.drafted += len(draft)
        stats.accepted += accepted
        if draft:
            draft_len = min(draft_len + 2, MAX_DRAFT) if accepted == len(draft) else max(accepted, 1)
        lookup.extend(draft[:accepted])
        yield from draft[:accepted]
        if len(out) == budget:
            return
        pos += 1 + accepted
