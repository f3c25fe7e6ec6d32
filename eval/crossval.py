"""Fitted and cross-validated abstention thresholds, side by side with the shipped ones, so overfitting shows.

Each question is answered once with the threshold rules switched off (the structural rules still refuse); any
threshold setting is then replayed on the recorded coverage signals with the production rule
(rag.answer.abstain.decide): a question it refuses becomes a refusal row. Fitted = thresholds fitted on every
question and scored on the same questions; cross-validated = each fold scored with thresholds fitted on the others.
"""
from __future__ import annotations

from dataclasses import replace

from eval.abstention_metrics import is_correct
from eval.calibrate import fit
from rag.answer import abstain
from rag.core.settings import AnswerSettings, Settings, override
from rag.core.types import Chunk, SearchResult

OPEN = {"min_retrieval_score": -1.0, "min_evidence_score": -1.0, "unknown_term_min_dense": -1.0}
THRESHOLDS = ("min_retrieval_score", "min_evidence_score", "unknown_term_min_dense")


def open_settings(settings: Settings) -> Settings:
    """The settings with every threshold rule off (structural refusals stay)."""
    return override(settings, {"answer": OPEN})


def refused_row(row: dict) -> dict:
    """The row a refusal of this question would have given."""
    closest = [SearchResult(Chunk(c["source"], c["heading"], "", 0, 0, 0, 0), c["score"]) for c in row["contexts"]]
    return {**row, "abstained": True, "answer": abstain.refusal(closest), "citations": [],
            "keyword_recall": 0.0 if row["answerable"] else None, "semantic_similarity": None,
            "grounding": {"sentences": [], "n_sentences": 0, "n_supported": 0, "any_unsupported": False,
                          "citation_checks": [], "support_hit": False},
            "correct": is_correct(row["answerable"], True, 0.0, False)}


def under(rows: list[dict], answer: AnswerSettings) -> list[dict]:
    """The rows as the chain with these thresholds would have answered (rows carry their `coverage`)."""
    return [row if row["abstained"] or abstain.decide(abstain.Coverage(**row["coverage"]), answer) is None
            else refused_row(row) for row in rows]


def fold_of(rows: list[dict], k: int) -> list[int]:
    """A fold per question, stratified by type: the i-th question of each type goes to fold i mod k."""
    seen: dict[str, int] = {}
    out = []
    for row in rows:
        out.append(seen.get(row["type"], 0) % k)
        seen[row["type"]] = seen.get(row["type"], 0) + 1
    return out


def summary(rows: list[dict]) -> dict:
    """The headline answer figures of a set of rows."""
    answerable = [r for r in rows if r["answerable"]]
    refuse = [r for r in rows if not r["answerable"]]
    answered = [r for r in answerable if not r["abstained"]]
    sentences = [s for r in rows if not r["abstained"] for s in r["grounding"]["sentences"]]

    def mean(values: list) -> float | None:
        return sum(values) / len(values) if values else None
    return {"keyword_recall": mean([r["keyword_recall"] for r in answerable]),
            "support_hit": mean([r["grounding"]["support_hit"] for r in answered]),
            "unsupported_sentences": mean([not s["supported"] for s in sentences]),
            "must_refuse_refused": mean([r["abstained"] for r in refuse]),
            "false_refusals": mean([r["abstained"] for r in answerable]),
            "correct": mean([r["correct"] for r in rows])}


def _fitted(rows: list[dict], answer: AnswerSettings, max_false: float) -> AnswerSettings:
    """The thresholds fitted on these rows (the given ones where no grid point meets max_false)."""
    best = fit([abstain.Coverage(**r["coverage"]) for r in rows], [r["answerable"] for r in rows], answer, max_false)
    return replace(answer, **{k: best[k] for k in THRESHOLDS}) if best else answer


def calibration(rows: list[dict], answer: AnswerSettings, k: int = 2, max_false: float = 0.05) -> dict:
    """Shipped, fitted and k-fold cross-validated figures of the open-threshold rows, with the thresholds used."""
    fitted = _fitted(rows, answer, max_false)
    folds = fold_of(rows, k)
    cv_rows: list[dict | None] = [None] * len(rows)
    per_fold = []
    for f in range(k):
        train = [r for r, g in zip(rows, folds) if g != f]
        chosen = _fitted(train, answer, max_false)
        per_fold.append({t: getattr(chosen, t) for t in THRESHOLDS})
        for i, row in enumerate(rows):
            if folds[i] == f:
                cv_rows[i] = under([row], chosen)[0]
    return {"folds": k, "max_false": max_false,
            "shipped": {"thresholds": {t: getattr(answer, t) for t in THRESHOLDS}, **summary(under(rows, answer))},
            "fitted": {"thresholds": {t: getattr(fitted, t) for t in THRESHOLDS}, **summary(under(rows, fitted))},
            "cross_validated": {"thresholds": per_fold, **summary(cv_rows)}}
