"""Abstention: thresholds from settings, unknown question terms, refusals that name the closest notes."""
from dataclasses import replace

from rag.answer.abstain import Coverage, Vocabulary, decide, question_subject, question_terms, refusal
from rag.core.settings import AnswerSettings
from rag.core.types import Chunk, SearchResult


def test_vocabulary_is_prefix_tolerant():
    vocab = Vocabulary(["Backpropagation computes gradients of convnet layers."])
    assert vocab.knows("backprop")                   # an abbreviation of a longer word in the notes
    assert vocab.knows("backpropagating") and vocab.knows("convnets") and vocab.knows("gradient")
    assert not vocab.knows("hnsw")


def test_question_subject_is_the_multi_word_thing_asked_about():
    assert question_subject("What is label smoothing and why does it help classifiers?") == "label smoothing"
    assert question_subject("What is the maximum likelihood estimation?") == "maximum likelihood estimation"
    assert question_subject("What are residual connections for?") == "residual connections"
    assert question_subject("What is EMA in diffusion?") is None  # one word: checked as a question term
    assert question_subject("How does YOLO work?") is None
    assert question_subject("What is the difference between stemming and lemmatization?") is None


def test_phrases_are_known_only_when_their_words_occur_together():
    vocab = Vocabulary(["Smoothing the labels helps. Each label is one-hot.", "Maximum likelihood estimates theta."])
    assert not vocab.knows_phrase("label smoothing")  # both words occur, never side by side
    assert vocab.knows_phrase("maximum likelihood estimation")  # inflections match on the first letters


def test_question_terms_drop_question_words():
    assert question_terms("How does an HNSW index speed up search?") == ["hnsw", "index", "speed", "search"]


def test_decide_uses_settings_thresholds():
    s = AnswerSettings()
    good = Coverage(top_dense=0.7, top_evidence=0.8)
    assert decide(good, s) is None
    assert decide(Coverage(0.1, 0.8), s) is not None
    assert decide(Coverage(0.7, 0.1), s) is not None
    unknown = Coverage(0.5, 0.6, ["yolo"], 0.8)
    assert decide(unknown, s) is not None
    assert decide(unknown, replace(s, unknown_term_min_dense=0.4)) is None
    assert decide(replace(unknown, top_evidence=0.8), s) is None  # a strong evidence sentence overrides
    assert decide(Coverage(0.1, 0.8), replace(s, min_retrieval_score=0.0)) is None
    unknown_phrase = Coverage(0.5, 0.6, unknown_subject="label smoothing")
    assert "label smoothing" in decide(unknown_phrase, s)
    assert decide(replace(unknown_phrase, top_dense=0.6), s) is None  # strong retrieval overrides


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
