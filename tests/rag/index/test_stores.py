"""The store interface on both engines (FAISS + SQLite, Qdrant local mode): round trip, stable ids, shared
passages, fingerprints, interrupted writes, published versions, unit vectors and a second named dense set."""
from __future__ import annotations

import numpy as np
import pytest

from rag.core.errors import ConfigError, IndexMismatchError, IndexNotFoundError, NotFoundError
from rag.core.settings import RetrievalSettings, load_settings
from rag.core.types import Chunk, NoteMeta
from rag.index.store import DocRecord, open_backend, open_store, text_hash
from rag.index.store.base import DenseSpec, SearchRequest

DIM = 8
MODEL = DenseSpec("minilm", "test/model", DIM)
E5 = DenseSpec("e5", "test/e5", 4)


def _vec(seed: int, dim: int = DIM) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def _seed(text: str) -> int:
    return int(text_hash(text)[:8], 16)


def _chunks(source: str, texts: list[str]) -> list[Chunk]:
    out, pos = [], 0
    for i, t in enumerate(texts):
        out.append(Chunk(source=source, heading=f"H{i}", text=t, start_line=i + 1, end_line=i + 1,
                         start_char=pos, end_char=pos + len(t)))
        pos += len(t) + 1
    return out


@pytest.fixture(params=["faiss", "qdrant"])
def backend(request, tmp_path):
    return open_backend(load_settings(env={}, index_dir=str(tmp_path / "index"), store=request.param))


def _put(writer, source: str, texts: list[str], tags=()) -> None:
    doc = DocRecord(source, "/root", "sha-" + source, 1, 10, "text", "\n".join(texts), [], source.upper(), tags)
    vecs = {text_hash(t): _vec(_seed(t)) for t in texts}
    units = {text_hash(t): [(text_hash("unit " + t), _vec(_seed("unit " + t)))] for t in texts}
    writer.put_document(doc, _chunks(source, texts), vecs, units)


def _commit(backend, docs: dict[str, list[str]], remove=(), dense=(MODEL,)) -> str:
    with backend.lock():
        w = backend.writer(list(dense), RetrievalSettings())
        for source in remove:
            w.remove_document(source)
        for source, texts in docs.items():
            _put(w, source, texts)
        return w.commit()


def _vid(store, text: str) -> int:
    (vid, score), *_ = store.search_vectors(_vec(_seed(text)), 1, exact=True)
    assert score == pytest.approx(1.0, abs=1e-5)
    return vid


def test_round_trip(backend):
    _commit(backend, {"a/x.md": ["alpha one", "alpha two"], "b.txt": ["beta"]})
    store = backend.open_reader()
    assert store.count() == 3 and store.sources() == ["a/x.md", "b.txt"]
    assert store.document_text("a/x.md") == "alpha one\nalpha two"
    assert store.document_slice("a/x.md", 6, 13) == "one\nalp"
    assert store.notes()[0] == NoteMeta("a/x.md", "a", "A/X.MD", ())
    info = store.info()
    assert (info["store"], info["model_id"], info["dim"], info["notes"]) == (backend.kind, "test/model", DIM, 2)
    chunk = store.by_vector_ids([_vid(store, "beta")])[_vid(store, "beta")]
    assert chunk.text == "beta" and chunk.source == "b.txt" and len(chunk.chunk_id) == 16
    assert store.get_chunk(chunk.chunk_id).text == "beta"
    assert [c.text for c in store.chunks([chunk.chunk_id, "missing"])] == ["beta"] and store.chunks([]) == []
    np.testing.assert_allclose(store.vectors_for([_vid(store, "beta")]), _vec(_seed("beta"))[None], atol=1e-6)
    with pytest.raises(NotFoundError):
        store.get_chunk("nope")
    with pytest.raises(NotFoundError):
        store.document_text("zzz.md")


def test_missing_index(backend):
    assert not backend.exists() and backend.version() is None
    with pytest.raises(IndexNotFoundError, match="rag ingest"):
        backend.open_reader()


