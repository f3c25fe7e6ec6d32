"""Incremental ingest with the real MiniLM: unchanged -> nothing embedded, edits, deletes, mismatch, bad files."""
from __future__ import annotations

import sqlite3

import pytest

from ingest.pipeline import ingest_paths
from rag.core.errors import ConfigError, IndexMismatchError
from rag.core.settings import load_settings
from rag.index import embed
from rag.index.retrieve import HybridRetriever
from rag.index.store import IndexStore, layout

pytestmark = pytest.mark.slow


def _settings(tmp_path):
    return load_settings(index_dir=str(tmp_path / "index"))


def _consistent(settings) -> IndexStore:
    store = IndexStore.open(settings.index_path)
    assert store.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == store.exact.ntotal
    return store


def _chunk_ids(store: IndexStore, source: str) -> set[str]:
    return {r[0] for r in store.conn.execute(
        "SELECT c.chunk_id FROM chunks c JOIN locations l ON l.chunk = c.id WHERE l.source = ?", (source,))}


def test_incremental_add_unchanged_edit_delete(tiny_corpus, tmp_path, monkeypatch):
    settings = _settings(tmp_path)
    first = ingest_paths([tiny_corpus], settings, progress=False)
    assert sorted(first.added) == ["batchnorm.txt", "diffusion.md", "gan.md"] and not first.errors
    assert first.chunks_embedded == first.chunks_total > 0
    store = _consistent(settings)
    assert store.sources() == ["batchnorm.txt", "diffusion.md", "gan.md"]
    gan_ids, bn_ids = _chunk_ids(store, "gan.md"), _chunk_ids(store, "batchnorm.txt")

    def no_model(*a, **k):
        raise AssertionError("the embedding model must not load for an unchanged corpus")

    monkeypatch.setattr(embed.Embedder, "load", classmethod(no_model))
    again = ingest_paths([tiny_corpus], settings, progress=False)
    assert again.chunks_embedded == 0 and sorted(again.unchanged) == sorted(first.added)
    assert again.seconds < 1.0
    assert layout.current_version(settings.index_path) == store.version_dir   # no new version written
    monkeypatch.undo()

    (tiny_corpus / "diffusion.md").write_text("# Diffusion\n\nThe EMA decay is 0.999 in this edited note.\n")
    edited = ingest_paths([tiny_corpus], settings, progress=False)
    assert edited.updated == ["diffusion.md"] and edited.added == [] and edited.removed == []
    store = _consistent(settings)
    assert 0 < edited.chunks_embedded <= len(_chunk_ids(store, "diffusion.md"))
    assert _chunk_ids(store, "gan.md") == gan_ids and _chunk_ids(store, "batchnorm.txt") == bn_ids
    assert "0.999 in this edited note" in store.document_text("diffusion.md")

    (tiny_corpus / "gan.md").unlink()
    removed = ingest_paths([tiny_corpus], settings, progress=False)
    assert removed.removed == ["gan.md"] and removed.chunks_embedded == 0
    store = _consistent(settings)
    assert store.sources() == ["batchnorm.txt", "diffusion.md"] and _chunk_ids(store, "gan.md") == set()
    top = HybridRetriever.open(settings).search("EMA decay edited note", k=1)[0]
    assert top.chunk.source == "diffusion.md"


def test_single_file_path_and_other_roots_untouched(tiny_corpus, tmp_path):
    settings = _settings(tmp_path)
    report = ingest_paths([tiny_corpus / "gan.md"], settings, progress=False)
    assert report.added == ["gan.md"]
    other = tmp_path / "other"
    other.mkdir()
    (other / "extra.md").write_text("# Extra\n\nGradient boosting fits trees to residuals.\n")
    ingest_paths([other], settings, progress=False)
    (other / "extra.md").unlink()
    report = ingest_paths([other], settings, progress=False)
    assert report.removed == ["extra.md"]
    assert _consistent(settings).sources() == ["gan.md"]


def test_model_mismatch_refuses_then_rebuild_fixes(tiny_corpus, tmp_path):
    settings = _settings(tmp_path)
    ingest_paths([tiny_corpus], settings, progress=False)
    db_path = layout.current_version(settings.index_path) / layout.DB_FILE
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE meta SET value = replace(value, ?, 'someone/other-model') WHERE key = 'dense'",
                     (embed.model_identity()[0],))
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        ingest_paths([tiny_corpus], settings, progress=False)
    with pytest.raises(IndexMismatchError, match="other-model"):
        HybridRetriever.open(settings)
    report = ingest_paths([tiny_corpus], settings, progress=False, rebuild=True)
    assert len(report.added) == 3 and report.chunks_embedded > 0
    assert _consistent(settings).info()["model_id"] == embed.model_identity()[0]
    assert HybridRetriever.open(settings).search("mode collapse", k=1)[0].chunk.source == "gan.md"


