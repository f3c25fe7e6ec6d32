"""Incremental ingest works the same on both stores: the same reports, chunks, locations, search results and
filters after adding, re-ingesting unchanged, editing and deleting notes (real MiniLM, Qdrant in local mode)."""
from __future__ import annotations

import pytest

from ingest.pipeline import ingest_paths
from rag.core.settings import load_settings
from rag.core.types import Filters
from rag.index.embed import Embedder
from rag.index.retrieve import HybridRetriever
from rag.index.store import open_backend

pytestmark = pytest.mark.slow
STORES = ("faiss", "qdrant")
QUERIES = ["EMA decay of the weights", "mode collapse generator", "batch statistics scale and shift"]


def _state(settings) -> dict:
    """Everything a reader exposes that must not depend on the engine."""
    retriever = HybridRetriever.open(settings, embedder=Embedder.load())
    store = retriever.store
    chunks = store.by_vector_ids(list(range(1, 200)))
    return {"sources": store.sources(), "count": store.count(), "notes": store.notes(),
            "chunks": sorted((c.chunk_id, c.source, c.start_line, c.text) for c in chunks.values()),
            "search": [[r.chunk.chunk_id for r in retriever.search(q, k=3, mode=mode)]
                       for q in QUERIES for mode in ("hybrid", "dense", "bm25")],
            "filtered": [r.chunk.source for r in retriever.search(QUERIES[0], k=3, filters=Filters(file="*.txt"))]}


def _report(r) -> tuple:
    return (sorted(r.added), sorted(r.updated), sorted(r.removed), sorted(r.unchanged), r.chunks_embedded,
            r.chunks_total)


def test_incremental_ingest_agrees_across_stores(tiny_corpus, tmp_path):
    settings = {s: load_settings(env={}, index_dir=str(tmp_path / s), store=s) for s in STORES}

    def step() -> dict:
        reports = {s: _report(ingest_paths([tiny_corpus], settings[s], progress=False)) for s in STORES}
        assert reports["faiss"] == reports["qdrant"]
        states = {s: _state(settings[s]) for s in STORES}
        assert states["faiss"] == states["qdrant"]
        return reports["faiss"]

    first = step()
    assert first[0] == ["batchnorm.txt", "diffusion.md", "gan.md"] and first[4] == first[5] > 0
    version = open_backend(settings["qdrant"]).version()
    assert step()[4] == 0 and open_backend(settings["qdrant"]).version() == version   # unchanged: no new version
    (tiny_corpus / "diffusion.md").write_text("# Diffusion\n\nThe EMA decay is 0.999 in this edited note.\n")
    (tiny_corpus / "notes.txt").write_text("EMA decay notes: a decay of 0.9999 keeps the average slow.\n")
    edited = step()
    assert edited[0] == ["notes.txt"] and edited[1] == ["diffusion.md"]
    (tiny_corpus / "gan.md").unlink()
    removed = step()
    assert removed[2] == ["gan.md"] and removed[4] == 0
    assert open_backend(settings["qdrant"]).version() != version


def test_an_index_cut_by_another_splitter_re_reads_every_note_once(tiny_corpus, tmp_path, monkeypatch):
    from rag.index.qdrant import backend as qdrant_backend
    from rag.index.qdrant import writer as qdrant_writer
    from rag.index.store import faiss_backend, writer

    settings = {s: load_settings(env={}, index_dir=str(tmp_path / s), store=s) for s in STORES}
    first = {s: ingest_paths([tiny_corpus], settings[s], progress=False) for s in STORES}
    for module in (faiss_backend, writer, qdrant_backend, qdrant_writer):   # the splitter changed since
        monkeypatch.setattr(module, "SPLITTER_VERSION", "next")
    for s in STORES:
        again = ingest_paths([tiny_corpus], settings[s], progress=False)
        assert sorted(again.updated) == sorted(first[s].added) and again.unchanged == [], s
        assert again.chunks_embedded == 0 and again.chunks_total == first[s].chunks_total, s   # same texts reused
        settled = ingest_paths([tiny_corpus], settings[s], progress=False)
        assert sorted(settled.unchanged) == sorted(first[s].added) and settled.updated == [], s
