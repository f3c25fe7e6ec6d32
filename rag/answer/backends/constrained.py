"""Copy-biased decoding: the local model is pushed to continue spans copied from the evidence sentences."""
from __future__ import annotations

from collections.abc import Iterator

import torch

from rag.answer.backends.llm import LocalChatModel


class CopyBias:
    """A LocalLM logits processor: +bias to tokens that start or continue a span of some evidence sentence.

    Evidence is tokenized once; after each generated token the processor looks up where in the evidence that
    token (and the one before it) occurs and boosts what follows there. `sources` records, per generated token,
    the evidence numbers the token was copied from (empty when the model left the evidence).
    """

    def __init__(self, tokenizer, texts: list[str], bias: float, extra_ids: set[int] = frozenset()):
        self.bias = bias
        self.seqs = [tokenizer.encode(" " + t) for t in texts]
        self.starts = {s[0] for s in self.seqs if s} | {s[0] for s in (tokenizer.encode(t) for t in texts) if s}
        self.extra = set(extra_ids)
        self.follow: dict[int, set[tuple[int, int]]] = {}
        for e, seq in enumerate(self.seqs):
            for i, tok in enumerate(seq[:-1]):
                self.follow.setdefault(tok, set()).add((e, i + 1))
        self.sources: list[set[int]] = []

    def _next(self, generated: list[int]) -> tuple[set[int], set[int]]:
        """Tokens that continue a copy, and the evidence they come from (longest matching context first)."""
        if not generated:
            return self.starts, set()
        spots = self.follow.get(generated[-1], set())
        if len(generated) > 1:
            longer = {(e, j) for e, j in spots if j >= 2 and self.seqs[e][j - 2] == generated[-2]}
            spots = longer or spots
        return {self.seqs[e][j] for e, j in spots}, {e + 1 for e, _ in spots}

    def __call__(self, generated: list[int], logits: torch.Tensor) -> torch.Tensor:
        if generated:
            last_next, last_src = self._next(generated[:-1])
            self.sources.append(last_src if generated[-1] in last_next else set())
        allowed, _ = self._next(generated)
        boost = list(allowed | self.extra | self.starts)
        logits = logits.clone()
        logits[boost] += self.bias
        return logits


def copy_biased_stream(llm: LocalChatModel, messages, texts: list[str], bias: float) -> Iterator[str]:
    """Text pieces of a copy-biased generation (local backend only)."""
    if not isinstance(llm, LocalChatModel):
        yield from (str(c.content) for c in llm.stream(messages))
        return
    tok = llm.lm.tokenizer
    yield from tok.decode_stream(llm.stream_ids(messages, logits_processor=citing_copy_bias(tok, texts, bias)))


def citing_copy_bias(tokenizer, texts: list[str], bias: float) -> CopyBias:
    """The copy bias of constrained mode: evidence spans, citation markers and end of text boosted."""
    markers = {i for s in ("[", "]", " [", ".", "1", "2", "3", "4", "5", "6") for i in tokenizer.encode(s)[:1]}
    return CopyBias(tokenizer, texts, bias, markers | set(tokenizer.eos_ids))
