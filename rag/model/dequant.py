"""Vectorised numpy dequantisation of the GGML block formats we support.

Each function takes raw bytes (any uint8 array whose size is a whole number of blocks) and returns a
flat float32 array. Layouts follow ggml-quants.c; `tests/rag/model/test_dequant.py` checks them
against `gguf.quants.dequantize`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from rag.model.errors import UnsupportedQuantError

QK_K = 256


@dataclass(frozen=True)
class QType:
    """One GGML tensor type: its id in the file, values per block and bytes per block."""

    name: str
    type_id: int
    block_size: int
    type_size: int

    def row_bytes(self, n_cols: int) -> int:
        """Bytes taken by a row of n_cols values."""
        return n_cols // self.block_size * self.type_size


def _f16(col: np.ndarray) -> np.ndarray:
    # col: (n_blocks, 2) uint8 -> (n_blocks, 1) float32
    return col.view(np.float16).astype(np.float32)


def _nibbles(qs: np.ndarray) -> np.ndarray:
    # qs: (n_blocks, 16) packed bytes -> (n_blocks, 32) values: low nibbles first, then high nibbles
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1)


def _deq_f32(blocks: np.ndarray) -> np.ndarray:
    return blocks.reshape(-1).view(np.float32).copy()


def _deq_f16(blocks: np.ndarray) -> np.ndarray:
    return blocks.reshape(-1).view(np.float16).astype(np.float32)


def _deq_bf16(blocks: np.ndarray) -> np.ndarray:
    # bf16 is the top half of an fp32: widen to uint32 and shift
    return (blocks.reshape(-1).view(np.uint16).astype(np.uint32) << 16).view(np.float32)


def _deq_q8_0(blocks: np.ndarray) -> np.ndarray:
    # block (34 B): d f16, qs int8[32]; x = d * q
    d = _f16(blocks[:, :2])
    q = blocks[:, 2:].view(np.int8).astype(np.float32)
    return (d * q).reshape(-1)


def _deq_q4_0(blocks: np.ndarray) -> np.ndarray:
    # block (18 B): d f16, qs[16] nibbles; x = d * (q - 8)
    d = _f16(blocks[:, :2])
    q = _nibbles(blocks[:, 2:]).astype(np.int8) - np.int8(8)
    return (d * q.astype(np.float32)).reshape(-1)


def _deq_q4_1(blocks: np.ndarray) -> np.ndarray:
    # block (20 B): d f16, m f16, qs[16] nibbles; x = d * q + m
    d = _f16(blocks[:, :2])
    m = _f16(blocks[:, 2:4])
    q = _nibbles(blocks[:, 4:]).astype(np.float32)
    return (d * q + m).reshape(-1)


def _bits(data: np.ndarray, n: int) -> np.ndarray:
    # data: (..., k) uint8 -> (..., n, k): bit j of each byte along the new axis
    shifts = np.arange(n, dtype=np.uint8).reshape((1,) * (data.ndim - 1) + (n, 1))
    return (np.expand_dims(data, -2) >> shifts) & 1


def _q5_values(blocks: np.ndarray, at: int) -> np.ndarray:
    # qh u32 at bytes at..at+3 (bit v = high bit of value v), qs[16] nibbles after it -> (n_blocks, 32) in 0..31
    qh = blocks[:, at : at + 4].reshape(-1, 1, 4)  # little-endian: byte b holds bits 8b..8b+7
    high = _bits(qh, 8).transpose(0, 1, 3, 2).reshape(-1, 32)
    return _nibbles(blocks[:, at + 4 :]) | (high << 4)


def _deq_q5_0(blocks: np.ndarray) -> np.ndarray:
    # block (22 B): d f16, qh u32, qs[16]; x = d * (q - 16)
    d = _f16(blocks[:, :2])
    q = _q5_values(blocks, 2).astype(np.int8) - np.int8(16)
    return (d * q.astype(np.float32)).reshape(-1)


def _deq_q5_1(blocks: np.ndarray) -> np.ndarray:
    # block (24 B): d f16, m f16, qh u32, qs[16]; x = d * q + m
    d = _f16(blocks[:, :2])
    m = _f16(blocks[:, 2:4])
    return (d * _q5_values(blocks, 4).astype(np.float32) + m).reshape(-1)


def _two_bit_groups(qs: np.ndarray) -> np.ndarray:
    # qs: (n, 64) -> (n, 16, 16): half h, shift j: 16 values of bytes 32h..32h+15, then 16 of 32h+16..32h+31
    q = qs.reshape(-1, 2, 1, 32) >> np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)
    return (q & 0x03).reshape(-1, 16, 16)


def _deq_q2_k(blocks: np.ndarray) -> np.ndarray:
    # super-block (84 B): scales[16] (low nibble scale, high nibble min), qs[64] 2-bit, d f16, dmin f16;
    # 16 groups of 16 values: x = d * scale * q - dmin * min
    n = blocks.shape[0]
    sc = blocks[:, :16]
    d = _f16(blocks[:, 80:82])
    dmin = _f16(blocks[:, 82:84])
    scale = (d * (sc & 0x0F).astype(np.float32)).reshape(n, 16, 1)
    shift = (dmin * (sc >> 4).astype(np.float32)).reshape(n, 16, 1)
    q = _two_bit_groups(blocks[:, 16:80]).astype(np.float32)
    return (scale * q - shift).reshape(-1)


def _deq_q3_k(blocks: np.ndarray) -> np.ndarray:
    # super-block (110 B): hmask[32], qs[64] 2-bit, scales[12] (16 signed 6-bit), d f16;
    # group g = 4h + j uses bit g of hmask: x = d * (scale - 32) * (q - (0 if bit else 4))
    n = blocks.shape[0]
    hmask, qs, sb = blocks[:, :32], blocks[:, 32:96], blocks[:, 96:108]
    d = _f16(blocks[:, 108:110])
    low = np.concatenate([sb[:, :8] & 0x0F, sb[:, :8] >> 4], axis=1)  # scale s: byte s % 8, nibble s // 8
    high = (sb[:, 8:12].reshape(n, 1, 4) >> np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 4, 1)) & 0x03
    scales = (low | (high.reshape(n, 16) << 4)).astype(np.int8) - np.int8(32)
    scale = (d * scales.astype(np.float32)).reshape(n, 16, 1)
    offset = (1 - _bits(hmask, 8)).astype(np.int8) << 2  # (n, 8, 32): 4 where the mask bit is clear
    q = _two_bit_groups(qs).astype(np.int8) - offset.reshape(n, 16, 16)
    return (scale * q.astype(np.float32)).reshape(-1)


def q4_k_scales(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unpack Q4_K's 12 bytes of 6-bit scales and mins into (n_blocks, 8) each."""
    s = scales.reshape(-1, 3, 4)
    a, b, c = s[:, 0], s[:, 1], s[:, 2]
    sc = np.concatenate([a & 0x3F, (c & 0x0F) | ((a >> 6) << 4)], axis=1)
    mn = np.concatenate([b & 0x3F, (c >> 4) | ((b >> 6) << 4)], axis=1)
    return sc, mn


