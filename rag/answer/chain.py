"""The answering chain: retrieve -> select evidence -> abstain? -> prompt -> LLM -> parse, verify, repair -> Answer."""
from __future__ import annotations

import glob
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import get_args

import numpy as np
from langchain_core.runnables import RunnableLambda

from rag.answer import abbreviations, abstain, category, conversation, followup_search
from rag.answer.citations import Claim, render
from rag.answer.evidence import Evidence, select_evidence
from rag.answer.extractive import quote_best
from rag.answer.foreign import ForeignScores
from rag.answer.gaps import GAPS_FILE, GapLog
from rag.answer.generate import ModelAnswers
from rag.answer.ground import SupportScorer
from rag.answer.named import named_note, names_a_note
from rag.answer.question import analyse
from rag.answer.quotes import make_quote
from rag.answer.tables import lines_above, question_units
from rag.answer.turn import Turn
from rag.answer.verify import SentenceVerifier
from rag.answer.vocabulary import Vocabulary
from rag.core.errors import ConfigError, NotFoundError, RagError
from rag.core.settings import Mode, Settings
from rag.core.text import squash
from rag.core.types import Answer, Citation, Filters, SearchResult
from rag.index.fusion import interleave
from rag.index.store.db import text_hash

EVIDENCE_BATCH = 8      # sentences per MiniLM batch: less padding (41 notes sentences: 0.37 s vs 0.60-1.55 s at 64)
EMBED_MEMO = 2048       # memoised text embeddings before the memo is cleared


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
        self.model = ModelAnswers(llm, self.verifier, settings.answer, self.mode, backend)
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

    def _lines_above(self, result: SearchResult) -> str:
        """The lines of a result's note before its chunk."""
        return lines_above(self._doc(result.chunk.source) or "", result.chunk.start_char)

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
            limit = self.settings.answer.for_parts(k, len(parts))
            turn.results = interleave([self._search(turn, q, limit) for q in (turn.question, *parts)], limit)
        if not turn.spelled and (spelled := self._spelled(turn)):
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

    def _spelled(self, turn: Turn) -> dict[str, str]:
        """The question's words the notes never use, each with how the notes write it: a slip of typing
        (Vocabulary.respelled) or a short form written out (abbreviations.spelled_in)."""
        vocabulary = self.vocabulary()
        return {**vocabulary.respelled(turn.question, lambda word: self._word_pieces(word) == 1),
                **abbreviations.spelled_in(turn.question, turn.results, vocabulary.knows)}

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
        cap = a.for_parts(a.evidence_sentences, len(turn.query.parts))
        penalty = followup_search.evidence_penalty(turn.followup, turn.results) if turn.followup else None
        foreign = self.foreign if self.foreign.active else None
        units_by_chunk = {r.chunk.chunk_id: question_units(turn.query, r.chunk.text, self._lines_above(r))
                          for r in turn.results}   # cut once: evidence and abstention read the same units
        turn.evidence = select_evidence(turn.query, turn.results, self._embed, self._count_tokens, cap,
                                        a.context_tokens, penalty, foreign=foreign and foreign.unit_scores,
                                        reach=a.max_evidence, units_of=lambda r: units_by_chunk[r.chunk.chunk_id])
        units = [(shown, replace(u, context=f"{u.context} {r.chunk.heading}".strip()))   # under its chunk's titles too
                 for r in turn.results for u, shown in units_by_chunk[r.chunk.chunk_id]]
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
            found = turn.coverage.finding(self.settings.answer) if turn.coverage else None
            text = abstain.refusal(turn.results, turn.finding or found)
            yield from turn.token(text)
            yield from self._close(turn, text, [], abstained=True)
            return
        if self.mode == "extractive" or not turn.evidence:
            quotes = quote_best(turn.evidence, turn.n_parts, self.settings.answer.for_parts(
                self.settings.answer.extractive_sentences, turn.n_parts))
            claims = yield from turn.claims(quotes, first=True)
        elif self.mode == "free":
            claims = yield from self.model.free(turn)
        else:
            claims = yield from self.model.verified(turn)
        claims = [Claim(c.text, turn.cite(c.cites)) for c in claims]
        yield from self._close(turn, render(claims), claims, abstained=False)

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
