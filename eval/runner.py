"""Run an evaluation: ingest notes into temp indexes, score retriever variants and answer variants, aggregate."""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from tqdm import tqdm

from eval.abstention_metrics import abstention_scores, is_correct
from eval.answer_metrics import keyword_recall, semantic_similarity
from eval.breakdown import by_type
from eval.checker import Checker
from eval.crossval import calibration, open_settings, under
from eval.dataset import QAItem
from eval.grounding_metrics import grade_answer
from eval.latency import latency_summary
from eval.retrieval_metrics import mean_scores, retrieval_scores
from rag.core.errors import ConfigError
from rag.core.settings import Backend, Mode, RetrievalMode, Settings, override

DEFAULT_VARIANTS = "dense,bm25,hybrid,chunks120,extractive,local:grounded,local:free"


@dataclass(frozen=True)
class Variant:
    """One configuration compared in the run: a retriever (mode, chunk size) or an answerer (backend, mode)."""

    name: str
    kind: str                 # retrieval | answer
    retrieval_mode: str = "hybrid"
    chunk_tokens: int | None = None
    backend: str = ""
    mode: str = ""
    server: str = ""          # answers from POST {server}/chat instead of an in-process chain


def parse_variants(spec: str, primary: tuple[str, str]) -> list[Variant]:
    """Variants from 'dense,bm25,hybrid,chunks120,extractive,local:grounded,openai:free'; the primary answerer is
    added."""
    out: list[Variant] = []
    for tok in (t.strip() for t in spec.split(",")):
        if not tok:
            continue
        if tok in get_args(RetrievalMode):
            out.append(Variant(tok, "retrieval", retrieval_mode=tok))
        elif tok.startswith("chunks") and tok[6:].isdigit():
            out.append(Variant(tok, "retrieval", chunk_tokens=int(tok[6:])))
        else:
            backend, _, mode = tok.partition(":")
            mode = "grounded" if backend == "extractive" else (mode or primary[1])
            if backend not in get_args(Backend) or mode not in get_args(Mode):
                raise ConfigError(f"unknown variant {tok!r}; use {', '.join(get_args(RetrievalMode))}, chunksN, "
                                  f"BACKEND[:MODE] with BACKEND in {get_args(Backend)} and MODE in {get_args(Mode)}")
            out.append(Variant(answer_name(backend, mode), "answer", backend=backend, mode=mode))
    name = answer_name(*primary)
    if name not in {v.name for v in out}:
        out.append(Variant(name, "answer", backend=primary[0], mode=primary[1]))
    return list({v.name: v for v in out}.values())


def answer_name(backend: str, mode: str) -> str:
    """Display name of an answer variant."""
    return "extractive" if backend == "extractive" else f"{backend}:{mode}"


def openai_configured() -> bool:
    """True when an OpenAI-compatible server was configured through the environment."""
    return bool(os.environ.get("RAG_OPENAI_BASE_URL"))


def ingest_into(notes: Path, settings: Settings, index_dir: Path) -> Settings:
    """Ingest `notes` into `index_dir`; settings pointing at it."""
    from ingest.pipeline import ingest_paths
    settings = override(settings, {"index_dir": str(index_dir)})
    report = ingest_paths([notes], settings, progress=False)
    if report.errors:
        tqdm.write(f"ingest: {len(report.errors)} file(s) failed: " + "; ".join(f"{s}: {e}" for s, e in report.errors))
    return settings


def score_retrieval(retriever, items: list[QAItem], mode: str, desc: str) -> tuple[dict, dict[str, dict]]:
    """Mean retrieval metrics over answerable items and the per-question rows; a follow-up is searched the way the
    chain searches it (its standalone question, the previous answer's notes as a prior). hit@1 and hit@5 come from a
    search for five, as the chain asks at the default k; MRR and nDCG from a search for ten."""
    from rag.answer import abstain, conversation, followup_search

    rows = {}
    vocab = None
    for it in tqdm([i for i in items if i.answerable], desc=desc, unit="q", leave=False):
        if it.history:
            if vocab is None:
                vocab = abstain.Vocabulary(retriever.store.document_text(s) for s in retriever.store.sources())
            followup = conversation.understand(it.question, list(it.history), vocab.knows_phrase)
            top = [followup_search.search(retriever, followup, k, mode=mode) for k in (10, 5)]
        else:
            top = [retriever.search(it.question, k=k, mode=mode) for k in (10, 5)]
        rows[it.id] = retrieval_scores([r.chunk.text for r in top[0]], it.support,
                                       top5=[r.chunk.text for r in top[1]])
    return mean_scores(list(rows.values())), rows


