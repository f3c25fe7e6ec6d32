"""Sentence splitting, the checker and grounding of answers on hand-made cases."""
import pytest

from eval.checker import Checker, auroc, split_sentences, strip_markers
from eval.grounding_metrics import answer_sentences, grade_answer
from eval.labelled import change_number, clause, negate, stitch, swap

PASSAGES = [
    "Diffusion models keep an exponential moving average of the network weights. "
    "The EMA copy is updated after every optimiser step with a decay of 0.9999.",
    "Batch normalization normalizes each feature over the mini-batch. It then applies a learned scale and shift.",
]


@pytest.fixture(scope="module")
def checker():
    return Checker.load(encode=None)


def test_split_and_markers():
    assert strip_markers("EMA is an average [1, 2].") == "EMA is an average."
    assert split_sentences("One two three. Four five six! Ok") == ["One two three.", "Four five six!"]
    assert answer_sentences("A b c d [1]. E f g h. [2] I j k l [1, 3].") == [
        ("A b c d.", [1]), ("E f g h.", [2]), ("I j k l.", [1, 3])]


def test_auroc_known_values():
    assert auroc([0.9, 0.8, 0.1], [True, True, False]) == 1.0
    assert auroc([0.1, 0.9], [True, False]) == 0.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5


def test_checker_verbatim_negation_number_absent(checker):
    assert checker.judge("The EMA copy is updated after every optimiser step [1].", PASSAGES).score == 1.0
    true = checker.score("Diffusion models keep an exponential moving average of the weights.", PASSAGES)
    assert checker.score("The EMA copy is not updated after every optimiser step with a decay of 0.9999.",
                         PASSAGES) < true
    assert not checker.judge("The EMA copy is updated after every optimiser step with a decay of 0.99.",
                             PASSAGES).supported
    assert not checker.judge("YOLO predicts bounding boxes in a single forward pass.", PASSAGES).supported


def test_corruptions():
    assert negate("The copy is updated daily.") == "The copy is not updated daily."
    assert negate("It is not trained.") == "It is trained."
    assert change_number("a decay of 0.9999 here") == "a decay of 0.9992 here"
    assert change_number("about 200 samples") == "about 400 samples"
    assert stitch("a b c d", "w x y z") == "a b y z"
    assert clause("The layer normalizes each input feature, which helps a lot.") == \
        "The layer normalizes each input feature."
    from collections import Counter
    assert swap("Adam divides by RMSProp here", Counter({"divides": 5, "here": 5})) == "RMSProp divides by Adam here"


def test_grade_answer_counts_citations_and_support(checker):
    contexts = [{"chunk_id": "c1", "text": PASSAGES[0]}, {"chunk_id": "c2", "text": PASSAGES[1]}]
    citations = [{"n": 1, "chunk_id": "c1", "quote": "The EMA copy is updated after every optimiser step"},
                 {"n": 2, "chunk_id": "c2", "quote": "Batch normalization normalizes each feature"}]
    answer = ("The EMA copy is updated after every optimiser step [1]. "
              "The EMA copy is updated after every optimiser step [2]. GANs were invented in 1850.")
    g = grade_answer(answer, contexts, citations, ["updated after every optimiser step"], checker)
    assert g["n_sentences"] == 3 and g["n_supported"] == 2 and g["any_unsupported"]
    assert g["citation_checks"] == [True, False]
    assert g["support_hit"]
    assert not grade_answer("Nothing.", contexts, [], ["x y"], checker)["support_hit"]
