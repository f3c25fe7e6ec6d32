"""Mapped e5 scores of evidence units in a language MiniLM does not read."""
from types import SimpleNamespace

import numpy as np
import pytest

from rag.answer.foreign import ForeignScores
from rag.core.settings import AnswerSettings, RetrievalSettings
from rag.index.store.db import text_hash


def _retriever(boost: float):
    italian = np.asarray([0.6, 0.8], dtype=np.float32)
    store = SimpleNamespace(unit_vectors=lambda hashes, name: {h: italian for h in hashes
                                                                if h == text_hash("frase italiana")})
    return SimpleNamespace(others={"e5": object()}, store=store, settings=RetrievalSettings(foreign_boost=boost),
                           query_vector=lambda text, name: np.asarray([1.0, 0.0], dtype=np.float32))


def test_a_foreign_units_e5_cosine_gets_the_language_gap_before_the_map_to_minilms_scale():
    answer = AnswerSettings(e5_scale=4.0, e5_shift=-3.0)
    scores = ForeignScores(_retriever(0.01), answer).unit_scores(["question"], ["frase italiana", "English text"])
    assert scores[0, 0] == pytest.approx(4.0 * (0.6 + 0.01) - 3.0)   # the gap retrieval adds, on MiniLM's scale
    assert np.isnan(scores[1, 0])                                      # an English unit has no e5 vector
    plain = ForeignScores(_retriever(0.0), answer).unit_scores(["question"], ["frase italiana"])
    assert plain[0, 0] == pytest.approx(4.0 * 0.6 - 3.0)
