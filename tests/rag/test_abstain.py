"""Abstention: thresholds from settings, unknown question terms, refusals that name the closest notes."""
from dataclasses import replace

from rag.abstain import Coverage, Vocabulary, decide, question_terms, refusal
from rag.settings import AnswerSettings
from rag.types import Chunk, SearchResult


def test_vocabulary_is_prefix_tolerant():
    vocab = Vocabulary(["Backpropagation computes gradients of convnet layers."])
    assert vocab.knows("backprop")                   # an abbreviation of a longer word in the notes
    assert vocab.knows("backpropagating") and vocab.knows("convnets") and vocab.knows("gradient")
    assert not vocab.knows("hnsw")


def test_question_terms_drop_question_words():
    assert question_terms("How does an HNSW index speed up search?") == ["hnsw", "index", "speed", "search"]


def test_decide_uses_settings_thresholds():
    s = AnswerSettings()
    good = Coverage(top_dense=0.7, top_evidence=0.8)
    assert decide(good, s) is None
    assert decide(Coverage(0.1, 0.8), s) is not None
    assert decide(Coverage(0.7, 0.1), s) is not None
    unknown = Coverage(0.5, 0.8, ["yolo"], 0.8)
    assert decide(unknown, s) is not None
    assert decide(unknown, replace(s, unknown_term_min_dense=0.4)) is None
    assert decide(Coverage(0.1, 0.8), replace(s, min_retrieval_score=0.0)) is None


def test_refusal_names_closest_notes():
    hits = [SearchResult(Chunk(src, head, "t", 1, 1, 0, 1), 0.1) for src, head in
            [("a.md", "Intro"), ("a.md", "Intro"), ("b.txt", "")]]
    text = refusal(hits)
    assert "a.md (Intro)" in text and "b.txt" in text and text.count("a.md") == 1
    assert "could not find" in refusal([])


def test_chain_abstains_on_uncovered_question(make_chain):
    ans = make_chain("extractive").answer("How does YOLO detect objects in a single forward pass?")
    assert ans.abstained and ans.citations == []
    assert "closest notes" in ans.answer and ".md" in ans.answer
    assert ans.diagnostics["abstain_reason"]


def test_chain_answers_covered_question(make_chain):
    ans = make_chain("extractive").answer("What is EMA in diffusion models?")
    assert not ans.abstained and ans.citations
