"""Scores for evidence in a language MiniLM does not read: units that ingest also embedded with another dense set
(e5, multilingual) are scored with that set's query vector, mapped onto MiniLM's cosine scale, so an English
question can rank, quote and be judged answerable from an Italian sentence."""
from __future__ import annotations

import numpy as np

from rag.core.settings import AnswerSettings
from rag.index.store.db import text_hash

FOREIGN_SET = "e5"   # the multilingual dense set (rag.index.embed.EMBEDDER_NAMES)


class ForeignScores:
    """Mapped e5 scores of the units that hold e5 vectors; nothing when the retriever fuses no e5 set."""

    def __init__(self, retriever, settings: AnswerSettings):
        self.retriever = retriever
        self.settings = settings
        self.active = FOREIGN_SET in getattr(retriever, "others", {})

    def mapped(self, cosines: np.ndarray) -> np.ndarray:
        """e5 cosines of units in another language on MiniLM's scale: the map (settings e5_scale, e5_shift) was
        fitted on English units, and e5 scores an English question's English passages higher than others by
        retrieval.foreign_boost on average, so that gap is added first, as retrieval adds it."""
        return self.settings.e5_scale * (cosines + self.retriever.settings.foreign_boost) + self.settings.e5_shift

    def unit_scores(self, queries: list[str], texts: list[str]) -> np.ndarray:
        """(texts, queries) mapped e5 scores; NaN for a text without an e5 unit vector."""
        out = np.full((len(texts), len(queries)), np.nan, dtype=np.float32)
        if not self.active or not texts or not queries:
            return out
        stored = self.retriever.store.unit_vectors([text_hash(t) for t in dict.fromkeys(texts)], FOREIGN_SET)
        rows = [i for i, t in enumerate(texts) if text_hash(t) in stored]
        if rows:
            units = np.stack([stored[text_hash(texts[i])] for i in rows])
            q = np.stack([self.retriever.query_vector(x, FOREIGN_SET) for x in queries])
            out[rows] = self.mapped(units @ q.T)
        return out

    def term_matches(self, terms: list[str], texts: list[str]) -> dict[str, float]:
        """Each term's best mapped e5 score against the units in `texts` that hold e5 vectors (terms with none left
        out)."""
        scores = self.unit_scores(terms, texts)
        return {t: round(float(np.nanmax(scores[:, j])), 4) for j, t in enumerate(terms)
                if len(texts) and not np.all(np.isnan(scores[:, j]))}