def answer_question(chain, item: QAItem, checker: Checker, encode, use_history: bool = True) -> dict:
    """Answer one question (a follow-up with its earlier turns, unless use_history is False) and grade it."""
    history = list(item.history) if use_history else None
    ans = chain.answer(item.question, history=history).to_dict()
    grade = grade_answer("" if ans["abstained"] else ans["answer"], ans["contexts"], ans["citations"], item.support,
                         checker)
    kw = keyword_recall(ans["answer"], item.answer_keywords, item.answer_keywords_it) if not ans["abstained"] else 0.0
    answered_answerable = item.answerable and not ans["abstained"]
    return {
        "id": item.id, "type": item.type, "question": item.question, "gold": item.answer,
        "answerable": item.answerable, "abstained": bool(ans["abstained"]), "answer": ans["answer"],
        "citations": ans["citations"], "contexts": [{k: c[k] for k in ("source", "heading", "score")}
                                                     for c in ans["contexts"]],
        "keyword_recall": kw if item.answerable else None,
        "semantic_similarity": semantic_similarity(ans["answer"], item.answer, encode) if answered_answerable else None,
        "grounding": grade, "timings": ans["timings"], "coverage": ans["diagnostics"].get("coverage"),
        "correct": is_correct(item.answerable, ans["abstained"], kw, grade["support_hit"]),
        **({"standalone_question": ans["standalone_question"]} if "standalone_question" in ans else {}),
    }


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return float(statistics.mean(values)) if values else 0.0


def aggregate_answers(rows: list[dict]) -> dict:
    """The answer, grounding, citations, abstention and latency blocks of the report."""
    answered = [r for r in rows if not r["abstained"]]
    answerable = [r for r in rows if r["answerable"]]
    sents = [s for r in answered for s in r["grounding"]["sentences"]]
    checks = [c for r in answered for c in r["grounding"]["citation_checks"]]
    ans_ans = [r for r in answered if r["answerable"]]
    return {
        "answer": {"keyword_recall": _mean(r["keyword_recall"] for r in answerable),
                   "keyword_recall_answered": _mean(r["keyword_recall"] for r in ans_ans),
                   "semantic_similarity": _mean(r["semantic_similarity"] for r in ans_ans)},
        "grounding": {"supported_sentence_rate": _mean(s["supported"] for s in sents),
                      "hallucination_rate": _mean(r["grounding"]["any_unsupported"] for r in answered),
                      "n_sentences": len(sents), "n_answered": len(answered)},
        "citations": {"precision": _mean(checks),
                      "support_hit_rate": _mean(r["grounding"]["support_hit"] for r in ans_ans),
                      "n_citations": len(checks)},
        "abstention": abstention_scores(rows),
        "latency": latency_summary([r["timings"] for r in rows]),
    }


def followup_summary(rows: list[dict], alone: list[dict]) -> dict:
    """The follow-up section: the same questions answered with their history and without it."""
    def block(rs: list[dict]) -> dict:
        answerable = [r for r in rs if r["answerable"]]
        unanswerable = [r for r in rs if not r["answerable"]]
        return {"keyword_recall": _mean(r["keyword_recall"] for r in answerable),
                "support_hit_rate": _mean(r["grounding"]["support_hit"] for r in answerable),
                "unanswerable_refused": _mean(r["abstained"] for r in unanswerable) if unanswerable else None,
                "false_abstain_rate": _mean(r["abstained"] for r in answerable) if answerable else None,
                "accuracy": _mean(r["correct"] for r in rs)}
    per_q = [{"id": w["id"], "type": w["type"], "question": w["question"],
              "standalone_question": w.get("standalone_question"),
              "with_history": {k: w[k] for k in ("abstained", "keyword_recall", "correct")} |
              {"support_hit": w["grounding"]["support_hit"]},
              "without_history": {k: a[k] for k in ("abstained", "keyword_recall", "correct")} |
              {"support_hit": a["grounding"]["support_hit"]}} for w, a in zip(rows, alone)]
    return {"n": len(rows), "n_unanswerable": sum(not r["answerable"] for r in rows),
            "with_history": block(rows), "without_history": block(alone), "per_question": per_q}


