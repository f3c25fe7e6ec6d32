"""The answering chain: retrieve -> select evidence -> abstain? -> prompt -> LLM -> parse, verify, repair -> Answer."""
from __future__ import annotations

import glob
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import get_args

import numpy as np
from langchain_core.runnables import RunnableLambda

from rag.answer import abbreviations, abstain, category, conversation, followup_search
from rag.answer.citations import Claim, parse_answer, render
from rag.answer.conversation import Followup
from rag.answer.evidence import Evidence, select_evidence
from rag.answer.foreign import ForeignScores
from rag.answer.gaps import GAPS_FILE, GapLog
from rag.answer.ground import SupportScorer
from rag.answer.named import named_note, names_a_note
from rag.answer.prompts import grounded_messages
from rag.answer.question import Question, analyse
from rag.answer.quotes import make_quote
from rag.answer.tables import question_units
from rag.answer.verify import SentenceVerifier
from rag.answer.vocabulary import Vocabulary
from rag.core.errors import BackendError, ConfigError, NotFoundError, RagError
from rag.core.settings import Mode, Settings
from rag.core.text import content_terms, plain, squash, word_parts
from rag.core.types import Answer, Citation, Filters, SearchResult
from rag.index.fusion import interleave
from rag.index.store.db import text_hash

MAX_SENTENCES = 3       # verified sentences kept before generation is stopped
EVIDENCE_BATCH = 8      # sentences per MiniLM batch: less padding (41 notes sentences: 0.37 s vs 0.60-1.55 s at 64)
GIVE_UP_AFTER = 1       # an unsupported first sentence: stop generating and quote the evidence
                        # (dev set: later ones were never kept)
EMBED_MEMO = 2048       # memoised text embeddings before the memo is cleared


@dataclass
class Turn:
    """State of one question moving through the chain."""

    question: str
    t0: float
    query: Question | None = None
    coverage: abstain.Coverage | None = None
    results: list[SearchResult] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    diagnostics: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    order: list[int] = field(default_factory=list)   # evidence numbers in citation order
    wide: set[int] = field(default_factory=set)      # evidence quoted with its window (verify.Verdict.wide)
    followup: Followup | None = None                 # a follow-up: `question` is its standalone form
    filters: Filters | None = None                   # scope applied inside retrieval
    finding: str | None = None                       # what the notes lack, found by the conversation's rules
    spelled: dict[str, str] = field(default_factory=dict)   # short forms searched with their long form ("BN" ->
                                                             # "Batch Normalization": see AnswerChain.retrieve)

    def cite(self, numbers: list[int]) -> list[int]:
        """Answer-side citation numbers for evidence numbers, assigned in order of first use."""
        for n in numbers:
            if n not in self.order:
                self.order.append(n)
        return [self.order.index(n) + 1 for n in numbers]


