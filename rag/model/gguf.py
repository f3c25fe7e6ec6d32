"""Read a GGUF file: header and metadata, tensors -> float32 torch weights or raw quantised blocks (the model
config the metadata describes is read by rag.model.gguf_config).

The header is parsed here with struct over a read-only mmap (the `gguf` package's GGUFReader takes
~6 s on SmolLM2's 49k-token vocabulary; this parser takes well under a second) and tensor data is
viewed zero-copy from the map. Values are dequantised by `gguf.quants.dequantize`, the format's own
reference (1.8x slower than the numpy code it replaced on a whole fp32 conversion of SmolLM2-135M,
2.5 s instead of 1.4 s, paid once: converted weights are cached; packed loads dequantise only the
embedding, 0.15-0.2 s either way).

Layout convention: `tensor(name)` is shaped like the PyTorch Linear weight (out_features,
in_features), i.e. the GGUF dims reversed. For the llama architecture, llama.cpp's converter
permutes the rows of attn_q/attn_k per head so that its interleaved ("GPT-J") RoPE can be used;
we undo that permutation (as transformers' GGUF loader does), so the model applies HF-style
rotate_half ("NeoX") RoPE to every supported architecture. qwen2 files are not permuted.
"""
from __future__ import annotations

import math
import mmap
import re
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import gguf
import numpy as np
import torch

from rag.model.errors import BadMagicError, GGUFError, TruncatedFileError, UnsupportedQuantError
from rag.model.gguf_config import architecture, check_shapes, model_config

GGUF_MAGIC = b"GGUF"
MAX_DIMS = 4  # GGML_MAX_DIMS
_PERMUTED = re.compile(r"^blk\.\d+\.attn_(q|k)\.(weight|bias)$")

# GGUF metadata value types: id -> struct format (scalars); 8 = string, 9 = array
_SCALAR_FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_ARRAY_DTYPE = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?",
                10: "<u8", 11: "<i8", 12: "<f8"}
_STRING, _ARRAY = 8, 9
_U64 = struct.Struct("<Q")


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


@cache
def _qtype(type_id: int) -> QType | None:
    """The QType of a type id when gguf.quants can dequantise it (tried on one zero block), else None."""
    try:
        t = gguf.GGMLQuantizationType(type_id)
        block_size, type_size = gguf.GGML_QUANT_SIZES[t]
        gguf.quants.dequantize(np.zeros((1, type_size), np.uint8), t)
    except (ValueError, KeyError, NotImplementedError):
        return None
    return QType(t.name, type_id, block_size, type_size)


def ggml_type_name(type_id: int) -> str:
    """Name of any GGML type id."""
    try:
        return gguf.GGMLQuantizationType(type_id).name
    except ValueError:
        return f"type id {type_id}"


def qtype_for(type_id: int, *, tensor: str = "?", path: str = "?") -> QType:
    """The QType of a type id, or UnsupportedQuantError naming the type and the tensor."""
    qtype = _qtype(type_id)
    if qtype is None:
        raise UnsupportedQuantError(path, f"tensor {tensor!r} is stored as {ggml_type_name(type_id)}, which "
                                          "gguf.quants cannot dequantise")
    return qtype


