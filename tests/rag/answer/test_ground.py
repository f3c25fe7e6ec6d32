"""Support scoring with the real MiniLM: supported vs unsupported sentences."""
import pytest

from rag.answer.ground import SupportScorer, coverage
from rag.core.settings import AnswerSettings
from rag.core.text import content_terms, stem

PASSAGE = ("Diffusion models keep an exponential moving average (EMA) of the network weights. "
           "The EMA copy is updated after every optimiser step with a decay such as 0.9999.")


@pytest.fixture(scope="module")
def scorer():
    from rag.index.embed import Embedder
    return SupportScorer(Embedder.load().encode)


def test_terms_and_coverage():
    assert stem("updates") == stem("updated") == "updat"
    assert "the" not in content_terms("the EMA copy")
    assert coverage("The EMA copy is updated.", PASSAGE) == 1.0
    assert coverage("GANs collapse.", PASSAGE) == 0.0


@pytest.mark.parametrize("sentence", [
    "Diffusion models keep an EMA of the network weights.",
    "The EMA copy is updated after every optimiser step.",
    "The decay of the EMA is 0.9999.",
])
def test_supported(scorer, sentence):
    assert scorer.best([sentence], [PASSAGE])[0].score >= AnswerSettings().support_threshold


@pytest.mark.parametrize("sentence", [
    "The EMA network is a type of diffusion model used to reduce computational complexity.",
    "The EMA decay is usually 0.5.",
    "The EMA copy is not updated after optimiser steps.",
    "GANs use a discriminator to tell real samples from fakes.",
])
def test_unsupported(scorer, sentence):
    assert scorer.best([sentence], [PASSAGE])[0].score < AnswerSettings().support_threshold


def test_best_passage_is_found(scorer):
    passages = ["GANs have a generator and a discriminator.", PASSAGE]
    best = scorer.best(["EMA weights are updated after each optimiser step."], passages)[0]
    assert best.index == 1


def test_a_sentence_is_doomed_by_two_words_no_passage_holds(scorer):
    known = content_terms(PASSAGE)
    threshold = AnswerSettings().support_threshold
    assert not scorer.cannot_reach("The EMA weights are sharper", known, threshold)  # one new word can still pass
    assert scorer.cannot_reach("The EMA weights are sharper and crunchier", known, threshold)
