"""GGUF reading: tiny written models round-trip, the real SmolLM2 file matches gguf's reader, broken
files give named errors, and the weight cache converts once."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from gguf.quants import dequantize as ref_dequantize

sys.path.insert(0, str(Path(__file__).parent))
from gguf_fixture import finish, llama_cpp_permute, write_tiny_gguf  # noqa: E402

from rag.model import weight_cache  # noqa: E402
from rag.model.errors import (  # noqa: E402
    BadMagicError,
    GGUFError,
    TruncatedFileError,
    UnsupportedArchitectureError,
    UnsupportedQuantError,
)
from rag.model.gguf import dequantize, ggml_type_name, permute_rows, qtype_for, read_gguf, unpermute_rows  # noqa: E402

K_SHAPES = dict(dim=256, hidden_dim=512, n_heads=4, n_kv_heads=2)  # K-quants need rows of 256


@pytest.mark.parametrize(
    "arch,qtype,extra",
    [
        ("llama", "F32", {}),
        ("llama", "F16", {}),
        ("llama", "BF16", {}),
        ("llama", "Q8_0", {}),
        ("llama", "Q4_0", {}),
        ("llama", "Q4_1", {"embd_qtype": "Q8_0"}),
        ("llama", "Q5_0", {}),
        ("llama", "Q5_1", {}),
        ("llama", "Q2_K", K_SHAPES),
        ("llama", "Q3_K", K_SHAPES),
        ("llama", "Q4_K", {**K_SHAPES, "tie_embeddings": False}),
        ("qwen2", "Q5_K", K_SHAPES),
        ("llama", "Q6_K", K_SHAPES),
        ("qwen2", "Q4_1", {"n_heads": 8, "n_kv_heads": 2}),
    ],
)
def test_tiny_gguf_round_trips(tmp_path, arch, qtype, extra):
    tiny = write_tiny_gguf(tmp_path / "tiny.gguf", arch=arch, qtype=qtype, **extra)
    model = read_gguf(tiny.path)
    assert model.arch == arch
    assert model.config == tiny.config
    assert sorted(model.tensor_names) == sorted(tiny.weights)
    assert model.metadata[f"{arch}.block_count"] == tiny.config["n_layers"]
    assert model.metadata["tokenizer.ggml.pre"] == "smollm"
    assert list(model.array("tokenizer.ggml.tokens")) == tiny.tokens
    reader = gguf.GGUFReader(tiny.path)
    assert [t.name for t in reader.tensors] == model.tensor_names
    for t in reader.tensors:
        info = model.info(t.name)
        assert (info.qtype.type_id, info.shape, info.offset) == (
            t.tensor_type, tuple(int(d) for d in t.shape[::-1]), t.data_offset)
    assert model.metadata == {k: f.contents() for k, f in reader.fields.items() if k in model.metadata}
    for name, expected in tiny.weights.items():
        got = model.tensor(name)
        assert got.dtype == torch.float32 and tuple(got.shape) == expected.shape, name
        np.testing.assert_array_equal(got.numpy(), expected, err_msg=name)
        if got.ndim == 2:  # raw blocks, rows reordered like tensor(): dequantising them gives the same weight
            q = model.quantized(name)
            assert q.qtype == model.info(name).qtype.name and q.shape == expected.shape
            assert q.data.dtype == np.uint8 and q.data.shape[0] == expected.shape[0]
            np.testing.assert_array_equal(dequantize(q.data, model.info(name).qtype).reshape(q.shape), expected,
                                          err_msg=name)


def test_permutation_is_undone_for_llama_only(tmp_path):
    with read_gguf(write_tiny_gguf(tmp_path / "closed.gguf").path) as model:
        kept = model.tensor("blk.0.attn_q.weight")
    assert kept.shape == (64, 64)  # tensors are copies: still valid after the map is closed
    llama = read_gguf(write_tiny_gguf(tmp_path / "l.gguf", arch="llama").path)
    qwen = read_gguf(write_tiny_gguf(tmp_path / "q.gguf", arch="qwen2").path)
    # same seed, so layer 0 has the same HF-layout weights (qwen2 then draws biases); llama's file rows
    # are permuted, qwen2's are not, and both read back equal
    for name in ("blk.0.attn_q.weight", "blk.0.attn_k.weight"):
        assert torch.equal(llama.tensor(name), qwen.tensor(name)), name
        raw_llama = np.frombuffer(llama._raw(llama.info(name)), np.float32).reshape(llama.info(name).shape)
        assert not np.array_equal(raw_llama, llama.tensor(name).numpy())
    raw_v = np.frombuffer(llama._raw(llama.info("blk.0.attn_v.weight")), np.float32).reshape(32, 64)
    np.testing.assert_array_equal(llama.tensor("blk.0.attn_v.weight").numpy(), raw_v)


@pytest.mark.parametrize("rows,heads", [(576, 9), (192, 3), (64, 4), (8, 1)])
def test_permute_then_unpermute_is_identity(rows, heads):
    w = np.random.default_rng(0).standard_normal((rows, 5))
    gguf_rows = llama_cpp_permute(w, heads)
    np.testing.assert_array_equal(gguf_rows, w[permute_rows(rows, heads)])
    np.testing.assert_array_equal(gguf_rows[unpermute_rows(rows, heads)], w)
    np.testing.assert_array_equal(permute_rows(rows, heads)[unpermute_rows(rows, heads)], np.arange(rows))


@pytest.mark.slow
def test_real_smollm2_matches_reference_readers(smollm_path):
    """Header, tensor table and values agree with transformers' GGUF reader (gguf's GGUFReader takes ~6 s
    on this vocabulary, so it is the reference on the tiny files instead) and gguf.quants."""
    reader = pytest.importorskip("transformers.integrations.gguf.reader")
    model = read_gguf(smollm_path)
    assert model.arch == "llama"
    assert model.config == {
        "dim": 576, "n_layers": 30, "n_heads": 9, "n_kv_heads": 3, "head_dim": 64, "vocab_size": 49152,
        "hidden_dim": 1536, "norm_eps": pytest.approx(1e-5), "rope_theta": 100000.0, "rope_scaling": None,
        "max_seq_len": 8192, "tie_embeddings": True, "qkv_bias": False,
    }
    header = reader.GgufHeader.from_file(str(smollm_path))
    assert model.tensor_names == [t.name for t in header.tensors]
    for t in header.tensors:
        info = model.info(t.name)
        assert (info.shape, info.qtype.type_id, info.offset, info.nbytes) == (
            t.shape, t.ggml_type, header.data_start + t.offset, t.nbytes), t.name
    metadata, _ = reader.read_gguf_metadata(str(smollm_path))
    assert model.metadata == {k: v for k, v in metadata.items() if k in model.metadata}
    known = set(model.metadata) | {"tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
                                   "general.languages"}
    assert known >= set(metadata) - {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count"}
    raw = np.memmap(smollm_path, dtype=np.uint8, mode="r")
    for name, heads in [("token_embd.weight", 0), ("blk.0.attn_q.weight", 9), ("blk.29.attn_k.weight", 3),
                        ("blk.7.ffn_down.weight", 0), ("blk.7.attn_v.weight", 0), ("output_norm.weight", 0)]:
        info = model.info(name)
        ref = ref_dequantize(np.array(raw[info.offset : info.offset + info.nbytes]).reshape(info.shape[0], -1),
                             gguf.GGMLQuantizationType(info.qtype.type_id))
        if heads:  # transformers' reverse_permute
            ref = ref.reshape(heads, ref.shape[0] // heads // 2, 2, -1).swapaxes(1, 2).reshape(ref.shape)
        np.testing.assert_array_equal(model.tensor(name).numpy(), ref.reshape(info.shape), err_msg=name)
    q = model.quantized("blk.0.attn_q.weight")
    assert q.qtype == "Q4_1" and q.data.shape == (576, 360) and q.shape == (576, 576)


def test_rope_scaling_from_llama3_freqs_and_metadata(tmp_path):
    freqs = np.linspace(1.0, 8.0, 8, dtype=np.float32)  # head_dim 16 -> 8 frequencies
    tiny = write_tiny_gguf(tmp_path / "l3.gguf", rope_freqs=freqs, rope_theta=500000.0)
    model = read_gguf(tiny.path)
    assert model.config == tiny.config
    assert model.config["rope_scaling"] == {"type": "freq_factors", "tensor": "rope_freqs.weight"}
    assert model.config["rope_theta"] == 500000.0
    np.testing.assert_array_equal(model.tensor("rope_freqs.weight").numpy(), freqs)
    linear = {"llama.rope.scaling.type": "linear", "llama.rope.scaling.factor": 4.0,
              "llama.rope.scaling.original_context_length": 64}
    model = read_gguf(write_tiny_gguf(tmp_path / "lin.gguf", metadata=linear).path)
    assert model.config["rope_scaling"] == {"type": "linear", "factor": 4.0, "original_max_seq_len": 64}


def _cut(src: Path, dst: Path, size: int) -> Path:
    dst.write_bytes(src.read_bytes()[:size])
    return dst


def test_truncated_files_name_the_file(tmp_path):
    tiny = write_tiny_gguf(tmp_path / "whole.gguf")
    size = tiny.path.stat().st_size
    for cut in (2, 10, 30, 300, 3000, size // 2, size - 1):
        path = _cut(tiny.path, tmp_path / f"cut{cut}.gguf", cut)
        with pytest.raises(TruncatedFileError) as err:
            read_gguf(path)
        assert str(path) in str(err.value)


def test_corrupt_headers_raise_only_gguf_errors(tmp_path):
    """Random byte flips in the header either still parse or raise a GGUFError naming the file."""
    tiny = write_tiny_gguf(tmp_path / "whole.gguf", n_layers=1)
    data = tiny.path.read_bytes()
    header_end = data.index(b"output_norm.weight") + 64
    rng = np.random.default_rng(0)
    path = tmp_path / "flipped.gguf"
    for _ in range(200):
        buf = bytearray(data)
        for at in rng.integers(4, header_end, size=int(rng.integers(1, 4))):
            buf[at] = int(rng.integers(0, 256))
        path.write_bytes(bytes(buf))
        try:
            model = read_gguf(path)
        except GGUFError as exc:
            assert str(path) in str(exc)
            continue
        model.close()


def test_missing_or_misshapen_tensors_are_named(tmp_path):
    def write(name: str, skip: str = "", wrong: str = "") -> Path:
        path = tmp_path / name
        writer = gguf.GGUFWriter(str(path), "llama")
        for key, value in {"block_count": 1, "context_length": 8, "embedding_length": 8, "feed_forward_length": 16,
                           "attention.head_count": 2}.items():
            writer.add_uint32(f"llama.{key}", value)
        writer.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
        shapes = {"token_embd.weight": (10, 8), "output_norm.weight": (8,), "blk.0.attn_norm.weight": (8,),
                  "blk.0.ffn_norm.weight": (8,), "blk.0.attn_q.weight": (8, 8), "blk.0.attn_k.weight": (8, 8),
                  "blk.0.attn_v.weight": (8, 8), "blk.0.attn_output.weight": (8, 8), "blk.0.ffn_gate.weight": (16, 8),
                  "blk.0.ffn_up.weight": (16, 8), "blk.0.ffn_down.weight": (8, 16)}
        for tensor, shape in shapes.items():
            if tensor != skip:
                writer.add_tensor(tensor, np.zeros(shape[::-1] if tensor == wrong else shape, np.float32))
        finish(writer)
        return path

    assert read_gguf(write("ok.gguf")).config["tie_embeddings"]
    with pytest.raises(GGUFError, match=r"nov\.gguf.*'blk\.0\.attn_v\.weight' is missing"):
        read_gguf(write("nov.gguf", skip="blk.0.attn_v.weight"))
    with pytest.raises(GGUFError,
                       match=r"down\.gguf.*'blk\.0\.ffn_down\.weight' has shape \(16, 8\), expected \(8, 16\)"):
        read_gguf(write("down.gguf", wrong="blk.0.ffn_down.weight"))


def test_bad_magic(tmp_path):
    path = tmp_path / "notgguf.gguf"
    path.write_bytes(b"GGML" + bytes(100))
    with pytest.raises(BadMagicError, match="notgguf.gguf.*not a GGUF"):
        read_gguf(path)
    text = tmp_path / "readme.gguf"
    text.write_text("hello, this is a text file")
    with pytest.raises(BadMagicError, match="readme.gguf"):
        read_gguf(text)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(GGUFError, match="absent.gguf"):
        read_gguf(tmp_path / "absent.gguf")
    (tmp_path / "empty.gguf").write_bytes(b"")
    with pytest.raises(TruncatedFileError, match="empty.gguf"):
        read_gguf(tmp_path / "empty.gguf")


def test_unsupported_architecture(tmp_path):
    path = tmp_path / "falcon.gguf"
    writer = gguf.GGUFWriter(str(path), "falcon")
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    finish(writer)
    with pytest.raises(UnsupportedArchitectureError, match=r"falcon\.gguf.*'falcon'"):
        read_gguf(path)


def test_unsupported_quant_type(tmp_path):
    path = tmp_path / "q8k.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("blk.0.ffn_up.weight", np.zeros((4, 292), np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_K)
    finish(writer)
    with pytest.raises(UnsupportedQuantError, match=r"q8k\.gguf.*blk\.0\.ffn_up\.weight.*Q8_K"):
        read_gguf(path)
    with pytest.raises(UnsupportedQuantError, match=r"/x/model\.gguf.*'t'.*type id 9999"):
        qtype_for(9999, tensor="t", path="/x/model.gguf")
    assert ggml_type_name(9999) == "type id 9999" and qtype_for(12).name == "Q4_K"


def test_weight_cache_converts_once(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    tiny = write_tiny_gguf(tmp_path / "tiny.gguf")
    calls = []

    def convert():
        calls.append(1)
        model = read_gguf(tiny.path)
        d = {name: model.tensor(name) for name in model.tensor_names}
        d["lm_head"] = d["token_embd.weight"]  # shared storage must be written too
        d["packed"] = torch.arange(12, dtype=torch.int8).reshape(3, 4).t()  # non-contiguous
        return d

    first = weight_cache.load_or_convert(tiny.path, convert, "fp32")
    second = weight_cache.load_or_convert(tiny.path, convert, "fp32")
    assert len(calls) == 1 and first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].name.startswith("tiny.fp32.") and files[0].suffix == ".safetensors"

    weight_cache.load_or_convert(tiny.path, convert, "int8")  # another variant: its own file
    assert len(calls) == 2 and len(list((tmp_path / "cache").iterdir())) == 2

    (tmp_path / "other").mkdir()
    other = write_tiny_gguf(tmp_path / "other" / "tiny.gguf")
    weight_cache.load_or_convert(other.path, lambda: {"w": torch.ones(1)}, "fp32")  # same stem, another file
    assert len(list((tmp_path / "cache").iterdir())) == 3

    os.utime(tiny.path, ns=(1, 1))  # the GGUF changed: a new key, converted again, its stale fp32 cache removed
    weight_cache.load_or_convert(tiny.path, convert, "fp32")
    assert len(calls) == 3
    names = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert len(names) == 3 and weight_cache.cache_path(tiny.path, "fp32").name in names
    assert files[0].name not in names and weight_cache.cache_path(other.path, "fp32").name in names


def test_weight_cache_survives_corrupt_and_unwritable(tmp_path, monkeypatch):
    tiny = write_tiny_gguf(tmp_path / "tiny.gguf")
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    path = weight_cache.cache_path(tiny.path, "fp32")
    path.parent.mkdir()
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    out = weight_cache.load_or_convert(tiny.path, lambda: {"w": torch.ones(3)}, "fp32")
    assert torch.equal(out["w"], torch.ones(3))
    assert torch.equal(weight_cache.load_or_convert(tiny.path, lambda: {}, "fp32")["w"], torch.ones(3))
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left behind

    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    monkeypatch.setenv("RAG_CACHE_DIR", str(blocker / "cache"))
    converted = weight_cache.load_or_convert(tiny.path, lambda: {"w": torch.zeros(2)}, "fp32")
    assert torch.equal(converted["w"], torch.zeros(2))
