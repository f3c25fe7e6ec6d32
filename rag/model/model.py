"""A Llama-family decoder (Llama, SmolLM2, Qwen2) in plain PyTorch, gpt-fast style, with GGUF-native names."""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rag.model.attention import attention
from rag.model.quantize import PREFILL_ROWS, PackedLinear


@dataclass
class ModelArgs:
    """Hyper-parameters of one model; the field names are those of GGUFModel.config."""

    dim: int = 576
    n_layers: int = 30
    n_heads: int = 9
    n_kv_heads: int = 3
    vocab_size: int = 49152
    hidden_dim: int = 1536
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    rope_scaling: dict | None = None  # {"type": "linear", "factor"} or {"type": "freq_factors", "tensor"}
    max_seq_len: int = 2048  # the model's trained context length
    qkv_bias: bool = False  # Qwen2
    tie_embeddings: bool = True
    head_dim: int = 0

    def __post_init__(self) -> None:
        if not self.head_dim:
            self.head_dim = self.dim // self.n_heads
        kind = (self.rope_scaling or {}).get("type")
        if kind not in (None, "linear", "freq_factors"):
            raise ValueError(f"RoPE scaling type {kind!r} is not supported (linear and llama3 freq_factors are)")

    @classmethod
    def from_config(cls, config: dict) -> ModelArgs:
        """Build from a GGUFModel.config dict, ignoring keys that are not fields."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in config.items() if k in names})


class RMSNorm(nn.Module):
    """Root-mean-square layer norm with a learned gain."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, self.weight.shape, self.weight, self.eps)


