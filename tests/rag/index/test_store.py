"""IndexStore / IndexWriter: round trip, stable ids, duplicate locations, atomic versions, lock, HNSW."""
from __future__ import annotations

import os
import random
import sqlite3
import stat
from pathlib import Path

import numpy as np
import pytest

from rag.core.errors import IndexBusyError, IndexMismatchError, IndexNotFoundError, NotFoundError, RagError
from rag.core.settings import RetrievalSettings
from rag.core.types import Chunk
from rag.index.store import DocRecord, IndexLock, IndexStore, IndexWriter, layout, slices, text_hash

DIM = 8


def _vec(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def _chunks(source: str, texts: list[str]) -> list[Chunk]:
    out, pos = [], 0
    for i, t in enumerate(texts):
        out.append(Chunk(source=source, heading=f"H{i}", text=t, start_line=i + 1, end_line=i + 1,
                         start_char=pos, end_char=pos + len(t)))
        pos += len(t) + 1
    return out


def _put(writer: IndexWriter, source: str, texts: list[str]) -> None:
    doc = DocRecord(source, "/root", "sha-" + source, 1, 10, "text", "\n".join(texts), [])
    vecs = {text_hash(t): _vec(int(text_hash(t)[:8], 16)) for t in texts}
    writer.put_document(doc, _chunks(source, texts), vecs)


def _commit(index_dir: Path, docs: dict[str, list[str]], remove=(), approx_above=50_000) -> None:
    with IndexLock(index_dir):
        w = IndexWriter(index_dir, "test/model", DIM, RetrievalSettings(approximate_above=approx_above))
        for source in remove:
            w.remove_document(source)
        for source, texts in docs.items():
            _put(w, source, texts)
        w.commit()


def _consistent(store: IndexStore) -> None:
    rows = store.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    assert rows == store.exact.ntotal == store.count()


def test_round_trip(tmp_path):
    _commit(tmp_path, {"a.md": ["alpha one", "alpha two"], "b.txt": ["beta"]})
    store = IndexStore.open(tmp_path)
    _consistent(store)
    assert store.count() == 3 and store.sources() == ["a.md", "b.txt"]
    assert store.document_text("a.md") == "alpha one\nalpha two"
    info = store.info()
    assert info["model_id"] == "test/model" and info["dim"] == DIM and info["notes"] == 2
    assert info["index_type"] == "exact"
    (vid, score), *_ = store.search_vectors(_vec(int(text_hash("beta")[:8], 16)), 3)
    chunk = store.by_vector_ids([vid])[vid]
    assert chunk.text == "beta" and chunk.source == "b.txt" and score == pytest.approx(1.0, abs=1e-5)
    assert len(chunk.chunk_id) == 16
    assert store.get_chunk(chunk.chunk_id).text == "beta"
    assert [c.text for c in store.chunks([chunk.chunk_id, "missing"])] == ["beta"] and store.chunks([]) == []
    with pytest.raises(NotFoundError):
        store.get_chunk("nope")
    with pytest.raises(NotFoundError):
        store.document_text("zzz.md")


def test_ids_stable_across_deletes(tmp_path):
    _commit(tmp_path, {"a.md": ["a1", "a2"], "b.md": ["b1", "b2", "b3"]})
    before = IndexStore.open(tmp_path)
    b_rows = dict(before.conn.execute("SELECT chunk_id, id FROM chunks WHERE text LIKE 'b%'"))
    a_ids = {r[0] for r in before.conn.execute("SELECT id FROM chunks WHERE text LIKE 'a%'")}
    b_vecs = before.vectors_for(list(b_rows.values()))
    _commit(tmp_path, {}, remove=["a.md"])
    after = IndexStore.open(tmp_path)
    _consistent(after)
    assert after.count() == 3 and after.sources() == ["b.md"]
    assert dict(after.conn.execute("SELECT chunk_id, id FROM chunks")) == b_rows
    np.testing.assert_array_equal(after.vectors_for(list(b_rows.values())), b_vecs)
    _commit(tmp_path, {"c.md": ["c1"]})
    new_id = IndexStore.open(tmp_path).conn.execute("SELECT id FROM chunks WHERE text = 'c1'").fetchone()[0]
    assert new_id not in a_ids and new_id > max(a_ids | set(b_rows.values()))   # deleted ids never reused


def test_duplicate_chunk_stored_once_with_all_locations(tmp_path):
    _commit(tmp_path, {"a.md": ["shared   passage", "only a"], "b.md": ["only b", "shared passage"]})
    store = IndexStore.open(tmp_path)
    assert store.count() == 3
    vid = store.conn.execute("SELECT id FROM chunks WHERE text_hash IN (SELECT text_hash FROM chunks "
                             "WHERE text LIKE 'shared%')").fetchone()[0]
    chunk = store.by_vector_ids([vid])[vid]
    assert (chunk.source, chunk.start_line) == ("a.md", 1)
    assert [(loc.source, loc.start_line) for loc in chunk.extra_locations] == [("b.md", 2)]
    _commit(tmp_path, {}, remove=["a.md"])
    store = IndexStore.open(tmp_path)
    _consistent(store)
    chunk = store.by_vector_ids([vid])[vid]
    assert chunk.source == "b.md" and chunk.extra_locations == []


def test_missing_index_and_model_mismatch(tmp_path):
    with pytest.raises(IndexNotFoundError, match="run rag ingest"):
        IndexStore.open(tmp_path / "none")
    _commit(tmp_path, {"a.md": ["x"]})
    store = IndexStore.open(tmp_path)
    store.check_model("test/model", DIM)
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        store.check_model("other/model", DIM)
    with pytest.raises(IndexMismatchError, match="dim 8"):
        store.check_model("test/model", 16)


def test_aborted_and_crashed_writes_leave_previous_version(tmp_path, monkeypatch):
    _commit(tmp_path, {"a.md": ["a1", "a2"]})
    live = layout.current_version(tmp_path)
    with IndexLock(tmp_path):
        w = IndexWriter(tmp_path, "test/model", DIM, RetrievalSettings())
        _put(w, "b.md", ["b1"])
        w.abort()
    # a crash between writing the new version and swapping the pointer
    monkeypatch.setattr(layout.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("killed")))
    with pytest.raises(OSError):
        _commit(tmp_path, {"c.md": ["c1"]})
    monkeypatch.undo()
    assert layout.current_version(tmp_path) == live
    stale = [p.name for p in tmp_path.iterdir() if p.name.startswith(("tmp-", "v-")) and p != live]
    assert stale                                  # the crashed version's folder was left behind...
    store = IndexStore.open(tmp_path)             # ...the old index still opens, and the open cleans it up
    assert store.sources() == ["a.md"] and store.count() == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(("tmp-", "v-"))] == [live.name]