def test_ids_stable_across_deletes_and_never_reused(backend):
    _commit(backend, {"a.md": ["a1", "a2"], "b.md": ["b1", "b2", "b3"]})
    before = backend.open_reader()
    b_ids = {t: _vid(before, t) for t in ("b1", "b2", "b3")}
    a_ids = {_vid(before, t) for t in ("a1", "a2")}
    _commit(backend, {}, remove=["a.md"])
    after = backend.open_reader()
    assert after.count() == 3 and after.sources() == ["b.md"]
    assert {t: _vid(after, t) for t in b_ids} == b_ids
    assert {c.chunk_id for c in after.by_vector_ids(list(b_ids.values())).values()} == \
        {c.chunk_id for c in before.by_vector_ids(list(b_ids.values())).values()}
    _commit(backend, {"c.md": ["c1"]})
    new_id = _vid(backend.open_reader(), "c1")
    assert new_id not in a_ids and new_id > max(a_ids | set(b_ids.values()))


def test_duplicate_chunk_stored_once_with_all_locations(backend):
    _commit(backend, {"a.md": ["shared   passage", "only a"], "b.md": ["only b", "shared passage"]})
    store = backend.open_reader()
    assert store.count() == 3
    vid = _vid(store, "shared   passage")
    chunk = store.by_vector_ids([vid])[vid]
    assert (chunk.source, chunk.start_line) == ("a.md", 1)
    assert [(loc.source, loc.start_line, loc.heading) for loc in chunk.extra_locations] == [("b.md", 2, "H1")]
    assert chunk.located_in({"b.md"}).source == "b.md" and chunk.located_in({"b.md"}).heading == "H1"
    _commit(backend, {}, remove=["a.md"])
    chunk = backend.open_reader().by_vector_ids([vid])[vid]
    assert chunk.source == "b.md" and chunk.extra_locations == []


def test_fingerprint_mismatch_is_refused(backend):
    _commit(backend, {"a.md": ["x"]})
    store = backend.open_reader()
    store.check_model("test/model", DIM)
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        store.check_model("other/model", DIM)
    with pytest.raises(IndexMismatchError, match="dim 8"):
        store.check_model("test/model", 16)
    with backend.lock(), pytest.raises(IndexMismatchError, match="other/model"):
        backend.read_state(DenseSpec("minilm", "other/model", DIM), rebuild=False)
    manifest, count = backend.read_state(MODEL, rebuild=False)
    assert list(manifest) == ["a.md"] and count == 1


def test_interrupted_writes_leave_the_previous_version(backend):
    live = _commit(backend, {"a.md": ["a1", "a2"]})
    with backend.lock():
        w = backend.writer([MODEL], RetrievalSettings())
        _put(w, "b.md", ["b1"])
        w.abort()
        crashed = backend.writer([MODEL], RetrievalSettings())   # a process killed before commit: no abort
        _put(crashed, "c.md", ["c1"])
    assert backend.version() == live
    store = backend.open_reader()
    assert store.sources() == ["a.md"] and store.count() == 2
    with backend.lock():
        backend.clean_stale()
    _commit(backend, {"d.md": ["d1"]})
    assert backend.open_reader().sources() == ["a.md", "d.md"]


def test_readers_see_a_newer_version_published_and_keep_theirs(backend):
    _commit(backend, {"a.md": ["a1"]})
    old = backend.open_reader()
    assert old.version() == old.opened_version
    _commit(backend, {"b.md": ["b1"]})
    assert old.version() != old.opened_version == old.opened_version
    assert old.count() == 1 and old.sources() == ["a.md"]            # the old reader keeps its version...
    assert [c.text for c in old.by_vector_ids([_vid(old, "a1")]).values()] == ["a1"]
    new = backend.open_reader()                                       # ...a new one serves the newer version
    assert new.opened_version == new.version() == backend.version() and new.count() == 2


def test_unit_vectors_round_trip(backend):
    _commit(backend, {"a.md": ["alpha one", "alpha two"]})
    store = backend.open_reader()
    got = store.unit_vectors([text_hash("unit alpha one"), text_hash("unit alpha two"), text_hash("missing")])
    assert set(got) == {text_hash("unit alpha one"), text_hash("unit alpha two")}
    np.testing.assert_allclose(got[text_hash("unit alpha one")], _vec(_seed("unit alpha one")), atol=1e-6)
    assert store.unit_vectors([]) == {}