def rope_frequencies(args: ModelArgs, freq_factors: Tensor | None = None) -> Tensor:
    """Inverse frequencies (head_dim/2,), divided by llama3 freq factors or a linear factor when configured."""
    d = args.head_dim
    inv = 1.0 / (args.rope_theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    kind = (args.rope_scaling or {}).get("type")
    if kind == "linear":
        inv = inv / args.rope_scaling["factor"]
    elif kind == "freq_factors" and freq_factors is not None:
        inv = inv / freq_factors.double()
    return inv.float()


def rope_tables(args: ModelArgs, max_seq_len: int, freq_factors: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """cos and sin tables (max_seq_len, head_dim) for the rotate-half layout."""
    t = torch.arange(max_seq_len, dtype=torch.float64)
    freqs = torch.outer(t, rope_frequencies(args, freq_factors).double()).float()  # (S, D/2)
    emb = torch.cat([freqs, freqs], dim=-1)  # (S, D)
    return emb.cos(), emb.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x (..., D) rotated by cos/sin broadcastable to it, HF rotate_half convention: x*cos + [-x2, x1]*sin."""
    half = x.shape[-1] // 2
    signed = torch.cat([-sin[..., :half], sin[..., half:]], dim=-1)  # the small table carries the sign
    return torch.addcmul(x * cos, x.roll(half, dims=-1), signed)  # three passes over x instead of five


class KVCache(nn.Module):
    """Static key/value buffers (B, Hkv, S, D) filled in place."""

    def __init__(self, batch: int, n_kv_heads: int, max_seq_len: int, head_dim: int, dtype=torch.float32) -> None:
        super().__init__()
        shape = (batch, n_kv_heads, max_seq_len, head_dim)
        self.register_buffer("k", torch.zeros(shape, dtype=dtype), persistent=False)
        self.register_buffer("v", torch.zeros(shape, dtype=dtype), persistent=False)

    def update(self, pos: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write k, v (B, Hkv, T, D) at positions pos..pos+T-1; return the filled prefix (B, Hkv, pos+T, D)."""
        end = pos + k.shape[2]
        self.k[:, :, pos:end] = k
        self.v[:, :, pos:end] = v
        return self.k[:, :, :end], self.v[:, :, :end]


class Attention(nn.Module):
    """Grouped-query self-attention with a fused qkv projection (optional Qwen2 biases)."""

    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = args.n_heads, args.n_kv_heads, args.head_dim
        q_dim, kv_dim = args.n_heads * args.head_dim, args.n_kv_heads * args.head_dim
        self.attn_qkv = nn.Linear(args.dim, q_dim + 2 * kv_dim, bias=args.qkv_bias)
        self.attn_output = nn.Linear(q_dim, args.dim, bias=False)
        self.kv_cache: KVCache | None = None
        self.prefill_dtype = torch.float32  # the dtype of attention over PREFILL_ROWS or more rows (precision.py)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, pos: int, last_only: bool = False) -> Tensor:
        """(B, T, dim) -> (B, T, dim), or (B, 1, dim) for the last row only (keys and values still cached for all T)."""
        bsz, t, _ = x.shape  # (B, T, dim)
        hq, hkv = self.n_heads, self.n_kv_heads
        qkv = self.attn_qkv(x).view(bsz, t, hq + 2 * hkv, self.head_dim)  # (B, T, Hq+2Hkv, D)
        qk = apply_rope(qkv[:, :, :hq + hkv], cos, sin)  # q and k heads rotated in one pass; cos (T, 1, D)
        q = qk[:, :, :hq].transpose(1, 2)  # (B, Hq, T, D)
        k = qk[:, :, hq:].transpose(1, 2)  # (B, Hkv, T, D)
        v = qkv[:, :, hq + hkv:].transpose(1, 2)  # (B, Hkv, T, D)
        if self.kv_cache is not None:
            k, v = self.kv_cache.update(pos, k, v)  # (B, Hkv, pos+T, D)
        dtype = self.prefill_dtype if t >= PREFILL_ROWS else q.dtype  # an fp16 cache (kv_dtype) is read back in it
        q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
        if last_only:
            q, pos, t = q[:, :, -1:], pos + t - 1, 1  # (B, Hq, 1, D) at the last position
        y = attention(q, k, v, causal=True, q_start=pos, kv_len=k.shape[2])  # (B, Hq, T, D)
        return self.attn_output(y.transpose(1, 2).reshape(bsz, t, -1))


class FeedForward(nn.Module):
    """SwiGLU MLP with the gate and up projections fused into one matmul."""

    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        self.hidden_dim = args.hidden_dim
        self.ffn_gate_up = nn.Linear(args.dim, 2 * args.hidden_dim, bias=False)
        self.ffn_down = nn.Linear(args.hidden_dim, args.dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.ffn_gate_up(x).split(self.hidden_dim, dim=-1)  # (B, T, hidden) each
        return self.ffn_down(F.silu(gate) * up)


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(args.dim, args.norm_eps)
        self.attn = Attention(args)
        self.ffn_norm = RMSNorm(args.dim, args.norm_eps)
        self.ffn = FeedForward(args)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, pos: int, last_only: bool = False) -> Tensor:
        h = (x[:, -1:] if last_only else x) + self.attn(self.attn_norm(x), cos, sin, pos, last_only)
        return h + self.ffn(self.ffn_norm(h))


class Transformer(nn.Module):
    """Token ids (B, T) at absolute positions input_pos.. -> logits (B, T, vocab)."""

    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        self.args = args
        # an explicit weight skips normal_ init, which on the meta device imports torch._dynamo (~2 s)
        self.token_embd = nn.Embedding(args.vocab_size, args.dim, _weight=torch.empty(args.vocab_size, args.dim))
        self.blk = nn.ModuleList(Block(args) for _ in range(args.n_layers))
        self.output_norm = RMSNorm(args.dim, args.norm_eps)
        self.output = nn.Linear(args.dim, args.vocab_size, bias=False)
        if args.tie_embeddings:
            self.output.weight = self.token_embd.weight
        self.max_seq_len = 0
        self.kv_dtype: torch.dtype | None = None  # KV cache dtype for setup_caches; None: the weights' dtype
        self.rope_freq_factors: Tensor | None = None  # llama3 rope_freqs.weight, set by the loader
        self.register_buffer("rope_cos", torch.zeros(0), persistent=False)
        self.register_buffer("rope_sin", torch.zeros(0), persistent=False)

    def setup_caches(self, max_batch_size: int, max_seq_len: int) -> None:
        """Allocate KV caches (in kv_dtype) and RoPE tables for up to max_seq_len positions."""
        a = self.args
        dtype = self.kv_dtype or self.output_norm.weight.dtype
        self.max_seq_len = max_seq_len
        for b in self.blk:
            b.attn.kv_cache = KVCache(max_batch_size, a.n_kv_heads, max_seq_len, a.head_dim, dtype)
        self.rope_cos, self.rope_sin = rope_tables(a, max_seq_len, self.rope_freq_factors)

    def set_prefill_dtype(self, dtype: torch.dtype) -> torch.dtype:
        """Run prompts (PREFILL_ROWS rows or more) through packed GEMMs and attention in dtype (precision.py); the
        dtype set, which stays fp32 where a block holds a plain fp32 Linear (it multiplies fp32 rows only)."""
        if any(type(m) is nn.Linear for m in self.blk.modules()):
            dtype = torch.float32
        for m in self.modules():
            if isinstance(m, (PackedLinear, Attention)):
                m.prefill_dtype = dtype
        return dtype

    def forward(self, tokens: Tensor, input_pos: int = 0, last_only: bool = False) -> Tensor:
        t = tokens.shape[1]
        if self.max_seq_len < input_pos + t:
            raise ValueError(
                f"positions up to {input_pos + t} exceed the cache size {self.max_seq_len}; call setup_caches")
        cos = self.rope_cos[input_pos:input_pos + t, None]  # (T, 1, D)
        sin = self.rope_sin[input_pos:input_pos + t, None]
        x = self.token_embd(tokens)  # (B, T, dim)
        for i, b in enumerate(self.blk):
            x = b(x, cos, sin, input_pos, last_only and i == len(self.blk) - 1)  # the last block: (B, 1, dim)
        return self.output(self.output_norm(x))  # (B, T or 1, vocab)

