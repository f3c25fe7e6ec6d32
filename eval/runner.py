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
    """Mean retrieval metrics over answerable items and the per-question rows."""
    rows = {}
    for it in tqdm([i for i in items if i.answerable], desc=desc, unit="q", leave=False):
        results = retriever.search(it.question, k=10, mode=mode)
        rows[it.id] = retrieval_scores([r.chunk.text for r in results], it.support)
    return mean_scores(list(rows.values())), rows


def answer_question(chain, item: QAItem, checker: Checker, encode) -> dict:
    """Answer one question and grade it."""
    ans = chain.answer(item.question).to_dict()
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


def run_answers(settings: Settings, v: Variant, items: list[QAItem], checker: Checker, encode) -> list[dict]:
    """Answer every item with one answer variant (models loaded once, one warm-up question), the threshold rules
    off: eval.crossval replays any thresholds on the rows (a question they refuse keeps its answering time)."""
    from rag.answer.chain import build_chain
    chain = build_chain(open_settings(settings), backend=v.backend, mode=v.mode)
    chain.answer(items[0].question)
    return [answer_question(chain, it, checker, encode)
            for it in tqdm(items, desc=f"answers {v.name}", unit="q")]


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
            opened = run_answers(main, v, items, checker, encode)
            answers[v.name] = under(opened, main.answer)
            if v.name == primary and folds > 1:
                out["calibration"] = calibration(opened, main.answer, k=folds)
            out["variants"][v.name] = {"kind": "answer", **aggregate_answers(answers[v.name]),
                                       "timings": [r["timings"] for r in answers[v.name]]}
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
    out["config"] = {"retrieval_mode": settings.retrieval.mode, "k": settings.retrieval.k,
                     "chunk_tokens": settings.chunking.max_tokens, "checker_threshold": checker.threshold,
                     "seconds": round(time.perf_counter() - started, 1)}
    return out