def test_a_second_named_dense_set_is_backfilled_and_searched_by_name(backend):
    _commit(backend, {"a.md": ["a1", "a2"]})
    with backend.lock():
        w = backend.writer([MODEL, E5], RetrievalSettings())
        todo = w.missing_vectors("e5")
        assert sorted(c.text for c in todo.values()) == ["a1", "a2"]
        w.add_vectors("e5", {h: _vec(_seed("e5 " + c.text), 4) for h, c in todo.items()})
        w.put_document(DocRecord("b.md", "/root", "s", 1, 1, "text", "b1", []), _chunks("b.md", ["b1"]),
                       {text_hash("b1"): _vec(_seed("b1"))}, None, {"e5": {text_hash("b1"): _vec(_seed("e5 b1"), 4)}})
        w.commit()
    store = backend.open_reader()
    assert set(store.dense_sets()) == {"minilm", "e5"} and store.info()["dense"]["e5"] == {"model_id": "test/e5",
                                                                                             "dim": 4}
    store.check_model("test/e5", 4, name="e5")
    for text in ("a2", "b1"):
        (vid, score), *_ = store.search_vectors(_vec(_seed("e5 " + text), 4), 1, exact=True, name="e5")
        assert store.by_vector_ids([vid])[vid].text == text and score == pytest.approx(1.0, abs=1e-5)
    with backend.lock(), pytest.raises(ConfigError, match="e5"):
        backend.writer([MODEL], RetrievalSettings())                  # the set must keep being filled


def test_a_chunk_in_another_language_ranks_by_its_closest_sentence(backend):
    # e5 ranks the Italian chunk by the better of its own vector and its best unit's (max-sim): its chunk vector is
    # far from the question, one of its sentences is the question's match; MiniLM reads only the English chunk
    def unit(*v):
        return np.asarray(v, dtype=np.float32) / np.linalg.norm(v)

    english, italian = "english passage", "passaggio italiano"
    with backend.lock():
        w = backend.writer([MODEL, E5], RetrievalSettings())
        for source, text, minilm, e5, units in (
                ("en.md", english, np.eye(DIM, dtype=np.float32)[0], unit(0.6, 0.8, 0, 0), None),
                ("it.md", italian, np.eye(DIM, dtype=np.float32)[1], unit(0, 0, 1, 0),
                 [(text_hash("frase uno"), unit(0, 0, 0, 1)), (text_hash("frase due"), unit(1, 0, 0, 0))])):
            w.put_document(DocRecord(source, "/root", "s" + source, 1, 1, "text", text, []), _chunks(source, [text]),
                           {text_hash(text): minilm}, None, {"e5": {text_hash(text): e5}},
                           {"e5": {text_hash(text): units}} if units else None)
        w.commit()
    store = backend.open_reader()
    request = SearchRequest(text="question", vector=np.eye(DIM, dtype=np.float32)[0], k=2, mode="dense",
                            more_dense={"e5": unit(1, 0, 0, 0)})
    assert [r.chunk.text for r in store.search(request)] == [italian, english]


def test_the_index_folder_records_which_store_holds_it(backend, tmp_path):
    _commit(backend, {"a.md": ["a1"]})
    other = "qdrant" if backend.kind == "faiss" else "faiss"
    with pytest.raises(ConfigError, match=f"held by the {backend.kind} store"):
        open_store(load_settings(env={}, index_dir=str(tmp_path / "index"), store=other))


def test_a_rebuild_keeps_the_version_open_readers_are_on(backend):
    _commit(backend, {"a.md": ["a1", "a2"]})
    old = backend.open_reader()
    with backend.lock():
        w = backend.writer([MODEL], RetrievalSettings(), rebuild=True)
        _put(w, "b.md", ["b1"])
        w.commit()
    assert backend.open_reader().sources() == ["b.md"]
    assert old.sources() == ["a.md"] and old.by_vector_ids([_vid(old, "a2")])[_vid(old, "a2")].text == "a2"


def test_replaced_versions_stay_while_a_request_may_still_read_them(backend, monkeypatch):
    if backend.kind != "qdrant":
        pytest.skip("FAISS readers keep their files open; only Qdrant collections are dropped")
    from rag.index.qdrant import client as qc
    first = _commit(backend, {"a.md": ["a1"]})
    second = _commit(backend, {"b.md": ["b1"]})
    third = _commit(backend, {"c.md": ["c1"]})
    assert {first, second, third} <= set(qc.versions(backend.client, backend.alias))   # replaced seconds ago
    later = qc.created_at(third) + backend.settings.server.request_timeout_s + 5
    monkeypatch.setattr("rag.index.qdrant.backend.time.time", lambda: later)
    with backend.lock():
        backend.clean_stale()
    assert set(qc.versions(backend.client, backend.alias)) == {second, third}   # the live one and the previous