def dequantize(raw: np.ndarray, qtype: QType) -> np.ndarray:
    """Flat float32 values of raw GGML bytes (a whole number of blocks) stored as qtype."""
    blocks = np.ascontiguousarray(raw, dtype=np.uint8).reshape(-1, qtype.type_size)
    values = gguf.quants.dequantize(blocks, gguf.GGMLQuantizationType(qtype.type_id))
    return np.array(values, dtype=np.float32).reshape(-1)  # a copy: F32 data would otherwise view the file


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives in the file and how it is stored."""

    name: str
    shape: tuple[int, ...]  # PyTorch order: GGUF dims reversed
    qtype: QType
    offset: int  # absolute byte offset in the file
    nbytes: int


@dataclass(frozen=True)
class QuantTensor:
    """Raw GGML blocks of a weight: data (rows, row_bytes) uint8 for shape (rows, cols) stored as qtype."""

    qtype: str
    data: np.ndarray
    shape: tuple[int, ...]


def permute_rows(n_rows: int, n_head: int) -> np.ndarray:
    """Row order llama.cpp's converter gives attn_q/attn_k: gguf[i] = hf[permute_rows(...)[i]]."""
    return np.arange(n_rows).reshape(n_head, 2, n_rows // n_head // 2).swapaxes(1, 2).reshape(-1)


def unpermute_rows(n_rows: int, n_head: int) -> np.ndarray:
    """Inverse of permute_rows: hf = gguf[unpermute_rows(...)] (transformers' reverse_permute)."""
    return np.arange(n_rows).reshape(n_head, n_rows // n_head // 2, 2).swapaxes(1, 2).reshape(-1)


class _Cursor:
    """Sequential little-endian reads over the mapped header; running off the end is truncation."""

    def __init__(self, buf: mmap.mmap, path: Path):
        self.buf, self.pos, self.path, self.size = buf, 0, path, len(buf)

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise TruncatedFileError(self.path, f"file ends inside the header while reading {what} (offset {self.pos})")

    def scalar(self, fmt: str, what: str):
        n = struct.calcsize(fmt)
        self.need(n, what)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return value

    def string(self, what: str) -> str:
        n = self.scalar("<Q", what)
        self.need(n, what)
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("utf-8", errors="replace")

    def strings(self, count: int, what: str) -> list[str]:
        """An array of strings (the 49k-entry vocabulary): one tight loop."""
        buf, pos, size = self.buf, self.pos, self.size
        unpack = _U64.unpack_from
        out: list[str] = []
        append = out.append
        for _ in range(count):
            if pos + 8 > size:
                break
            (n,) = unpack(buf, pos)
            end = pos + 8 + n
            if end > size:
                break
            append(buf[pos + 8 : end].decode("utf-8", errors="replace"))
            pos = end
        self.pos = pos
        if len(out) < count:
            raise TruncatedFileError(
                self.path, f"file ends inside the header while reading {what}[{len(out)}] (offset {pos})")
        return out

    def value(self, vtype: int, what: str):
        if vtype in _SCALAR_FMT:
            return self.scalar(_SCALAR_FMT[vtype], what)
        if vtype == _STRING:
            return self.string(what)
        if vtype == _ARRAY:
            itype = self.scalar("<I", what)
            count = self.scalar("<Q", what)
            if itype in _ARRAY_DTYPE:
                dtype = np.dtype(_ARRAY_DTYPE[itype])
                self.need(count * dtype.itemsize, what)
                arr = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos).copy()
                self.pos += count * dtype.itemsize
                return arr
            if itype == _STRING:
                return self.strings(count, what)
            return [self.value(itype, what) for _ in range(count)]
        raise GGUFError(self.path, f"unknown metadata value type {vtype} in {what} (corrupt header?)")


class GGUFModel:
    """An opened GGUF: `.arch`, `.config`, `.metadata`, `.tensor_names`, `.tensor(name)`, `.quantized(name)`."""

    def __init__(self, path: Path, buf: mmap.mmap, fields: dict, tensors: dict[str, TensorInfo]):
        self.path = path
        self._buf = buf
        self._fields = fields
        self._tensors = tensors
        self.arch = architecture(path, fields)
        self.metadata = {k: v for k, v in fields.items() if not isinstance(v, (list, np.ndarray))}
        self.tensor_names = list(tensors)
        self.config = model_config(self)
        check_shapes(self)

    def array(self, key: str) -> list | np.ndarray | None:
        """An array-valued metadata field (tokenizer.ggml.tokens, ...), or None when absent."""
        value = self._fields.get(key)
        return value if isinstance(value, (list, np.ndarray)) else None

    def info(self, name: str) -> TensorInfo:
        """Storage details of a tensor; KeyError naming the file when absent."""
        if name not in self._tensors:
            raise KeyError(f"{self.path}: no tensor {name!r}")
        return self._tensors[name]

    def _raw(self, info: TensorInfo) -> np.ndarray:
        return np.frombuffer(self._buf, dtype=np.uint8, count=info.nbytes, offset=info.offset)

    def _row_order(self, name: str, n_rows: int) -> np.ndarray | None:
        """Row gather that undoes llama.cpp's q/k permutation, or None when the tensor is not permuted."""
        if self.arch != "llama" or not _PERMUTED.match(name):
            return None
        n_head = self.config["n_heads"] if ".attn_q." in name else self.config["n_kv_heads"]
        return unpermute_rows(n_rows, n_head)

    def tensor(self, name: str) -> torch.Tensor:
        """Dequantised float32 weight, PyTorch layout (out_features, in_features), q/k permutation undone."""
        info = self.info(name)
        values = dequantize(self._raw(info), info.qtype).reshape(info.shape)
        order = self._row_order(name, info.shape[0])
        if order is not None:
            values = values[order]
        return torch.from_numpy(np.ascontiguousarray(values))

    def quantized(self, name: str) -> QuantTensor:
        """Raw blocks (rows, row_bytes) of a 2-D weight, rows reordered like tensor() (no dequantising)."""
        info = self.info(name)
        if len(info.shape) != 2:
            raise ValueError(f"{self.path}: tensor {name!r} has shape {info.shape}; quantized() needs a 2-D weight")
        rows, cols = info.shape
        data = self._raw(info).reshape(rows, info.qtype.row_bytes(cols))
        order = self._row_order(name, rows)
        data = data[order] if order is not None else data.copy()
        return QuantTensor(info.qtype.name, data, info.shape)

    def close(self) -> None:
        """Release the memory map (tensors already returned stay valid: they are copies)."""
        self._buf.close()

    def __enter__(self) -> GGUFModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GGUFModel({str(self.path)!r}, arch={self.arch!r}, tensors={len(self._tensors)})"


def _parse(path: Path, buf: mmap.mmap) -> tuple[dict, dict[str, TensorInfo]]:
    cur = _Cursor(buf, path)
    cur.pos = 4
    version = cur.scalar("<I", "the version")
    if version not in (2, 3):
        raise GGUFError(path, f"GGUF version {version} is not supported (2 and 3 are; big-endian files are not)")
    n_tensors = cur.scalar("<Q", "the tensor count")
    n_kv = cur.scalar("<Q", "the metadata count")
    fields: dict = {}
    for i in range(n_kv):
        key = cur.string(f"metadata key #{i}")
        fields[key] = cur.value(cur.scalar("<I", f"the type of {key}"), key)
    raw_infos = []
    for i in range(n_tensors):
        name = cur.string(f"tensor name #{i}")
        n_dims = cur.scalar("<I", f"the dims of {name}")
        if not 1 <= n_dims <= MAX_DIMS:
            raise GGUFError(path, f"tensor {name!r} claims {n_dims} dimensions (corrupt header?)")
        dims = [cur.scalar("<Q", f"the dims of {name}") for _ in range(n_dims)]
        raw_infos.append((name, dims, cur.scalar("<I", f"the type of {name}"),
                          cur.scalar("<Q", f"the offset of {name}")))
    align = fields.get("general.alignment", 32)
    if not isinstance(align, int) or align <= 0:
        raise GGUFError(path, f"general.alignment is {align!r} (corrupt header?)")
    data_start = (cur.pos + align - 1) // align * align
    tensors: dict[str, TensorInfo] = {}
    for name, dims, type_id, rel in raw_infos:
        qtype = qtype_for(type_id, tensor=name, path=str(path))
        n_values = math.prod(dims)
        if dims[0] % qtype.block_size:
            raise GGUFError(
                path, f"tensor {name!r}: row length {dims[0]} is not a multiple of {qtype.name}'s block size")
        nbytes = n_values // qtype.block_size * qtype.type_size
        offset = data_start + rel
        if offset + nbytes > len(buf):
            raise TruncatedFileError(
                path, f"tensor {name!r} needs bytes {offset}..{offset + nbytes} but the file has {len(buf)}")
        tensors[name] = TensorInfo(name, tuple(int(d) for d in reversed(dims)), qtype, offset, nbytes)
    return fields, tensors


def read_gguf(path: str | Path) -> GGUFModel:
    """Open a GGUF file; raises BadMagicError, TruncatedFileError, UnsupportedArchitectureError,
    UnsupportedQuantError or GGUFError, each naming the file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4:
                raise TruncatedFileError(path, f"file is {len(head)} bytes long, too short for a GGUF header")
            if head != GGUF_MAGIC:
                raise BadMagicError(path, f"not a GGUF file: starts with {head!r}, expected {GGUF_MAGIC!r}")
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise GGUFError(path, f"cannot read: {exc.strerror or exc}") from exc
    try:
        fields, tensors = _parse(path, buf)
        return GGUFModel(path, buf, fields, tensors)
    except GGUFError:
        buf.close()
        raise
    except (ValueError, TypeError, OverflowError, MemoryError) as exc:
        buf.close()
        raise GGUFError(path, f"corrupt header: {type(exc).__name__}: {exc}") from exc