def run_answers(settings: Settings, v: Variant, items: list[QAItem], checker: Checker, encode
                ) -> tuple[list[dict], list[dict]]:
    """Answer every item with one answer variant (models loaded once, one warm-up question), the threshold rules
    off: eval.crossval replays any thresholds on the rows (a question they refuse keeps its answering time).
    Follow-ups are answered again without their history (the second list, for the follow-up section). A server
    variant answers through POST /chat under the server's own thresholds."""
    if v.server:
        from eval.server_answers import ServerAnswerer
        chain = ServerAnswerer(v.server, settings.server.api_key)
    else:
        from rag.answer.chain import build_chain
        chain = build_chain(open_settings(settings), backend=v.backend, mode=v.mode)
    chain.gaps = None   # the gold set's unanswerable questions are no gaps in the user's notes
    chain.answer(items[0].question)
    rows = [answer_question(chain, it, checker, encode)
            for it in tqdm(items, desc=f"answers {v.name}", unit="q")]
    alone = [answer_question(chain, it, checker, encode, use_history=False)
             for it in tqdm([it for it in items if it.history], desc=f"follow-ups without history {v.name}", unit="q")]
    return rows, alone


def run_eval(items: list[QAItem], notes: Path, settings: Settings, variants: list[Variant], primary: str,
             index: Path | None = None, checker: Checker | None = None, folds: int = 2) -> dict:
    """Evaluate every variant; the report dict (top-level blocks from the primary answer variant)."""
    from rag.index.embed import Embedder
    from rag.index.retrieve import HybridRetriever

    started = time.perf_counter()
    encode = Embedder.load().encode
    checker = checker or Checker.load(encode)
    out: dict = {"variants": {}, "primary": primary}
    per_retrieval: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
        main = (override(settings, {"index_dir": str(index)}) if index
                else ingest_into(notes, settings, Path(tmp) / "index"))
        retriever = HybridRetriever.open(main)
        for v in tqdm([v for v in variants if v.kind == "retrieval"], desc="retrievers", unit="variant"):
            cfg, r = main, retriever
            if v.chunk_tokens:
                cfg = override(settings, {"chunking": {"max_tokens": v.chunk_tokens}})
                cfg = ingest_into(notes, cfg, Path(tmp) / v.name)
                r = HybridRetriever.open(cfg, embedder=retriever.embedder)
            means, rows = score_retrieval(r, items, v.retrieval_mode, f"retrieval {v.name}")
            out["variants"][v.name] = {"kind": "retrieval", "retrieval": means}
            per_retrieval[v.name] = rows
        if settings.retrieval.mode not in per_retrieval:
            means, per_retrieval[settings.retrieval.mode] = score_retrieval(retriever, items, settings.retrieval.mode,
                                                                            "retrieval")
        answers: dict[str, list[dict]] = {}
        for v in [v for v in variants if v.kind == "answer"]:
            opened, alone = run_answers(main, v, items, checker, encode)
            answers[v.name] = under(opened, main.answer)
            if v.name == primary and folds > 1:
                out["calibration"] = calibration(opened, main.answer, k=folds)
            out["variants"][v.name] = {"kind": "answer", **aggregate_answers(answers[v.name]),
                                       "timings": [r["timings"] for r in answers[v.name]]}
            if alone:
                followed = [row for it, row in zip(items, answers[v.name]) if it.history]
                out["variants"][v.name]["followups"] = followup_summary(followed, under(alone, main.answer))
    ret_rows = per_retrieval[settings.retrieval.mode]
    per_q = answers[primary]
    for i, row in enumerate(per_q):
        row["retrieval"] = ret_rows.get(row["id"])
        row["variants"] = {name: {"correct": rs[i]["correct"], "abstained": rs[i]["abstained"]}
                           for name, rs in answers.items()}
    prim = out["variants"][primary]
    out = {"n": len(items), "retrieval": mean_scores(list(ret_rows.values())), **{k: prim[k] for k in
           ("answer", "grounding", "citations", "abstention", "latency")}, "by_type": by_type(per_q),
           "per_question": per_q, **out}
    if "followups" in prim:
        out["followups"] = prim["followups"]
    out["config"] = {"retrieval_mode": settings.retrieval.mode, "k": settings.retrieval.k,
                     "chunk_tokens": settings.chunking.max_tokens, "checker_threshold": checker.threshold,
                     "seconds": round(time.perf_counter() - started, 1)}
    return out

