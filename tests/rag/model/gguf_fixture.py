"""Write a tiny random Llama/Qwen2 GGUF with gguf.GGUFWriter, plus what reading it back must give.

`write_tiny_gguf(path, ...)` returns a TinyGGUF whose `.weights` are the float32 values
GGUFModel.tensor(name) must return (HF layout, q/k rows in HF order, quantisation already applied),
and whose `.config` is the GGUFModel.config it must produce. Weights are stored in the file the
way llama.cpp's converter stores them (llama: q/k rows permuted per head).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import gguf
import numpy as np
from gguf.quants import dequantize as ref_dequantize
from gguf.quants import quantize as ref_quantize
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a tiny test model.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
TRAIN_TEXT = (
    "Diffusion models keep an exponential moving average of the network weights. "
    "The EMA copy is updated after every optimiser step with a decay such as 0.9999. "
    "Attention lets every token look at every other token; transformers stack attention and MLP layers. "
    "Batch normalization normalizes each feature over the mini-batch, then applies a scale and a shift. "
    "Il modello è più veloce perché usa la media mobile: caffè, città, perché. 😀 🚀 "
) * 4
# gguf cannot quantise these: random blocks, (bytes per block, offsets of their f16 scales)
_RANDOM_BLOCK_TYPES = {"Q2_K": (84, (80, 82)), "Q3_K": (110, (108,)), "Q4_K": (144, (0, 2)),
                       "Q5_K": (176, (0, 2)), "Q6_K": (210, (208,))}


@dataclass
class TinyGGUF:
    """A written test GGUF and what reading it must give."""

    path: Path
    config: dict
    weights: dict[str, np.ndarray]
    tokens: list[str]
    merges: list[str]


def train_vocab(vocab_size: int = 400, pre: str = "smollm") -> tuple[list[str], list[str]]:
    """A small byte-level BPE vocabulary (specials first) and its merges, deterministic."""
    tokens, merges = _train_vocab(vocab_size, pre == "smollm")
    return list(tokens), list(merges)


@lru_cache(maxsize=8)
def _train_vocab(vocab_size: int, split_digits: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    digits = pre_tokenizers.Digits(individual_digits=True)
    tok.pre_tokenizer = pre_tokenizers.Sequence([digits, byte_level]) if split_digits else byte_level
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([TRAIN_TEXT], trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    tokens = [t for t, _ in sorted(model["vocab"].items(), key=lambda kv: kv[1])]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return tuple(tokens), tuple(merges)


def llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp convert_hf_to_gguf's q/k row permutation (HF layout -> GGUF layout)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _encode(w_gguf: np.ndarray, qtype: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(bytes or array to write, the float32 values the file then holds), both in GGUF row order."""
    gtype = gguf.GGMLQuantizationType[qtype]
    if qtype == "F32":
        return w_gguf, w_gguf
    if qtype in _RANDOM_BLOCK_TYPES:
        type_size, scale_at = _RANDOM_BLOCK_TYPES[qtype]
        rows, cols = w_gguf.shape
        raw = rng.integers(0, 256, size=(rows, cols // 256, type_size), dtype=np.uint8)
        for at in scale_at:  # small finite f16 super-block scales
            scales = rng.uniform(1e-4, 1e-3, size=raw.shape[:2] + (1,)).astype(np.float16)
            raw[..., at : at + 2] = scales.view(np.uint8)
        raw = raw.reshape(rows, -1)
    else:
        raw = np.ascontiguousarray(ref_quantize(w_gguf, gtype)).view(np.uint8).reshape(w_gguf.shape[0], -1)
    return raw, ref_dequantize(raw, gtype).reshape(w_gguf.shape).astype(np.float32)


def write_tiny_gguf(
    path: Path,
    *,
    arch: str = "llama",
    qtype: str = "F32",
    embd_qtype: str | None = None,
    dim: int = 64,
    n_layers: int = 2,
    n_heads: int = 4,
    n_kv_heads: int = 2,
    hidden_dim: int = 128,
    tie_embeddings: bool = True,
    pre: str = "smollm",
    vocab_size: int = 400,
    seed: int = 0,
    chat_template: str = CHAT_TEMPLATE,
    rope_theta: float = 10000.0,
    context_length: int = 256,
    rope_freqs: np.ndarray | None = None,
    metadata: dict[str, str | float | int] | None = None,
    qtypes: dict[str, str] | None = None,
) -> TinyGGUF:
    """Write a random model of the given shape; 2-D weights stored as qtype, norms and biases as F32.

    rope_freqs (head_dim/2 values) is written as Llama 3's rope_freqs.weight; metadata adds keys
    (str, float or int values) after the standard ones; qtypes maps a tensor kind ("attn_v", "ffn_down",
    "output" ...) to the type it is stored as instead (Q4_K_M keeps attn_v and ffn_down in Q6_K).
    """
    rng = np.random.default_rng(seed)
    tokens, merges = train_vocab(vocab_size, pre)
    head_dim = dim // n_heads
    qkv_bias = arch == "qwen2"
    shapes: dict[str, tuple[int, ...]] = {"token_embd.weight": (len(tokens), dim)}
    for i in range(n_layers):
        p = f"blk.{i}."
        shapes.update({
            p + "attn_norm.weight": (dim,), p + "ffn_norm.weight": (dim,),
            p + "attn_q.weight": (n_heads * head_dim, dim), p + "attn_k.weight": (n_kv_heads * head_dim, dim),
            p + "attn_v.weight": (n_kv_heads * head_dim, dim), p + "attn_output.weight": (dim, n_heads * head_dim),
            p + "ffn_gate.weight": (hidden_dim, dim), p + "ffn_up.weight": (hidden_dim, dim),
            p + "ffn_down.weight": (dim, hidden_dim),
        })
        if qkv_bias:
            shapes.update({p + "attn_q.bias": (n_heads * head_dim,), p + "attn_k.bias": (n_kv_heads * head_dim,),
                           p + "attn_v.bias": (n_kv_heads * head_dim,)})
    shapes["output_norm.weight"] = (dim,)
    if not tie_embeddings:
        shapes["output.weight"] = (len(tokens), dim)

    writer = gguf.GGUFWriter(str(path), arch)
    _write_metadata(writer, arch, dim, n_layers, n_heads, n_kv_heads, hidden_dim, len(tokens), head_dim,
                    rope_theta, context_length, pre, tokens, merges, chat_template)
    for key, value in (metadata or {}).items():
        add = (writer.add_string if isinstance(value, str)
               else writer.add_float32 if isinstance(value, float) else writer.add_uint32)
        add(key, value)
    weights: dict[str, np.ndarray] = {}
    if rope_freqs is not None:
        weights["rope_freqs.weight"] = np.asarray(rope_freqs, dtype=np.float32)
        writer.add_tensor("rope_freqs.weight", weights["rope_freqs.weight"])
    for name, shape in shapes.items():
        if len(shape) == 1:
            w = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32) if "norm" in name else \
                (0.1 * rng.standard_normal(shape)).astype(np.float32)
            writer.add_tensor(name, w)
            weights[name] = w
            continue
        w = (rng.standard_normal(shape) / np.sqrt(shape[1])).astype(np.float32)
        n_head = n_heads if ".attn_q." in name else n_kv_heads
        permuted = arch == "llama" and (".attn_q." in name or ".attn_k." in name)
        w_file = llama_cpp_permute(w, n_head) if permuted else w
        t = (embd_qtype or qtype) if name in ("token_embd.weight", "output.weight") else qtype
        t = next((v for kind, v in (qtypes or {}).items() if f"{kind}.weight" in name), t)
        raw, held = _encode(w_file, t, rng)
        writer.add_tensor(name, raw, raw_dtype=gguf.GGMLQuantizationType[t] if t != "F32" else None)
        # expected HF-layout values: undo the permutation with transformers' reverse_permute formula
        if permuted:
            held = held.reshape(n_head, shape[0] // n_head // 2, 2, shape[1]).swapaxes(1, 2).reshape(shape)
        weights[name] = held
    finish(writer)
    config = {
        "dim": dim, "n_layers": n_layers, "n_heads": n_heads, "n_kv_heads": n_kv_heads, "head_dim": head_dim,
        "vocab_size": len(tokens), "hidden_dim": hidden_dim, "norm_eps": float(np.float32(1e-5)),
        "rope_theta": rope_theta,
        "rope_scaling": {"type": "freq_factors", "tensor": "rope_freqs.weight"} if rope_freqs is not None else None,
        "max_seq_len": context_length,
        "tie_embeddings": tie_embeddings, "qkv_bias": qkv_bias,
    }
    return TinyGGUF(Path(path), config, weights, tokens, merges)


def finish(writer: gguf.GGUFWriter) -> None:
    """Write header, metadata and tensors, and close the file."""
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _write_metadata(w, arch, dim, n_layers, n_heads, n_kv_heads, hidden_dim, n_vocab, head_dim,
                    rope_theta, context_length, pre, tokens, merges, chat_template) -> None:
    w.add_uint32(f"{arch}.block_count", n_layers)
    w.add_uint32(f"{arch}.context_length", context_length)
    w.add_uint32(f"{arch}.embedding_length", dim)
    w.add_uint32(f"{arch}.feed_forward_length", hidden_dim)
    w.add_uint32(f"{arch}.attention.head_count", n_heads)
    w.add_uint32(f"{arch}.attention.head_count_kv", n_kv_heads)
    w.add_float32(f"{arch}.rope.freq_base", rope_theta)
    w.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_uint32(f"{arch}.vocab_size", n_vocab)
    w.add_uint32(f"{arch}.rope.dimension_count", head_dim)
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", pre)
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.token_type", [3 if t in SPECIALS else 1 for t in tokens])
    w.add_array("tokenizer.ggml.merges", merges)
    w.add_uint32("tokenizer.ggml.bos_token_id", tokens.index("<|im_start|>"))
    w.add_uint32("tokenizer.ggml.eos_token_id", tokens.index("<|im_end|>"))
    w.add_uint32("tokenizer.ggml.padding_token_id", tokens.index("<|im_end|>"))
    w.add_bool("tokenizer.ggml.add_bos_token", False)
    w.add_string("tokenizer.chat_template", chat_template)
