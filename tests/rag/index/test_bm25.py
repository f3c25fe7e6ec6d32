"""rag.index.bm25 gives bm25s's scores bit for bit, without importing bm25s or scipy."""
from __future__ import annotations

import random
import subprocess
import sys

import bm25s
import numpy as np
import pytest

from rag.index.bm25 import EMPTY, BM25Index, tokenize

WORDS = "ema decay diffusion model noise beta gamma score mode collapse the of weights average step".split()


def _reference(texts: list[str], query: str) -> np.ndarray | None:
    """What rag.index.bm25 computed with bm25s (default BM25(): Lucene, k1=1.5, b=0.75, float32)."""
    model = bm25s.BM25()
    model.index([tokenize(t) or [EMPTY] for t in texts], show_progress=False)
    terms = [t for t in tokenize(query) if t in model.vocab_dict]
    return model.get_scores(terms) if terms else None


def _corpus(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(0, 30))) for _ in range(n)]


@pytest.mark.parametrize("seed", range(5))
def test_scores_equal_bm25s_bit_for_bit(seed):
    texts = _corpus(seed, 60)
    idx = BM25Index(list(range(100, 160)), texts)
    rng = random.Random(seed + 1000)
    queries = ["ema ema decay", "the of", "zebra", "noise", "Beta-gamma score?"]
    queries += [" ".join(rng.choices(WORDS, k=rng.randint(1, 6))) for _ in range(20)]
    for q in queries:
        got, want = idx.scores(q), _reference(texts, q)
        if want is None:
            assert got is None, q
        else:
            assert got.dtype == np.float32 and np.array_equal(got, want), q


def test_scores_equal_bm25s_on_the_shared_notes(shared_notes):
    texts = [p.read_text(encoding="utf-8", errors="replace")[i:i + 1500]
             for p in sorted(shared_notes.iterdir()) if p.is_file() for i in range(0, 30000, 1500)]
    idx = BM25Index(list(range(len(texts))), texts)
    for q in ("what is EMA in diffusion", "reparameterization trick variance", "batch norm gamma beta",
              "attention attention softmax scaling"):
        assert np.array_equal(idx.scores(q), _reference(texts, q)), q


def test_empty_corpus_scores_nothing():
    idx = BM25Index([], [])
    assert idx.scores("ema") is None and idx.search("ema", 3) == []


def test_importing_rag_bm25_imports_neither_bm25s_nor_scipy():
    code = "import sys, rag.index.bm25; print(sorted(m for m in ('bm25s', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
