"""Fixtures shared by every test package: the ../shared corpus and a tiny three-note corpus."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the checkout; tests that need it skip with a reason when it is absent."""
    if not (SHARED / "notes").is_dir():
        pytest.skip("../shared/notes is absent (fresh clone outside the team workspace)")
    return SHARED


@pytest.fixture(scope="session")
def shared_notes(shared_dir: Path) -> Path:
    """The real messy corpus."""
    return shared_dir / "notes"


@pytest.fixture(scope="session")
def dev_qa(shared_dir: Path) -> Path:
    """The 70 gold questions over ../shared/notes."""
    return shared_dir / "eval" / "dev_qa.jsonl"


@pytest.fixture(scope="session")
def examples_notes() -> Path:
    """The bundled sample corpus."""
    return ROOT / "examples" / "notes"


TINY_NOTES = {
    "diffusion.md": (
        "# Diffusion models\n\n"
        "## EMA weights\n\n"
        "Diffusion models keep an exponential moving average (EMA) of the network weights.\n"
        "The EMA copy is updated after every optimiser step with a decay such as 0.9999.\n"
        "Samples are drawn from the EMA weights because they are smoother than the raw weights.\n"
    ),
    "batchnorm.txt": (
        "Batch normalization\n\n"
        "Batch normalization normalizes each feature over the mini-batch.\n"
        "It then applies a learned scale gamma and shift beta.\n"
    ),
    "gan.md": (
        "# GANs\n\n"
        "A generator maps noise to samples and a discriminator tells real samples from fakes.\n"
        "Mode collapse happens when the generator produces only a few kinds of samples.\n"
    ),
}


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    """Three short notes in a fresh folder."""
    root = tmp_path / "notes"
    root.mkdir()
    for name, text in TINY_NOTES.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


class HashEmbedder:
    """Bag-of-words hashing embedder: deterministic, instant, good enough to rank word overlap."""

    model_id = "test/hash"
    dim = 64
    max_tokens = 256

    def encode(self, texts, batch_size=64, progress=False):
        import hashlib
        import re

        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for w in re.findall(r"[a-z]+", text.lower()):
                out[row, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)

    def encode_query(self, text):
        return self.encode([text])[0]

    def count_tokens(self, text):
        return len(text.split()) + 2

    def word_pieces(self, word):
        return 1


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    """An instant stand-in for the MiniLM embedder (same interface)."""
    return HashEmbedder()


@pytest.fixture
def fake_embedding_model(monkeypatch, hash_embedder) -> HashEmbedder:
    """The ingest pipeline embeds with HashEmbedder instead of loading MiniLM or e5 (fast pipeline tests): every
    dense set is filled by it."""
    from rag.index import embed

    identity = (hash_embedder.model_id, hash_embedder.dim)
    monkeypatch.setattr(embed, "model_identity", lambda path=None: identity)
    monkeypatch.setattr(embed, "named_identity", lambda name: identity)
    monkeypatch.setattr(embed.Embedder, "load", classmethod(lambda cls, path=None: hash_embedder))
    monkeypatch.setattr(embed.Embedder, "load_named", classmethod(lambda cls, name: hash_embedder))
    return hash_embedder