def test_broken_files_are_reported_and_the_rest_indexed(tiny_corpus, tmp_path):
    (tiny_corpus / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog")
    (tiny_corpus / "binary.md").write_bytes(bytes(range(256)) * 40)
    (tiny_corpus / "empty.txt").write_bytes(b"")
    (tiny_corpus / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    settings = _settings(tmp_path)
    report = ingest_paths([tiny_corpus], settings, progress=False)
    failed = dict(report.errors)
    assert {"broken.pdf", "binary.md", "empty.txt"} <= set(failed)
    assert all(reason for reason in failed.values())
    assert dict(report.skipped).keys() == {"image.png"}
    assert _consistent(settings).sources() == ["batchnorm.txt", "diffusion.md", "gan.md"]
    again = ingest_paths([tiny_corpus], settings, progress=False)      # failures are reported again, nothing written
    assert again.chunks_embedded == 0 and set(dict(again.errors)) == set(failed)
    assert sorted(again.unchanged) == ["batchnorm.txt", "diffusion.md", "gan.md"]


def test_missing_path_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        ingest_paths([tmp_path / "nowhere"], _settings(tmp_path), progress=False)


def test_pdf_chunks_keep_their_page_numbers(examples_notes, tmp_path):
    notes = tmp_path / "pdf"
    notes.mkdir()
    (notes / "gradient_boosting.pdf").write_bytes((examples_notes / "gradient_boosting.pdf").read_bytes())
    settings = _settings(tmp_path)
    ingest_paths([notes], settings, progress=False)
    store = _consistent(settings)
    ids = _chunk_ids(store, "gradient_boosting.pdf")
    pages = {store.get_chunk(i).page for i in ids}
    assert pages == {1, 2}


def _unit_rows(store: IndexStore) -> int:
    return store.conn.execute("SELECT COUNT(*) FROM unit_vectors").fetchone()[0]


def test_evidence_units_are_embedded_at_ingest_and_answering_reuses_them(tiny_corpus, tmp_path, monkeypatch):
    from rag.answer.chain import AnswerChain
    from rag.core.text import squash
    from rag.index.store.db import text_hash
    from rag.index.units import evidence_units, listed_in_context

    (tiny_corpus / "steps.md").write_text("# Encoder\n\nEach encoder layer feeds its embeddings through these "
                                          "sublayers:\n\n- A multi-head attention layer\n- A feed-forward layer\n")
    settings = load_settings(index_dir=str(tmp_path / "index"), answer={"backend": "extractive"})
    ingest_paths([tiny_corpus], settings, progress=False)
    store = _consistent(settings)
    ids, _ = store.texts_for_bm25()
    chunks = store.by_vector_ids(ids).values()
    listed = [t for c in chunks for t in listed_in_context(c.text)]
    units = [squash(c.text[a:b]) for c in chunks for a, b in evidence_units(c.text)] + listed
    assert any(t.endswith(": A multi-head attention layer") for t in listed)   # list lines also under their label
    stored = store.unit_vectors([text_hash(u) for u in units])
    assert len(stored) == len(set(units)) == _unit_rows(store) > 0
    embedder = embed.Embedder.load()
    fresh = embedder.encode(units[:4])
    assert all(abs(float(stored[text_hash(u)] @ v) - 1.0) < 1e-5 for u, v in zip(units, fresh))

    chain = AnswerChain.from_settings(settings)
    encoded: list[str] = []
    real_encode = chain.retriever.embedder.encode
    monkeypatch.setattr(chain.retriever.embedder, "encode",
                        lambda texts, **kw: encoded.extend(texts) or real_encode(texts, **kw))
    answer = chain.answer("what does EMA average in diffusion")
    assert answer.citations and not set(encoded) & set(units)  # the evidence sentences came from the index

    before = _unit_rows(store)
    (tiny_corpus / "gan.md").unlink()
    ingest_paths([tiny_corpus], settings, progress=False)
    assert 0 < _unit_rows(_consistent(settings)) < before  # the deleted note's units went with its chunks


def test_foreign_chunks_are_those_minilm_cuts_into_many_pieces():
    """Chunks whose common (lowercase) words the tokenizer cuts into many pieces on average (another language) get
    unit vectors of the other dense sets; English chunks do not, nor lists of names, nor too few words to tell."""
    from ingest.embed import FOREIGN_MIN_WORDS, foreign_chunks
    from rag.core.types import Chunk

    english = Chunk("a.md", "", "the model learns the weights of each layer from the data it is given", 1, 1, 0, 10)
    italian = Chunk("b.md", "", "per cosa intendiamo qualunque tipologia di dato che può spaziare fra immagini", 1, 1,
                    0, 10)
    names = Chunk("c.md", "", "- ChatGPT - Stable Diffusion - Hidden Markov Chains - LSTMs and GRUs", 1, 1, 0, 10)
    short = Chunk("d.md", "", "qualunque tipologia rappresentare", 1, 1, 0, 10)
    pieces = {"intendiamo": 3, "qualunque": 3, "tipologia": 2, "rappresentare": 3, "spaziare": 3, "immagini": 3,
              "chatgpt": 3, "markov": 2, "lstms": 3, "grus": 2}
    count = lambda w: pieces.get(w.lower(), 1)   # noqa: E731 - a word-piece count stand-in
    chunks = {"e": english, "i": italian, "n": names, "s": short}
    assert len(short.text.split()) < FOREIGN_MIN_WORDS <= len(italian.text.split())
    assert list(foreign_chunks(chunks, count, 1.5)) == ["i"]
    assert foreign_chunks(chunks, count, 3.0) == {}
