"""Abstention metrics: refusal on unanswerable, false refusal on answerable, PaperQA-style precision and accuracy."""
from __future__ import annotations

from collections.abc import Sequence

CORRECT_MIN_KEYWORD_RECALL = 0.5


def is_correct(answerable: bool, abstained: bool, keyword_recall: float, support_hit: bool) -> bool:
    """Correct: a refusal of an unanswerable question, or an answer with keyword recall >= 0.5 and a supporting
    citation."""
    if not answerable:
        return abstained
    return not abstained and keyword_recall >= CORRECT_MIN_KEYWORD_RECALL and support_hit


def abstention_scores(rows: Sequence[dict]) -> dict:
    """Rates over per-question rows with keys answerable, abstained, correct."""
    unans = [r for r in rows if not r["answerable"]]
    ans = [r for r in rows if r["answerable"]]
    answered = [r for r in rows if not r["abstained"]]
    correct = sum(r["correct"] for r in rows)
    return {
        "unanswerable_abstain_rate": sum(r["abstained"] for r in unans) / len(unans) if unans else 0.0,
        "false_abstain_rate": sum(r["abstained"] for r in ans) / len(ans) if ans else 0.0,
        "precision": sum(r["correct"] for r in answered) / len(answered) if answered else 0.0,
        "accuracy": correct / len(rows) if rows else 0.0,
        "n_unanswerable": len(unans), "n_answerable": len(ans), "n_answered": len(answered), "n_correct": correct,
    }
