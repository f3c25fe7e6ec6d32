"""Threshold fitting uses the production abstention rule, later rules included."""
from eval.calibrate import fit, refused
from rag.answer.abstain import Coverage
from rag.core.settings import AnswerSettings


def test_refused_follows_decide_including_the_unknown_subject_rule():
    s = AnswerSettings()
    covs = [Coverage(0.50, 0.60, unknown_subject="label smoothing"),   # the phrase rule (the old copy missed it)
            Coverage(0.50, 0.60),                                       # nothing unknown: answered
            Coverage(0.50, 0.75, unknown_terms=["zeta"])]               # strong evidence outweighs a new word
    assert refused(covs, s) == [True, False, False]


def test_fit_separates_must_refuse_from_answerable_with_a_margin():
    answerable = [Coverage(d, e) for d, e in ((0.62, 0.70), (0.58, 0.66), (0.66, 0.74))]
    refuse = [Coverage(d, e) for d, e in ((0.31, 0.40), (0.28, 0.36))]
    out = fit(answerable + refuse, [True] * 3 + [False] * 2, AnswerSettings(), max_false=0.0)
    assert out["must_refuse_refused"] == 1.0 and out["false_refusal"] == 0.0
    assert 0.31 < out["min_retrieval_score"] <= 0.58 or 0.40 < out["min_evidence_score"] <= 0.66
    assert out["n_refuse"] == 2 and out["n_answerable"] == 3