def _k_sub_blocks(blocks: np.ndarray, qs_at: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Q4_K / Q5_K super-block: d f16, dmin f16, scales[12], ..., qs[128] from qs_at; 8 sub-blocks of 32:
    # scale and shift (n, 8, 1) each, and the low 4 bits (n, 8, 32): qs bytes 32i..32i+31 hold
    # sub-block 2i in low nibbles and 2i+1 in high nibbles
    n = blocks.shape[0]
    sc, mn = q4_k_scales(blocks[:, 4:16])
    scale = (_f16(blocks[:, :2]) * sc.astype(np.float32)).reshape(n, 8, 1)
    shift = (_f16(blocks[:, 2:4]) * mn.astype(np.float32)).reshape(n, 8, 1)
    qs = blocks[:, qs_at:].reshape(n, 4, 1, 32)
    return scale, shift, np.concatenate([qs & 0x0F, qs >> 4], axis=2).reshape(n, 8, 32)


def _deq_q4_k(blocks: np.ndarray) -> np.ndarray:
    # super-block (144 B): d, dmin, scales[12], qs[128]; x = scale * q - shift
    scale, shift, low = _k_sub_blocks(blocks, 16)
    return (scale * low.astype(np.float32) - shift).reshape(-1)


def _deq_q5_k(blocks: np.ndarray) -> np.ndarray:
    # super-block (176 B): d, dmin, scales[12], qh[32], qs[128]; sub-block s takes bit s of qh[l] as bit 4
    scale, shift, low = _k_sub_blocks(blocks, 48)
    q = (low | (_bits(blocks[:, 16:48], 8) << 4)).astype(np.float32)
    return (scale * q - shift).reshape(-1)


def _deq_q6_k(blocks: np.ndarray) -> np.ndarray:
    # super-block (210 B): ql[128] low 4 bits, qh[64] high 2 bits, scales int8[16], d f16;
    # two halves of 128 values; in half h, value 32*j + l takes nibble j//2 of ql[64h + 32*(j%2) + l]
    # and bits 2j..2j+1 of qh[32h + l]; x = d * scale[p // 16] * (q - 32)
    n = blocks.shape[0]
    ql = blocks[:, :128].reshape(n, 2, 2, 32)
    qh = blocks[:, 128:192].reshape(n, 2, 1, 32)
    scales = blocks[:, 192:208].view(np.int8).astype(np.float32)
    d = _f16(blocks[:, 208:210])
    low = np.concatenate([ql & 0x0F, ql >> 4], axis=2)  # (n, 2, 4, 32): j = 0,1 low nibbles, 2,3 high
    high = (qh >> np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)) & 0x03
    q = (low | (high << 4)).astype(np.int8) - np.int8(32)
    scale = (d * scales).reshape(n, 16, 1)
    return (scale * q.reshape(n, 16, 16).astype(np.float32)).reshape(-1)


