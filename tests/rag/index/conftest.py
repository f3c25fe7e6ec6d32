"""Store fixtures: the filter corpus indexed once per store (FAISS + SQLite, and Qdrant in local mode)."""
from __future__ import annotations

import pytest

STORES = ["faiss", "qdrant"]


@pytest.fixture(scope="module", params=STORES)
def store_retriever(request, tmp_path_factory):
    """The retriever over test_filters.CORPUS ingested (real MiniLM) into the parametrised store."""
    from ingest.pipeline import ingest_paths
    from rag.core.settings import load_settings
    from rag.index.retrieve import HybridRetriever

    corpus = request.module.CORPUS
    root = tmp_path_factory.mktemp(f"filters-{request.param}")
    for source, text in corpus.items():
        (root / "notes" / source).parent.mkdir(parents=True, exist_ok=True)
        (root / "notes" / source).write_text(text, encoding="utf-8")
    settings = load_settings(env={}, index_dir=str(root / "index"), store=request.param)
    ingest_paths([root / "notes"], settings, progress=False)
    retriever = HybridRetriever.open(settings)
    yield retriever
    retriever.store.close()
