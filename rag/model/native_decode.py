"""NativeDecoder: the batch-1 decode step in our C code (kernels/decode_cpu.c), for packed (int4 / int8) models.

One ctypes call runs every block of a step inside one OpenMP region; only the output head (RescoredHead)
stays in torch. The KV caches must be fp16 (model.kv_dtype, which LocalLM sets for this decoder).
FastDecoder (rag/model/decode.py) is the torch version of the same step and Transformer.forward the
reference; tests/rag/model/test_native_decode.py checks all three agree.
"""
from __future__ import annotations

import ctypes

import torch
from torch import Tensor, nn

from rag.model import native
from rag.model.decode import check_step
from rag.model.model import Transformer
from rag.model.quantize import PackedLinear

_P = ctypes.c_void_p
_I64 = ctypes.c_int64


class _Linear(ctypes.Structure):
    _fields_ = [("kind", _I64), ("codes", _P), ("groups", _P), ("bias", _P), ("n", _I64), ("k", _I64)]


class _Layer(ctypes.Structure):
    _fields_ = [("attn_norm", _P), ("ffn_norm", _P), ("qkv", _Linear), ("out", _Linear), ("gate_up", _Linear),
                ("down", _Linear), ("k_cache", _P), ("v_cache", _P)]


class _Model(ctypes.Structure):
    _fields_ = [("dim", _I64), ("hidden", _I64), ("n_heads", _I64), ("n_kv_heads", _I64), ("head_dim", _I64),
                ("max_seq", _I64), ("n_layers", _I64), ("eps", ctypes.c_float), ("layers", ctypes.POINTER(_Layer)),
                ("output_norm", _P)]


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _linear(module: PackedLinear) -> _Linear:
    return _Linear(module.kind, _ptr(module.codes), _ptr(module.groups), _ptr(module.bias), module.out_features,
                   module.in_features)


def supports(model: Transformer) -> bool:
    """Whether every block Linear of model runs on our packed kernels (int4 / int8 weights, the kernels built)."""
    linears = [m for b in model.blk for m in b.modules() if isinstance(m, (nn.Linear, PackedLinear))]
    return bool(linears) and all(isinstance(m, PackedLinear) and m.kernels is not None for m in linears)


def _check_half_caches(model: Transformer) -> None:
    """ValueError unless the KV caches are fp16, the only layout the C step reads and writes."""
    dtype = model.blk[0].attn.kv_cache.k.dtype
    if dtype != torch.float16:
        raise ValueError(f"NativeDecoder needs fp16 KV caches, not {dtype}: set model.kv_dtype = torch.float16 "
                         "before model.setup_caches")


class NativeDecoder:
    """Logits (vocab,) for one token at one position, sharing the model's weights and KV caches."""

    def __init__(self, model: Transformer) -> None:
        if not model.max_seq_len:
            raise ValueError("call model.setup_caches before building a NativeDecoder")
        if not supports(model):
            raise ValueError("NativeDecoder needs a packed (int4 / int8) model on the native kernels")
        _check_half_caches(model)
        kernels = native.kernels()
        self.model = model
        self._step = kernels.decode_step
        self._step.argtypes = [ctypes.POINTER(_Model), _P, _P, _P, _I64, _P, ctypes.c_int]
        self._step.restype = ctypes.c_int
        self.embedding = model.token_embd.weight  # (V, dim) fp32
        self.hidden = torch.empty(1, model.args.dim)
        self._layers = (_Layer * len(model.blk))()
        self._bound_to: tuple[int, int] | None = None  # (K cache, rope table) pointers the structs hold

    def _bind(self) -> None:
        """(Re)fill the C structs: setup_caches replaces the KV caches and RoPE tables."""
        m, a = self.model, self.model.args
        _check_half_caches(m)
        for i, b in enumerate(m.blk):
            self._layers[i] = _Layer(_ptr(b.attn_norm.weight), _ptr(b.ffn_norm.weight), _linear(b.attn.attn_qkv),
                                     _linear(b.attn.attn_output), _linear(b.ffn.ffn_gate_up), _linear(b.ffn.ffn_down),
                                     _ptr(b.attn.kv_cache.k), _ptr(b.attn.kv_cache.v))
        self._model = _Model(a.dim, a.hidden_dim, a.n_heads, a.n_kv_heads, a.head_dim, m.max_seq_len, a.n_layers,
                             a.norm_eps, self._layers, _ptr(m.output_norm.weight))
        self._bound_to = (m.blk[0].attn.kv_cache.k.data_ptr(), m.rope_cos.data_ptr())

    def step(self, token: int, pos: int) -> Tensor:
        """Feed token at position pos (filling the caches); logits (vocab,) of the next token."""
        m = self.model
        check_step(m, token, pos)
        if self._bound_to != (m.blk[0].attn.kv_cache.k.data_ptr(), m.rope_cos.data_ptr()):
            self._bind()
        rc = self._step(ctypes.byref(self._model), self.embedding[token].data_ptr(), m.rope_cos[pos].data_ptr(),
                        m.rope_sin[pos].data_ptr(), pos, self.hidden.data_ptr(), torch.get_num_threads())
        if rc:
            raise MemoryError("the native decode step could not allocate its work buffers")
        return m.output(self.hidden)[0]  # (V,)