QTYPES: dict[int, QType] = {
    q.type_id: q
    for q in (
        QType("F32", 0, 1, 4),
        QType("F16", 1, 1, 2),
        QType("Q4_0", 2, 32, 18),
        QType("Q4_1", 3, 32, 20),
        QType("Q5_0", 6, 32, 22),
        QType("Q5_1", 7, 32, 24),
        QType("Q8_0", 8, 32, 34),
        QType("Q2_K", 10, QK_K, 84),
        QType("Q3_K", 11, QK_K, 110),
        QType("Q4_K", 12, QK_K, 144),
        QType("Q5_K", 13, QK_K, 176),
        QType("Q6_K", 14, QK_K, 210),
        QType("BF16", 30, 1, 2),
    )
}
QTYPES_BY_NAME: dict[str, QType] = {q.name: q for q in QTYPES.values()}

_DEQUANT: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "F32": _deq_f32,
    "F16": _deq_f16,
    "BF16": _deq_bf16,
    "Q8_0": _deq_q8_0,
    "Q4_0": _deq_q4_0,
    "Q4_1": _deq_q4_1,
    "Q5_0": _deq_q5_0,
    "Q5_1": _deq_q5_1,
    "Q2_K": _deq_q2_k,
    "Q3_K": _deq_q3_k,
    "Q4_K": _deq_q4_k,
    "Q5_K": _deq_q5_k,
    "Q6_K": _deq_q6_k,
}


def ggml_type_name(type_id: int) -> str:
    """Name of any GGML type id (the gguf package's enum for those we do not support)."""
    if type_id in QTYPES:
        return QTYPES[type_id].name
    from gguf import GGMLQuantizationType

    try:
        return GGMLQuantizationType(type_id).name
    except ValueError:
        return f"type id {type_id}"


def qtype_for(type_id: int, *, tensor: str = "?", path: str = "?") -> QType:
    """The QType of a type id, or UnsupportedQuantError naming the type and the tensor."""
    if type_id not in QTYPES:
        raise UnsupportedQuantError(
            path,
            f"tensor {tensor!r} is stored as {ggml_type_name(type_id)}; supported: {', '.join(_DEQUANT)}",
        )
    return QTYPES[type_id]


def dequantize(raw: np.ndarray, qtype: str, *, tensor: str = "?", path: str = "?") -> np.ndarray:
    """Flat float32 values of raw GGML bytes stored as qtype."""
    if qtype not in _DEQUANT:
        raise UnsupportedQuantError(path, f"tensor {tensor!r} is stored as {qtype}; supported: {', '.join(_DEQUANT)}")
    info = QTYPES_BY_NAME[qtype]
    blocks = np.ascontiguousarray(raw).view(np.uint8).reshape(-1, info.type_size)
    return _DEQUANT[qtype](blocks)
