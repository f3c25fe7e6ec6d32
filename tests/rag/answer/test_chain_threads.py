"""The chain serves several generation workers at once (rag serve --workers > 1): its embedding memo is shared
by threads, and a memo cleared by one thread never costs another its vectors (no KeyError)."""
from __future__ import annotations

import threading
import time

import numpy as np

from rag.answer import chain as chain_module
from rag.answer.chain import AnswerChain
from rag.core.settings import load_settings


class _SlowEmbedder:
    """Hash embedder whose encode yields the GIL, so threads interleave inside _embed."""

    def __init__(self, hash_embedder):
        self.inner = hash_embedder

    def encode(self, texts, batch_size=64, progress=False):
        time.sleep(0.001)
        return self.inner.encode(texts)


class _NoUnits:
    def unit_vectors(self, hashes):
        time.sleep(0.0005)
        return {}


class _Retriever:
    def __init__(self, embedder):
        self.embedder = embedder
        self.store = _NoUnits()


def test_embedding_memo_is_thread_safe(hash_embedder, monkeypatch):
    monkeypatch.setattr(chain_module, "EMBED_MEMO", 8)
    chain = AnswerChain(_Retriever(_SlowEmbedder(hash_embedder)), load_settings(env={}), "extractive")
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        for step in range(60):
            texts = [f"sentence {worker} {step} {i} about weights" for i in range(5)] + ["shared sentence"]
            try:
                got = chain._embed(texts)
                assert np.allclose(got, hash_embedder.encode(texts))
            except BaseException as exc:  # noqa: BLE001 - collected for the main thread
                failures.append(exc)
                return

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, repr(failures[0])