def test_lock_excludes_a_second_writer(tmp_path):
    with IndexLock(tmp_path):
        with pytest.raises(IndexBusyError, match="another ingest") as busy:
            with IndexLock(tmp_path):
                pass
    assert busy.value.http_status == 409 and busy.value.retry_after > 0
    with IndexLock(tmp_path):
        pass


def test_index_files_are_private_whatever_the_umask(tmp_path):
    index = tmp_path / "index"
    old = os.umask(0)
    try:
        _commit(index, {"a.md": ["alpha one"]})
        _commit(index, {"b.md": ["beta"]})
    finally:
        os.umask(old)
    version = layout.current_version(index)
    modes = {p.relative_to(index).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [index, *index.rglob("*")]}
    assert modes.pop(".") == modes.pop(version.name) == 0o700
    assert modes and set(modes.values()) == {0o600}, modes
    assert {"LOCK", "CURRENT", f"{version.name}/store.sqlite", f"{version.name}/vectors.faiss"} <= set(modes)


def test_an_existing_open_index_folder_is_tightened(tmp_path):
    index = tmp_path / "index"
    index.mkdir(mode=0o755)
    os.chmod(index, 0o755)
    (index / "LOCK").touch()
    os.chmod(index / "LOCK", 0o644)
    _commit(index, {"a.md": ["alpha"]})
    assert stat.S_IMODE(index.stat().st_mode) == 0o700 and stat.S_IMODE((index / "LOCK").stat().st_mode) == 0o600


