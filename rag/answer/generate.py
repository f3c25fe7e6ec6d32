"""The model's answer over numbered evidence: streamed as is (free), or checked sentence by sentence as it completes,
only supported sentences kept and the rest topped up with quotes (grounded, constrained)."""
from __future__ import annotations

import re
from collections.abc import Iterator

from rag.answer.citations import Claim, parse_answer, split_answer
from rag.answer.extractive import quote_best
from rag.answer.prompts import grounded_messages
from rag.answer.turn import Turn
from rag.answer.verify import SentenceVerifier
from rag.core.errors import BackendError, RagError
from rag.core.settings import AnswerSettings
from rag.core.text import content_terms

MAX_SENTENCES = 3       # verified sentences kept before generation is stopped
GIVE_UP_AFTER = 1       # an unsupported first sentence: stop generating and quote the evidence
                        # (dev set: later ones were never kept)


class ModelAnswers:
    """Answers written by a chat model (`llm`, a LangChain chat model) in one mode: free, grounded or constrained."""

    def __init__(self, llm, verifier: SentenceVerifier, settings: AnswerSettings, mode: str, backend_name: str):
        self.llm = llm
        self.verifier = verifier
        self.settings = settings
        self.mode = mode
        self.backend_name = backend_name

    def stream(self, messages, **kwargs) -> Iterator[str]:
        """The model's text for the messages, piece by piece; the backend's own errors become BackendError."""
        try:
            for chunk in self.llm.stream(messages, **kwargs):
                if chunk.content:
                    yield str(chunk.content)
        except RagError:
            raise
        except Exception as exc:  # HTTP, connection, ...
            raise BackendError(f"{self.backend_name} backend failed: {exc}") from exc

    def free(self, turn: Turn) -> Iterator[tuple[str, object]]:
        """Baseline: stream the model's text as is; only markers pointing at nothing are removed."""
        texts = [e.text for e in turn.evidence]
        raw = ""
        for piece in self.stream(grounded_messages(turn.question, texts)):
            raw += piece
            yield from turn.token(piece)
        turn.diagnostics["raw"] = raw
        return parse_answer(raw, len(turn.evidence))

    def _text(self, turn: Turn) -> Iterator[str]:
        """Model text for grounded / constrained modes."""
        texts = [e.text for e in turn.evidence]
        if self.mode == "constrained":
            from rag.answer.backends.constrained import copy_biased_stream
            return copy_biased_stream(self.llm, grounded_messages(turn.question, texts), texts, self.settings.copy_bias)
        return self.stream(grounded_messages(turn.question, texts))

    def verified(self, turn: Turn) -> Iterator[tuple[str, object]]:
        """Generate, verify each sentence as it completes, stream only kept ones; fall back to quoting."""
        kept: list[Claim] = []
        checks: list[dict] = []
        raw = ""
        pending = ""
        known = set().union(*(content_terms(e.window) for e in turn.evidence))
        stream = self._text(turn)
        try:
            for piece in stream:
                raw += piece
                pending += piece
                parts = split_answer(pending)
                if len(parts) >= 2:
                    for sentence in parts[:-1]:
                        yield from self._check(turn, sentence, kept, checks)
                    pending = parts[-1]
                    if checks and checks[-1].get("why") == "duplicate":
                        break
                    if len(kept) >= MAX_SENTENCES or (not kept and len(checks) >= GIVE_UP_AFTER):
                        break
                if not kept and len(checks) + 1 >= GIVE_UP_AFTER and self.verifier.doomed(pending, known):
                    checks.append({"sentence": pending.strip(), "kept": False, "why": "doomed"})
                    break  # it would be dropped and generation given up at its end: quote now instead
            else:
                if re.search(r"[.!?]\W*$", pending):
                    yield from self._check(turn, pending, kept, checks)
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()
        turn.diagnostics.update(raw=raw, checks=checks)
        if len(kept) < self.settings.min_supported_sentences:
            turn.diagnostics["fallback"] = True
            extra = quote_best(turn.evidence, turn.n_parts, max(1, self.settings.extractive_sentences - len(kept)),
                               skip={n for c in kept for n in c.cites})
            kept += yield from turn.claims(extra, first=not kept)
        return kept

    def _check(self, turn: Turn, sentence: str, kept: list[Claim], checks: list[dict]) -> Iterator[tuple[str, object]]:
        """Verify one generated sentence; stream it (with a repaired citation if needed) if it is kept."""
        verdict = self.verifier.check(sentence, turn.evidence, kept)
        if verdict is None:
            return
        checks.append(verdict.record)
        if verdict.claim is None:
            return
        turn.wide.update(verdict.wide)
        kept.append(verdict.claim)
        yield from turn.claims([verdict.claim], first=len(kept) == 1)
