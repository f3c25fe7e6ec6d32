"""Answer, abstention and latency metrics on hand-made cases with known answers."""
import math

import numpy as np
import pytest

from eval.abstention_metrics import abstention_scores, is_correct
from eval.answer_metrics import keyword_recall, semantic_similarity
from eval.latency import latency_summary, percentile


def test_keyword_recall_case_whitespace_and_markers():
    assert keyword_recall("It is LEARNED and can  undo [1] it.", ["learned", "undo"]) == 1.0
    assert keyword_recall("It is learned.", ["learned", "undo"]) == 0.5
    assert keyword_recall("anything", []) == 1.0
    assert keyword_recall("the rest\napi", ["rest api"]) == 1.0


def test_semantic_similarity_uses_unit_vectors_and_strips_markers():
    seen = []

    def encode(texts):
        seen.extend(texts)
        return np.array([[1.0, 0.0], [0.6, 0.8]])

    assert semantic_similarity("a [1]", "b", encode) == pytest.approx(0.6)
    assert seen == ["a", "b"]


def test_is_correct_definition():
    assert is_correct(False, True, 0.0, False)
    assert not is_correct(False, False, 1.0, True)
    assert is_correct(True, False, 0.5, True)
    assert not is_correct(True, False, 0.49, True)
    assert not is_correct(True, False, 1.0, False)
    assert not is_correct(True, True, 1.0, True)


def test_abstention_scores_known_values():
    rows = [
        {"answerable": False, "abstained": True, "correct": True},
        {"answerable": False, "abstained": False, "correct": False},
        {"answerable": True, "abstained": True, "correct": False},
        {"answerable": True, "abstained": False, "correct": True},
        {"answerable": True, "abstained": False, "correct": False},
    ]
    s = abstention_scores(rows)
    assert s["unanswerable_abstain_rate"] == 0.5
    assert s["false_abstain_rate"] == pytest.approx(1 / 3)
    assert s["precision"] == pytest.approx(1 / 3)      # 1 correct of 3 answered
    assert s["accuracy"] == pytest.approx(2 / 5)
    assert abstention_scores([])["accuracy"] == 0.0


def test_percentile_and_latency_summary():
    assert percentile([3, 1, 2], 50) == 2
    assert percentile([0, 10], 95) == pytest.approx(9.5)
    assert math.isnan(percentile([], 50))
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 100):
        xs = rng.random(n).tolist()
        for q in (0, 5, 50, 95, 100):
            assert percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)))  # numpy's linear rule
    s = latency_summary([{"first_token_s": 0.1, "total_s": 1.0}, {"first_token_s": 0.3, "total_s": 3.0}])
    assert s["p50_total_s"] == 2.0 and s["p50_first_token_s"] == pytest.approx(0.2)
    assert s["p95_total_s"] == pytest.approx(2.9)


def test_keyword_recall_counts_either_language_list():
    assert keyword_recall("Qualunque cosa digitale", ["anything", "digital"], ["qualunque cosa", "digitale"]) == 1.0
    assert keyword_recall("anything at all", ["anything", "digital"], ["qualunque cosa", "digitale"]) == 0.5


def test_figures_per_question_type():
    from eval.breakdown import by_type
    def row(qtype, answerable, abstained, kw, hit, supported):
        return {"type": qtype, "answerable": answerable, "abstained": abstained, "keyword_recall": kw,
                "correct": answerable != abstained, "grounding": {"support_hit": hit,
                                                                 "sentences": [{"supported": s} for s in supported]}}
    out = by_type([row("how", True, False, 1.0, True, [True, False]), row("how", True, True, 0.0, False, []),
                   row("unanswerable", False, True, None, False, [])])
    assert out["how"]["n"] == 2 and out["how"]["keyword_recall"] == 0.5 and out["how"]["refused"] == 0.5
    assert out["how"]["unsupported_sentences"] == 0.5 and out["how"]["support_hit"] == 1.0
    assert out["unanswerable"]["refused"] == 1.0 and out["unanswerable"]["keyword_recall"] is None