@pytest.mark.parametrize("checkpoints", ["every 5 characters", "every 4096 characters", "none (older index)"])
def test_document_slice_agrees_with_slicing_the_text(tmp_path, monkeypatch, checkpoints):
    rng = random.Random(7)
    monkeypatch.setattr(slices, "CHECKPOINT_CHARS", 5 if checkpoints.startswith("every 5 ") else 4096)
    alphabets = ["ab \n\x00é€😀\u0301\ufffd漢", "plain ascii text\n"]
    docs = {f"n{i}.md": ["".join(rng.choice(alphabets[i % 2]) for _ in range(rng.randint(1, 9000)))]
            for i in range(10)}
    _commit(tmp_path, docs)
    if checkpoints.startswith("none"):
        version = layout.current_version(tmp_path) / layout.DB_FILE
        with sqlite3.connect(version) as conn:
            conn.execute("DROP TABLE document_offsets")
    store = IndexStore.open(tmp_path)
    for source in docs:
        text = store.document_text(source)
        for _ in range(60):
            a, b = sorted(rng.randint(0, len(text) + 3) for _ in range(2))
            assert store.document_slice(source, a, b) == text[a:b], (source, a, b)
        assert store.document_slice(source, 7, 2) == "" and store.document_slice(source, -3, 4) == text[:4]
    with pytest.raises(NotFoundError):
        store.document_slice("missing.md", 0, 3)


def test_inconsistent_version_is_reported(tmp_path):
    _commit(tmp_path, {"a.md": ["a1", "a2"]})
    db_path = layout.current_version(tmp_path) / layout.DB_FILE
    with sqlite3.connect(db_path) as conn:
        conn.execute("DELETE FROM chunks WHERE text = 'a1'")
    with pytest.raises(RagError, match="inconsistent"):
        IndexStore.open(tmp_path)


def test_hnsw_chosen_above_threshold_agrees_with_exact(tmp_path):
    texts = [f"chunk {i}" for i in range(300)]
    _commit(tmp_path, {"big.md": texts}, approx_above=100)
    store = IndexStore.open(tmp_path)
    assert store.info()["index_type"] == "hnsw"
    _consistent(store)
    agree = 0
    for seed in range(20):
        q = _vec(10_000 + seed)
        exact = {i for i, _ in store.search_vectors(q, 10, exact=True)}
        approx = {i for i, _ in store.search_vectors(q, 10)}
        agree += len(exact & approx)
    assert agree / 200 >= 0.95


def test_unit_vectors_round_trip_and_an_index_from_before_them_reads_as_none(tmp_path):
    unit = _vec(7)
    with IndexLock(tmp_path):
        w = IndexWriter(tmp_path, "test/model", DIM, RetrievalSettings())
        doc = DocRecord("a.md", "/root", "sha", 1, 10, "text", "alpha one", [])
        w.put_document(doc, _chunks("a.md", ["alpha one"]), {text_hash("alpha one"): _vec(1)},
                       {text_hash("alpha one"): [(text_hash("Alpha one."), unit)]})
        w.commit()
    store = IndexStore.open(tmp_path)
    got = store.unit_vectors([text_hash("Alpha one."), text_hash("missing")])
    assert list(got) == [text_hash("Alpha one.")] and np.array_equal(got[text_hash("Alpha one.")], unit)
    with sqlite3.connect(store.version_dir / layout.DB_FILE) as conn:
        conn.execute("DROP TABLE unit_vectors")  # the schema of an index built before unit vectors
    old = IndexStore.open(tmp_path)
    assert old.unit_vectors([text_hash("Alpha one.")]) == {} and old.count() == 1
