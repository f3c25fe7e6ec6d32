"""LangChain's own standard retriever tests (langchain-tests RetrieversIntegrationTests) for the retriever over
each store, on a small corpus ingested with the real pipeline: k from the constructor and from invoke(k=...)."""
from __future__ import annotations

import pytest
from langchain_tests.integration_tests import RetrieversIntegrationTests

from rag.index.retrieve import HybridRetriever

NOTES = {
    "diffusion.md": "# Diffusion\n\nDiffusion models keep an exponential moving average (EMA) of the weights.\n",
    "bn.md": "# Batch norm\n\nBatch normalization normalizes each feature over the mini batch.\n",
    "gan.md": "# GANs\n\nMode collapse: the generator produces few kinds of samples.\n",
    "adam.md": "# Adam\n\nAdam keeps moving averages of the gradients and of their squares.\n",
    "dropout.txt": "Dropout zeroes random activations during training to reduce overfitting.\n",
}


class _StoreRetrieverTests(RetrieversIntegrationTests):
    store = "faiss"

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _index(cls, tmp_path_factory):
        """Ingest NOTES once per class into this class's store; the constructor params point at it."""
        from ingest.pipeline import ingest_paths
        from rag.core.settings import load_settings

        root = tmp_path_factory.mktemp(f"lc-{cls.store}")
        for name, text in NOTES.items():
            (root / "notes").mkdir(exist_ok=True)
            (root / "notes" / name).write_text(text, encoding="utf-8")
        settings = load_settings(env={}, index_dir=str(root / "index"), store=cls.store)
        ingest_paths([root / "notes"], settings, progress=False)
        opened = HybridRetriever.open(settings)
        cls.params = {"store": opened.store, "embedder": opened.embedder, "settings": opened.settings}

    @property
    def retriever_constructor(self) -> type[HybridRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return dict(self.params)

    @property
    def retriever_query_example(self) -> str:
        return "what is EMA in diffusion"


class TestFaissRetriever(_StoreRetrieverTests):
    store = "faiss"


class TestQdrantRetriever(_StoreRetrieverTests):
    store = "qdrant"
