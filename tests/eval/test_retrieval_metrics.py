"""Retrieval metrics on hand-made ranked lists with known answers."""
import math

import pytest

from eval.retrieval_metrics import (
    first_hit_rank,
    hit_at_k,
    mean_scores,
    mrr_at_k,
    ndcg_at_k,
    normalise,
    retrieval_scores,
    support_hit,
)


def test_normalise_folds_case_and_whitespace():
    assert normalise("  The  EMA\n\tCopy ") == "the ema copy"


def test_support_hit_exact_after_whitespace_and_case():
    chunk = "Intro.\nThe EMA copy is updated\n after every   optimiser step. More."
    assert support_hit(chunk, ["the ema copy is updated after every optimiser step."])


def test_support_hit_cut_by_chunk_boundary():
    support = "one two three four five six seven eight nine ten"
    assert support_hit("blah blah one two three four five six seven", [support])      # 7/10 prefix
    assert support_hit("four five six seven eight nine ten and then", [support])      # 7/10 suffix
    assert not support_hit("one two three four five", [support])                      # 5/10 only


def test_support_hit_words_must_be_contiguous_and_fraction_tunable():
    support = "alpha beta gamma delta epsilon"
    assert not support_hit("alpha x beta y gamma z delta", [support])
    assert support_hit("alpha beta gamma", [support], min_word_fraction=0.6)
    assert not support_hit("alpha beta gamma", [support], min_word_fraction=0.8)


def test_support_hit_any_of_several_and_empty():
    assert support_hit("the cat sat", ["dog", "cat sat"])
    assert not support_hit("the cat sat", [])
    assert not support_hit("the cat sat", ["", "   "])


def test_hit_mrr_first_rank():
    rel = [False, False, True, False, True]
    assert first_hit_rank(rel) == 3
    assert hit_at_k(rel, 1) == 0.0 and hit_at_k(rel, 3) == 1.0
    assert mrr_at_k(rel, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(rel, 2) == 0.0
    assert first_hit_rank([False]) is None


def test_ndcg_known_values():
    assert ndcg_at_k([True, False, False], 10) == 1.0
    assert ndcg_at_k([False, True], 10) == pytest.approx(1 / math.log2(3))
    # two relevant at ranks 2 and 3, ideal at ranks 1 and 2
    expected = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k([False, True, True], 10) == pytest.approx(expected)
    assert ndcg_at_k([False, False], 10) == 0.0
    assert ndcg_at_k([False, True], 10, n_relevant=2) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))


def test_retrieval_scores_and_mean():
    texts = ["nothing here", "the answer is forty two", "more"]
    row = retrieval_scores(texts, ["answer is forty two"])
    assert row["hit@1"] == 0.0 and row["hit@5"] == 1.0 and row["mrr@10"] == 0.5 and row["first_hit_rank"] == 2
    means = mean_scores([row, {"hit@1": 1.0, "hit@5": 1.0, "mrr@10": 1.0, "ndcg@10": 1.0}])
    assert means["hit@1"] == 0.5 and means["mrr@10"] == 0.75
    assert mean_scores([])["hit@5"] == 0.0


def test_hits_come_from_the_search_for_five_where_given():
    """The fused ranking keeps each retriever's leaders in any k: the gold may sit 7th of ten yet be in the five."""
    ten = ["a", "b", "c", "d", "e", "f", "the answer is forty two", "h"]
    five = ["a", "b", "the answer is forty two", "c", "d"]
    row = retrieval_scores(ten, ["answer is forty two"], top5=five)
    assert row["hit@5"] == 1.0 and row["hit@1"] == 0.0
    assert row["mrr@10"] == pytest.approx(1 / 7) and row["first_hit_rank"] == 7
    assert retrieval_scores(ten, ["answer is forty two"])["hit@5"] == 0.0
