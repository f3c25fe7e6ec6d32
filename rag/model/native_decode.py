"""NativeDecoder: the batch-1 decode step in our C code (kernels/decode_cpu.c), for packed models.

One ctypes call runs every block of a step inside one OpenMP region; only the output head (RescoredHead)
stays in torch. A step takes one token or up to MAX_ACT_ROWS (a speculative draft to verify): each weight is read
once for all of them, and every row's logits are bit for bit those of feeding its token alone. The KV caches are
fp16 (model.kv_dtype, which LocalLM sets for this decoder: half the bytes a step reads) or fp32 (K and V unrounded,
for parity with an fp32 model); the step follows the dtype of the caches setup_caches made.
FastDecoder (rag/model/decode.py) is the torch version of the same step and Transformer.forward the
reference; tests/rag/model/test_native_decode.py checks all three agree.
"""
from __future__ import annotations

import ctypes

import torch
from torch import Tensor, nn

from rag.model import native
from rag.model.blocks import ConcatLinear
from rag.model.decode import check_step
from rag.model.model import Transformer
from rag.model.quantize import PackedLinear

_P = ctypes.c_void_p
_I64 = ctypes.c_int64


class _Linear(ctypes.Structure):
    _fields_ = [("kind", _I64), ("codes", _P), ("groups", _P), ("bias", _P), ("n", _I64), ("k", _I64)]


MAX_PARTS = 3  # packed.h


class _Fused(ctypes.Structure):
    _fields_ = [("n_parts", _I64), ("part", _Linear * MAX_PARTS)]


class _Layer(ctypes.Structure):
    _fields_ = [("attn_norm", _P), ("ffn_norm", _P), ("qkv", _Fused), ("out", _Fused), ("gate_up", _Fused),
                ("down", _Fused), ("k_cache", _P), ("v_cache", _P)]


class _Model(ctypes.Structure):
    _fields_ = [("dim", _I64), ("hidden", _I64), ("n_heads", _I64), ("n_kv_heads", _I64), ("head_dim", _I64),
                ("max_seq", _I64), ("n_layers", _I64), ("eps", ctypes.c_float), ("layers", ctypes.POINTER(_Layer)),
                ("output_norm", _P), ("kv_fp32", _I64)]


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _linear(module: PackedLinear) -> _Linear:
    return _Linear(module.kind, _ptr(module.codes), _ptr(module.groups), _ptr(module.bias), module.out_features,
                   module.in_features)


def _fused(module: nn.Module) -> _Fused:
    """A Linear, or a ConcatLinear's parts, as the C step's fused_linear."""
    parts = list(module.parts) if isinstance(module, ConcatLinear) else [module]
    fused = _Fused(len(parts))
    for i, part in enumerate(parts):
        fused.part[i] = _linear(part)
    return fused


def supports(model: Transformer) -> bool:
    """Whether every block Linear of model runs on our packed kernels (packed weights, the kernels built)."""
    linears = [m for b in model.blk for m in b.modules() if isinstance(m, (nn.Linear, PackedLinear))]
    return bool(linears) and all(isinstance(m, PackedLinear) and m.kernels is not None for m in linears)


KV_DTYPES = (torch.float16, torch.float32)  # the KV cache types the C step reads and writes


def _kv_fp32(model: Transformer) -> bool:
    """Whether the KV caches are fp32 (else fp16); ValueError for any other dtype."""
    dtype = model.blk[0].attn.kv_cache.k.dtype
    if dtype not in KV_DTYPES:
        raise ValueError(f"NativeDecoder needs fp16 or fp32 KV caches, not {dtype}: set model.kv_dtype to "
                         "torch.float16 or torch.float32 before model.setup_caches")
    return dtype == torch.float32


class NativeDecoder:
    """Logits for tokens at consecutive positions, sharing the model's weights and KV caches."""

    def __init__(self, model: Transformer) -> None:
        if not model.max_seq_len:
            raise ValueError("call model.setup_caches before building a NativeDecoder")
        if not supports(model):
            raise ValueError("NativeDecoder needs a packed model on the native kernels")
        _kv_fp32(model)
        kernels = native.kernels()
        self.model = model
        self._decode = kernels.decode
        self._decode.argtypes = [ctypes.POINTER(_Model), _P, _I64, _P, _P, _I64, _P, ctypes.c_int]
        self._decode.restype = ctypes.c_int
        self.embedding = model.token_embd.weight  # (V, dim) fp32
        self._layers = (_Layer * len(model.blk))()
        self._bound_to: tuple[int, torch.dtype, int] | None = None  # the _caches() the structs hold

    def _caches(self) -> tuple[int, torch.dtype, int]:
        """The layer-0 K cache's pointer and dtype and the RoPE table's pointer: what setup_caches replaces."""
        k = self.model.blk[0].attn.kv_cache.k
        return k.data_ptr(), k.dtype, self.model.rope_cos.data_ptr()

    def _bind(self) -> None:
        """(Re)fill the C structs: setup_caches replaces the KV caches (perhaps of another dtype) and RoPE tables."""
        m, a = self.model, self.model.args
        kv_fp32 = _kv_fp32(m)
        for i, b in enumerate(m.blk):
            self._layers[i] = _Layer(_ptr(b.attn_norm.weight), _ptr(b.ffn_norm.weight), _fused(b.attn.attn_qkv),
                                     _fused(b.attn.attn_output), _fused(b.ffn.ffn_gate_up), _fused(b.ffn.ffn_down),
                                     _ptr(b.attn.kv_cache.k), _ptr(b.attn.kv_cache.v))
        self._model = _Model(a.dim, a.hidden_dim, a.n_heads, a.n_kv_heads, a.head_dim, m.max_seq_len, a.n_layers,
                             a.norm_eps, self._layers, _ptr(m.output_norm.weight), kv_fp32)
        self._bound_to = self._caches()

    def steps(self, tokens: list[int], pos: int) -> Tensor:
        """Feed tokens (1..MAX_ACT_ROWS) at positions pos.. (filling the caches); logits (T, vocab), row t's
        predicting the token after tokens[t]."""
        m = self.model
        if not 1 <= len(tokens) <= native.MAX_ACT_ROWS:
            raise ValueError(f"a native step takes 1 to {native.MAX_ACT_ROWS} tokens, not {len(tokens)}")
        for i, token in enumerate(tokens):
            check_step(m, token, pos + i)
        if self._bound_to != self._caches():
            self._bind()
        rows = self.embedding[tokens] if len(tokens) > 1 else self.embedding[tokens[0]:tokens[0] + 1]  # (T, dim)
        hidden = torch.empty(len(tokens), m.args.dim)
        rc = self._decode(ctypes.byref(self._model), rows.data_ptr(), len(tokens), m.rope_cos.data_ptr(),
                          m.rope_sin.data_ptr(), pos, hidden.data_ptr(), torch.get_num_threads())
        if rc:
            raise MemoryError("the native decode step could not allocate its work buffers")
        return m.output(hidden)  # (T, V)

    def step(self, token: int, pos: int) -> Tensor:
        """Feed token at position pos (filling the caches); logits (vocab,) of the next token."""
        return self.steps([token], pos)[0]
