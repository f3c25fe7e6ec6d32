"""Answer metrics: keyword recall against answer_keywords and embedding similarity to the gold answer."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from eval.checker import strip_markers
from eval.retrieval_metrics import normalise


def keyword_recall(answer: str, keywords: Sequence[str], alternative: Sequence[str] = ()) -> float:
    """Share of gold keywords found in the answer (case- and whitespace-insensitive); 1.0 when none are given.

    `alternative` is a second keyword list in another language (a cross-lingual item's `answer_keywords_it`: the
    words a verbatim Italian quote would hold); either list counts, so the better of the two shares is returned.
    """
    if not keywords:
        return 1.0
    text = normalise(strip_markers(answer))
    return max(sum(normalise(k) in text for k in words) / len(words) for words in (keywords, alternative) if words)


def semantic_similarity(answer: str, gold: str, encode: Callable[[list[str]], np.ndarray]) -> float:
    """Cosine of the answer's and the gold answer's embeddings (encode returns unit vectors)."""
    a, g = encode([strip_markers(answer), gold])
    return float(np.clip(a @ g, -1.0, 1.0))