class AnswerChain:
    """Answers questions from the index with verified citations; one instance serves many questions."""

    def __init__(self, retriever, settings: Settings, backend: str, llm=None, mode: str | None = None):
        mode = mode or settings.answer.mode
        if mode not in get_args(Mode):
            raise ConfigError(f"unknown mode {mode!r}; choose one of {', '.join(get_args(Mode))}")
        if backend != "extractive" and llm is None:
            raise ConfigError(f"backend {backend!r} needs a chat model")
        self.retriever = retriever
        self.settings = settings
        self.backend_name = backend
        self.llm = llm
        self.mode = "extractive" if backend == "extractive" else mode
        self.scorer = SupportScorer(self._embed)
        self.verifier = SentenceVerifier(self.scorer, settings.answer.support_threshold)
        self.gaps: GapLog | None = GapLog(settings.index_path / GAPS_FILE)   # refused questions; None: not logged
        self.foreign = ForeignScores(retriever, settings.answer)
        self._vocab: Vocabulary | None = None
        self._titles: dict[str, str] | None = None
        self._docs: dict[str, str | None] = {}
        self._vectors: dict[str, np.ndarray] = {}
        self._memo_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, backend: str | None = None, mode: str | None = None,
                      wait: bool = True) -> AnswerChain:
        """Open the retriever while the local model loads on a thread; wait=False leaves the wait to its first use."""
        from rag.answer.backends.llm import make_chat_model, wait_loaded
        from rag.index.retrieve import HybridRetriever
        backend = backend or settings.answer.backend
        llm = make_chat_model(settings, backend)
        retriever = HybridRetriever.open(settings)
        if wait:
            wait_loaded(llm)
        return cls(retriever, settings, backend, llm, mode)

    # ---- stages -------------------------------------------------------------------------------
    def _embed(self, texts: list[str]):
        """Embeddings of texts: evidence sentences from the index (embedded at ingest), the rest encoded now;
        evidence windows recur for every sentence of an answer, so everything is memoised. The memo is shared
        by the server's generation threads: it is read and updated under a lock, and each call keeps its own
        vectors, so another thread clearing the memo costs it nothing."""
        with self._memo_lock:
            found = {t: self._vectors[t] for t in texts if t in self._vectors}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        new = dict.fromkeys(missing)
        if missing:
            hashes = {t: text_hash(t) for t in missing}
            stored = self.retriever.store.unit_vectors(list(hashes.values()))
            found.update((t, stored[h]) for t, h in hashes.items() if h in stored)
            missing = [t for t in missing if t not in found]
        if missing:
            found.update(zip(missing, self.retriever.embedder.encode(missing, batch_size=EVIDENCE_BATCH)))
        if new:
            with self._memo_lock:
                if len(self._vectors) > EMBED_MEMO:
                    self._vectors.clear()
                self._vectors.update((t, found[t]) for t in new)
        return np.stack([found[t] for t in texts])

    def _count_tokens(self, text: str) -> int:
        return self.retriever.embedder.count_tokens(text)

    def vocabulary(self) -> Vocabulary:
        """Words of every indexed note (built once, lazily)."""
        if self._vocab is None:
            store = self.retriever.store
            self._vocab = Vocabulary(self._doc(s) or "" for s in store.sources())
        return self._vocab

    def titles(self) -> dict[str, str]:
        """The title of every indexed note, by source (read once)."""
        if self._titles is None:
            self._titles = {n.source: n.title for n in self.retriever.store.notes()}
        return self._titles

    def _word_pieces(self, word: str) -> int:
        return self.retriever.embedder.word_pieces(word)

    def _doc(self, source: str) -> str | None:
        if source not in self._docs:
            try:
                self._docs[source] = self.retriever.store.document_text(source)
            except (NotFoundError, KeyError):
                self._docs[source] = None
        return self._docs[source]

    def _search(self, turn: Turn, query: str, k: int) -> list[SearchResult]:
        """One retrieval; a follow-up's with the previous answer's notes as a prior."""
        query = abbreviations.with_long_forms(query, turn.spelled)
        if turn.followup:
            return followup_search.search(self.retriever, turn.followup, k, query=query, filters=turn.filters)
        return self.retriever.search(query, k=k, filters=turn.filters)

    def retrieve(self, turn: Turn) -> Turn:
        """Stage 1: read the question, then hybrid retrieval; a question of several parts also retrieves for each
        part, and the lists take turns (best first) until k, plus two per extra part, distinct chunks are in.
        A follow-up is read as its standalone question, the previous answer's notes a retrieval prior."""
        k = self.settings.retrieval.k
        self._scope_to_named_note(turn, {source: [title] for source, title in self.titles().items()})
        turn.query = analyse(abbreviations.with_long_forms(turn.question, turn.spelled), self._word_pieces)
        if turn.followup:
            turn.query = replace(turn.query, parts=conversation.anchored_parts(
                turn.query.parts, turn.followup.referent, turn.query.focus))
        parts = turn.query.parts
        if len(parts) == 1:
            turn.results = self._search(turn, turn.question, k)
        else:
            limit = min(self.settings.answer.max_evidence, k + 2 * (len(parts) - 1))
            turn.results = interleave([self._search(turn, q, limit) for q in (turn.question, *parts)], limit)
        if not turn.spelled and (spelled := self._spelled_out(turn)):
            turn.spelled = turn.diagnostics["spelled_out"] = spelled
            return self.retrieve(turn)
        if "named_note" not in turn.diagnostics and names_a_note(turn.question):
            sections: dict[str, list[str]] = {}
            for r in turn.results:
                sections.setdefault(r.chunk.source, []).extend(category.paths(r.chunk.heading, ""))
            if self._scope_to_named_note(turn, sections, singular=True):
                return self.retrieve(turn)
        turn.timings["retrieve_s"] = time.perf_counter() - turn.t0
        return turn

    def _spelled_out(self, turn: Turn) -> dict[str, str]:
        """The short forms of the question the notes never use ("BN") that a retrieved passage writes out in full
        ("Batch Normalization"), each with the first such run of the best ranked passage: the passages a question
        finds tell which name its abbreviation stands for."""
        vocab = self.vocabulary()
        out: dict[str, str] = {}
        for word in dict.fromkeys(word_parts(turn.question)):
            if abbreviations.is_short_form(word) and not vocab.knows(word):
                long = next(filter(None, (abbreviations.spelled_out(word, r.chunk.text) for r in turn.results)), None)
                if long:
                    out[word] = long
        return out

    def _scope_to_named_note(self, turn: Turn, labels: dict[str, list[str]], singular: bool = False) -> bool:
        """Scope a question that names one note by its labels (its title, or the headings of its retrieved sections
        through the name of one note: rag.answer.named) to that note, within any folder and tags it already has; one
        scoped to files keeps its scope. Whether it was scoped now."""
        if turn.filters is not None and turn.filters.file is not None:
            return False
        source = named_note(turn.question, labels, singular)
        if source is None:
            return False
        base = turn.filters or Filters()
        turn.filters = Filters(folder=base.folder, tags=base.tags, file=glob.escape(source))
        turn.diagnostics["named_note"] = source
        return True

    def select(self, turn: Turn) -> Turn:
        """Stage 2: numbered evidence sentences, and the abstention decision."""
        a = self.settings.answer
        cap = min(a.max_evidence, a.evidence_sentences + 2 * (len(turn.query.parts) - 1))
        penalty = followup_search.evidence_penalty(turn.followup, turn.results) if turn.followup else None
        foreign = self.foreign if self.foreign.active else None
        turn.evidence = select_evidence(turn.query, turn.results, self._embed, self._count_tokens, cap,
                                        a.context_tokens, penalty, foreign=foreign and foreign.unit_scores,
                                        reach=a.max_evidence)
        units = [(shown, replace(u, context=f"{u.context} {r.chunk.heading}".strip()))   # under its chunk's titles too
                 for r in turn.results for u, shown in question_units(turn.query, r.chunk.text)]
        raw = turn.evidence   # abstention reads relevance before the follow-up's penalty
        if penalty:
            raw = [replace(e, score=e.score + penalty(e.text, e.result)) for e in turn.evidence]
        misfiled = category.misfiled_parts(turn.query.parts, turn.results, lambda q: self.retriever.search(
            q, k=category.SEARCH_K, filters=turn.filters))
        turn.coverage = abstain.measure(turn.query, turn.results, raw, self.vocabulary(), units,
                                        foreign_match=foreign and foreign.term_matches, misfiled=misfiled,
                                        given=turn.followup.referent if turn.followup else None,
                                        spelled=turn.spelled)
        turn.diagnostics["coverage"] = turn.coverage.to_dict()
        turn.diagnostics["abstain_reason"] = abstain.decide(turn.coverage, a)
        repeats_only = turn.followup is not None and followup_search.nothing_new(turn.followup, units, turn.query.focus)
        if not turn.diagnostics["abstain_reason"] and repeats_only:
            turn.finding = f"They say nothing more about {turn.followup.referent} than this conversation already did."
            turn.diagnostics["abstain_reason"] = f"the notes only repeat what was said about {turn.followup.referent}"
        turn.diagnostics["parts"] = list(turn.query.parts)
        turn.diagnostics["focus"] = list(turn.query.focus)
        turn.diagnostics["evidence"] = [{"n": e.n, "text": e.text, "score": round(e.score, 4), "part": e.part,
                                         "kind": e.kind, "chunk_id": e.chunk.chunk_id} for e in turn.evidence]
        return turn

    def as_runnable(self):
        """The chain as a LangChain runnable: question -> Answer."""
        return (RunnableLambda(lambda q: Turn(q, time.perf_counter())) | RunnableLambda(self.retrieve)
                | RunnableLambda(self.select) | RunnableLambda(self._finish_blocking))

    def _finish_blocking(self, turn: Turn) -> Answer:
        for kind, value in self._respond(turn):
            if kind == "done":
                return value
        raise RagError("the chain ended without an answer")

    # ---- public API -----------------------------------------------------------------------------
    def answer(self, question: str, history=None, filters: Filters | None = None) -> Answer:
        """Answer one question (blocking); `history`: the earlier turns of its conversation; `filters`: its scope."""
        for kind, value in self.stream_events(question, history=history, filters=filters):
            if kind == "done":
                return value
        raise RagError("the chain ended without an answer")

    def stream_events(self, question: str, history=None, filters: Filters | None = None
                      ) -> Iterator[tuple[str, object]]:
        """("token", str)* then ("citation", Citation)* then one ("done", Answer); closing stops generation.
        With `history` ([{"question", "answer"}], oldest first) the question is a follow-up, answered as the
        standalone question rag.answer.conversation makes of it; `filters` scope retrieval (folder, tags, file)."""
        if not question or not question.strip():
            raise ConfigError("the question is empty")
        turn = Turn(question.strip(), time.perf_counter(), filters=filters or None)
        if history:
            turn.followup = conversation.understand(turn.question, history, self.vocabulary().knows_phrase)
            turn.question = turn.followup.standalone
        turn = self.select(self.retrieve(turn))
        for kind, value in self._respond(turn):
            if kind == "done" and value.abstained and self.gaps is not None:
                self.gaps.record(value, turn.filters)
            yield kind, value

    # ---- answering ------------------------------------------------------------------------------
    def _respond(self, turn: Turn) -> Iterator[tuple[str, object]]:
        turn.diagnostics["mode"] = self.mode
        if turn.diagnostics.get("abstain_reason"):
            text = abstain.refusal(turn.results, turn.finding or (turn.coverage.finding() if turn.coverage else None))
            yield from self._emit(turn, text)
            yield from self._close(turn, text, [], abstained=True)
            return
        if self.mode == "extractive" or not turn.evidence:
            claims = yield from self._emit_claims(turn, self._quote_best(turn), first=True)
        elif self.mode == "free":
            claims = yield from self._free(turn)
        else:
            claims = yield from self._verified(turn)
        claims = [Claim(c.text, turn.cite(c.cites)) for c in claims]
        yield from self._close(turn, render(claims), claims, abstained=False)

    def _emit_claims(self, turn: Turn, claims: list[Claim], first: bool) -> Iterator[tuple[str, object]]:
        """Stream claims (evidence-numbered) as rendered sentences with answer-side numbers."""
        for i, c in enumerate(claims):
            sep = "" if first and i == 0 else " "
            yield from self._emit(turn, sep + render([Claim(c.text, turn.cite(c.cites))]))
        return claims

    def _emit(self, turn: Turn, text: str) -> Iterator[tuple[str, object]]:
        if text:
            turn.timings.setdefault("first_token_s", time.perf_counter() - turn.t0)
            yield "token", text

    def _quote_best(self, turn: Turn, skip: set[int] | None = None, limit: int | None = None) -> list[Claim]:
        """Extractive answer: the parts of the question take turns quoting their best evidence, three quotes for a
        simple question and two more for each further part (fewer quotes lost keyword recall on the dev set: 0.80
        with these, 0.76 keeping only those within 80% of a part's best score); each quote cited and shown without
        markdown, parts in the order asked, a part's best quote first."""
        skip = skip or set()
        n_parts = len(turn.query.parts) if turn.query else 1
        a = self.settings.answer
        limit = min(a.max_evidence, a.extractive_sentences + 2 * (n_parts - 1)) if limit is None else limit
        queues = [[e for e in turn.evidence if e.part == i and e.n not in skip] for i in range(n_parts)]
        picked: list[Evidence] = []
        slots = 0   # a list quoted together (Evidence.group) takes one
        while slots < limit and any(queues):
            for queue in queues:
                if queue and slots < limit:
                    picked.append(queue.pop(0))
                    slots += 1
                    while queue and picked[-1].group >= 0 and queue[0].group == picked[-1].group:
                        picked.append(queue.pop(0))
        picked.sort(key=lambda e: (e.part, e.n))   # evidence is numbered part by part, best first
        return [Claim(plain(e.text), [e.n]) for e in picked]

    def _stream_llm(self, messages, **kwargs) -> Iterator[str]:
        try:
            for chunk in self.llm.stream(messages, **kwargs):
                if chunk.content:
                    yield str(chunk.content)
        except RagError:
            raise
        except Exception as exc:  # the backend's own errors (HTTP, connection) become BackendError
            raise BackendError(f"{self.backend_name} backend failed: {exc}") from exc

    def _free(self, turn: Turn) -> Iterator[tuple[str, object]]:
        """Baseline: stream the model's text as is; only markers pointing at nothing are removed."""
        texts = [e.text for e in turn.evidence]
        raw = ""
        for piece in self._stream_llm(grounded_messages(turn.question, texts)):
            raw += piece
            yield from self._emit(turn, piece)
        turn.diagnostics["raw"] = raw
        return parse_answer(raw, len(turn.evidence))

    def _generate(self, turn: Turn) -> Iterator[str]:
        """Model text for grounded / constrained modes."""
        texts = [e.text for e in turn.evidence]
        if self.mode == "constrained":
            from rag.answer.backends.constrained import copy_biased_stream
            return copy_biased_stream(self.llm, grounded_messages(turn.question, texts), texts,
                                      self.settings.answer.copy_bias)
        return self._stream_llm(grounded_messages(turn.question, texts))

    def _verified(self, turn: Turn) -> Iterator[tuple[str, object]]:
        """Generate, verify each sentence as it completes, stream only kept ones; fall back to quoting."""
        from rag.answer.citations import split_answer
        kept: list[Claim] = []
        checks: list[dict] = []
        raw = ""
        pending = ""
        known = set().union(*(content_terms(e.window) for e in turn.evidence))
        stream = self._generate(turn)
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
        if len(kept) < self.settings.answer.min_supported_sentences:
            turn.diagnostics["fallback"] = True
            extra = self._quote_best(turn, skip={n for c in kept for n in c.cites},
                                     limit=max(1, self.settings.answer.extractive_sentences - len(kept)))
            kept += yield from self._emit_claims(turn, extra, first=not kept)
        return kept

    def _check(self, turn: Turn, sentence: str, kept: list[Claim], checks: list[dict]) -> Iterator[tuple[str, object]]:
        """Verify one generated sentence; stream it (with a repaired citation if needed) if it is kept."""
        verdict = self.verifier.check(sentence, turn.evidence, kept)
        if verdict is None:
            return
        checks.append(verdict.record)
        if verdict.claim is None:
            return
        claim = verdict.claim
        turn.wide.update(verdict.wide)
        kept.append(claim)
        sep = "" if len(kept) == 1 else " "
        yield from self._emit(turn, sep + render([Claim(claim.text, turn.cite(claim.cites))]))

    # ---- citations and the final answer --------------------------------------------------------------
    def citation(self, n: int, ev: Evidence, wide: bool = False) -> Citation:
        """Citation for one evidence sentence (with its neighbours when `wide`), with an exact quote of the note
        and its line range."""
        chunk = ev.chunk
        doc = self._doc(chunk.source)
        text = squash(chunk.text[ev.window_start:ev.window_end] if wide else chunk.text[ev.start:ev.end])
        quote = make_quote(doc, text, chunk.start_char, chunk.end_char + 1) if doc else None
        if quote is None:
            return Citation(n, chunk.chunk_id, chunk.source, chunk.heading, chunk.start_line, chunk.end_line,
                            doc[chunk.start_char:chunk.end_char].strip() if doc else ev.text)
        return Citation(n, chunk.chunk_id, chunk.source, chunk.heading, quote.start_line, quote.end_line, quote.text)

    def _close(self, turn: Turn, text: str, claims: list[Claim], abstained: bool) -> Iterator[tuple[str, object]]:
        by_n = {e.n: e for e in turn.evidence}
        citations = [] if abstained else [self.citation(i + 1, by_n[n], n in turn.wide)
                                          for i, n in enumerate(turn.order)]
        for c in citations:
            yield "citation", c
        turn.timings.setdefault("first_token_s", time.perf_counter() - turn.t0)
        turn.timings["total_s"] = time.perf_counter() - turn.t0
        asked = turn.followup.question if turn.followup else turn.question
        if turn.followup:
            turn.diagnostics["followup"] = {"subject": turn.followup.subject, "how": turn.followup.how}
        yield "done", Answer(asked, text, abstained, citations, turn.results, self.backend_name,
                             dict(turn.timings), turn.diagnostics,
                             standalone_question=turn.question if turn.followup else None)


def build_chain(settings: Settings, backend: str | None = None, mode: str | None = None,
                wait: bool = True) -> AnswerChain:
    """An AnswerChain for the settings, with an optional backend / mode override (wait: see from_settings)."""
    return AnswerChain.from_settings(settings, backend=backend, mode=mode, wait=wait)
