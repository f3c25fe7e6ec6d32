"""rag.index.sbert gives the same vectors and token counts as sentence-transformers; other layouts fall back to it."""
from __future__ import annotations

import json

import numpy as np
import pytest

from rag.core import resources
from rag.index.embed import Embedder, _SentenceTransformerEncoder
from rag.index.sbert import BertEncoder

EDGE_TEXTS = ["", "a", "what is EMA in diffusion", "EMA " * 400, "naïve Bayes — p(x|y) ∝ e^{-x²}  \t\n  tail  "]


@pytest.fixture(scope="module")
def model_dir():
    return resources.embedder_path()


@pytest.fixture(scope="module")
def reference(model_dir):
    """sentence-transformers itself on the same folder."""
    return _SentenceTransformerEncoder(model_dir)


def _note_texts(examples_notes) -> list[str]:
    """Paragraphs of the sample notes: many lengths, so batches are padded differently."""
    texts = []
    for path in sorted(examples_notes.glob("*.md")) + sorted(examples_notes.glob("*.txt")):
        texts += [p for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    return texts


@pytest.mark.slow
def test_vectors_bit_identical_to_sentence_transformers(model_dir, reference, examples_notes):
    ours = BertEncoder.load(model_dir)
    texts = _note_texts(examples_notes)[:30] + EDGE_TEXTS
    for batch_size in (64, 8):   # one padded batch, then several padded differently
        got = ours.encode(texts, batch_size=batch_size)
        want = reference.encode(texts, batch_size=batch_size)
        assert got.dtype == np.float32 and got.shape == (len(texts), 384)
        assert np.array_equal(got, want)
    single = [ours.encode([t])[0] for t in EDGE_TEXTS]
    assert np.array_equal(np.stack(single), reference.encode(EDGE_TEXTS, batch_size=1))


@pytest.mark.slow
def test_token_counts_and_limits_match(model_dir, reference, examples_notes):
    ours = BertEncoder.load(model_dir)
    assert ours.max_seq_length == reference.max_seq_length == 256
    emb = Embedder.load(model_dir)
    tok = reference.model.tokenizer
    for text in _note_texts(examples_notes) + EDGE_TEXTS:
        assert emb.count_tokens(text) == len(tok(text, add_special_tokens=True, truncation=False)["input_ids"])


def test_default_embedder_runs_without_transformers(tmp_path):
    """The MiniLM path never imports transformers or sentence_transformers (their import costs ~4 s)."""
    import subprocess
    import sys
    code = ("import sys; from rag.index.embed import Embedder; e = Embedder.load(); v = e.encode_query('EMA'); "
            "print(v.shape[0], round(float(v @ v), 5), 'transformers' in sys.modules, "
            "'sentence_transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["384", "1.0", "False", "False"]


def _folder_copy(model_dir, tmp_path, change: dict):
    """A copy of the model folder (large files linked) with one JSON file rewritten."""
    dst = tmp_path / "model"
    for src in model_dir.rglob("*"):
        target = dst / src.relative_to(model_dir)
        if src.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(src)
    for name, edit in change.items():
        data = json.loads((model_dir / name).read_text())
        (dst / name).unlink()
        (dst / name).write_text(json.dumps(edit(data)))
    return dst


@pytest.mark.parametrize("change", [
    {"1_Pooling/config.json": lambda d: {**d, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}},
    {"config.json": lambda d: {**d, "model_type": "roberta"}},
    {"modules.json": lambda d: d[:1]},
    {"sentence_bert_config.json": lambda d: {**d, "do_lower_case": True}},
], ids=["cls-pooling", "not-bert", "no-pooling", "st-lowercase"])
def test_other_layouts_are_not_claimed(model_dir, tmp_path, change):
    assert BertEncoder.load(_folder_copy(model_dir, tmp_path, change)) is None


def test_layout_without_normalize_module_still_unit_length(model_dir, tmp_path):
    folder = _folder_copy(model_dir, tmp_path, {"modules.json": lambda d: d[:2]})
    enc = BertEncoder.load(folder)
    assert enc is not None and not enc.normalize_layer
    vecs = enc.encode(["EMA of the weights", "mode collapse"])
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-6)


@pytest.mark.slow
def test_unsupported_layout_falls_back_to_sentence_transformers(model_dir, tmp_path):
    folder = _folder_copy(model_dir, tmp_path, {
        "1_Pooling/config.json": lambda d: {**d, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}})
    emb = Embedder.load(folder)
    assert isinstance(emb.encoder, _SentenceTransformerEncoder)
    assert emb.encode(["EMA"]).shape == (1, 384) and emb.model_id == "local:model"


def test_preload_fills_the_cache_and_leaves_errors_to_load(model_dir, tmp_path, monkeypatch):
    from rag.core.errors import ModelNotInstalledError
    from rag.index import embed

    monkeypatch.setattr(embed, "_CACHE", {})
    Embedder.preload(model_dir).join(60)
    assert list(embed._CACHE) == [model_dir.resolve()]
    assert Embedder.load(model_dir) is embed._CACHE[model_dir.resolve()]
    broken = tmp_path / "not-a-model"
    broken.mkdir()
    thread = Embedder.preload(broken)
    thread.join(60)
    assert not thread.is_alive() and broken.resolve() not in embed._CACHE
    with pytest.raises(ModelNotInstalledError, match="not a sentence-transformers model folder"):
        Embedder.load(broken)
