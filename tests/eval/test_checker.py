"""The judge's checker: its features on hand-made claims, the sign-constrained fit, and held-out AUROC."""
import json

import numpy as np
import pytest

from eval.checker import FEATURES, SIGNS, WEIGHTS_PATH, Checker, _stem, features
from eval.checker_eval import EXAMPLES_LABELS, _logistic_fit, best_threshold, evaluate, kind_weights
from eval.labelled import Labelled, notes_set

UNIT = "Mixup blends two images and their labels with a weight drawn from a beta distribution."
TERMS = frozenset({"mixup", "blend", "two", "imag", "label", "weight", "drawn", "beta", "distribution"})


def _f(claim: str, unit: str = UNIT, context=TERMS) -> dict[str, float]:
    return dict(zip(FEATURES, features(claim, unit, 0.9, TERMS, context)))


def test_stems_and_synonyms_meet():
    assert _stem("normalises") == _stem("normalization")
    assert _stem("closest") == _stem("nearest") and _stem("updated") == _stem("updates")
    assert _stem("picks") == _stem("chosen")


def test_swapped_words_and_transpositions_are_flagged():
    assert _f(UNIT)["swapped"] == 0.0
    assert _f("blends Mixup two images and their labels with a weight drawn from a beta distribution.")["swapped"] > 0
    assert _f("Mixup blends two labels and their images with a weight drawn from a beta distribution.")["swapped"] > 0


def test_substitution_number_and_negation():
    f = _f("Mixup blends two images and their centroids with a weight drawn from a beta distribution.")
    assert f["substituted"] > 0 and f["swapped"] == 0
    assert _f("Mixup blends 3 images with a weight drawn from a beta distribution.")["number_mismatch"] == 1.0
    assert _f("Mixup does not blend two images and their labels.")["negation_mismatch"] == 1.0


def test_negation_in_a_neighbouring_sentence_does_not_hide_an_added_one():
    unit = "No unit can rely on another unit. At test time dropout is switched off."
    terms = frozenset({"unit", "rely", "another", "test", "time", "dropout", "switch", "off"})
    claim = "At test time dropout is not switched off."
    assert dict(zip(FEATURES, features(claim, unit, 0.9, terms, terms)))["negation_mismatch"] == 1.0
    claim = "At test time dropout is switched off."
    assert dict(zip(FEATURES, features(claim, unit, 0.9, terms, terms)))["negation_mismatch"] == 0.0


def test_words_from_another_passage_count_as_elsewhere():
    context = TERMS | {"centroid", "cluster"}
    f = _f("Mixup blends two images and their centroids with a weight.", context=context)
    assert f["elsewhere"] > 0 and f["novel_terms"] == 0
    assert _f("Mixup blends two images and their centroids with a weight.")["novel_terms"] > 0


def test_fit_keeps_signs_even_when_data_say_otherwise():
    rng = np.random.default_rng(0)
    x = rng.random((200, len(FEATURES)))
    y = (x[:, FEATURES.index("novel_terms")] > 0.5).astype(float)
    w, _ = _logistic_fit(x, y, np.ones(len(y)), steps=500)
    assert all(wi * s >= 0 for wi, s in zip(w, SIGNS))
    assert w[FEATURES.index("novel_terms")] == 0.0


def test_kind_weights_balance_classes_then_kinds():
    items = [Labelled("a", [], True, "verbatim")] * 6 + [Labelled("b", [], True, "paraphrase")] * 2 + \
        [Labelled("c", [], False, "swap")] * 4
    w = kind_weights(items)
    assert w[:6].sum() == pytest.approx(w[6:8].sum()) and w[:8].sum() == pytest.approx(w[8:].sum())


def test_best_threshold_balances_kinds():
    scores = [1.0, 1.0, 1.0, 1.0, 0.6, 0.3, 0.5]
    labels = [True] * 5 + [False] * 2
    kinds = ["verbatim"] * 4 + ["paraphrase", "swap", "absent"]
    assert 0.5 < best_threshold(scores, labels, kinds) < 0.6


def test_committed_weights_match_features_and_signs():
    data = json.loads(WEIGHTS_PATH.read_text())
    assert tuple(data["features"]) == FEATURES
    assert all(w * s >= 0 for w, s in zip(data["weights"], SIGNS))
    assert 0.0 < data["threshold"] < 1.0


@pytest.mark.slow
def test_held_out_examples_auroc_and_paraphrases(examples_notes):
    from rag.index.embed import Embedder
    checker = Checker.load(Embedder.load().encode)
    rep = evaluate(checker, notes_set(examples_notes, EXAMPLES_LABELS))
    assert rep["n"] >= 180 and rep["auroc"] >= 0.9 and rep["accuracy"] >= 0.85
    kinds = rep["by_kind"]
    assert kinds["paraphrase"]["accepted"] / kinds["paraphrase"]["n"] >= 0.4
    for bad in ("negation", "number", "swap", "stitch", "absent"):
        assert kinds[bad]["accepted"] / kinds[bad]["n"] <= 0.15, bad
    assert kinds["substitute"]["accepted"] / kinds["substitute"]["n"] <= 0.25


def test_labels_written_for_other_notes_are_left_out(tmp_path):
    """`rag eval --notes` on a folder of one's own: the hand labels of ../shared/notes do not apply (they used to
    raise KeyError on the first labelled note missing); the generated set still comes back."""
    from eval.checker_eval import SHARED_LABELS
    (tmp_path / "mine.md").write_text("# EMA\n\nThe EMA copy of the weights is updated after every optimizer step. "
                                      "Samples are drawn from the EMA weights, which are smoother.\n", encoding="utf-8")
    labelled = notes_set(tmp_path, SHARED_LABELS, max_sentences=10)
    assert labelled and all(x.kind not in ("paraphrase", "absent") for x in labelled)
