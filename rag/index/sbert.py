"""A BERT mean-pooling sentence encoder (MiniLM) in plain torch: same vectors as sentence-transformers.

sentence-transformers imports transformers, scikit-learn and scipy.stats (about 4 s on 2 cores) before it
can embed one query. For the folder layout that MiniLM uses (modules.json: Transformer -> mean Pooling
[-> Normalize], a BERT config, model.safetensors, tokenizer.json) this module does the same forward pass
with the same torch ops, batching and padding, so the vectors are bit-identical (tests/rag/index/test_sbert.py);
any other folder returns None from `load` and the caller falls back to sentence-transformers.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from tokenizers import Tokenizer

_MODULES = "sentence_transformers.models."
_FORWARD_CONFIG = {"model_type": "bert", "hidden_act": "gelu", "position_embedding_type": "absolute"}


def _json(path: Path) -> dict | list | None:
    """Parsed JSON file, or None when it is absent."""
    return json.loads(path.read_text()) if path.is_file() else None


def _supported(path: Path) -> tuple[dict, int, bool] | None:
    """(BERT config, max_seq_length, has a Normalize module) when this folder is the supported layout."""
    modules = _json(path / "modules.json") or []
    kinds = [m.get("type", "").removeprefix(_MODULES) for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]) or modules[0]["path"]:
        return None
    pooling = _json(path / modules[1]["path"] / "config.json") or {}
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    config = _json(path / "config.json") or {}
    st_config = _json(path / "sentence_bert_config.json") or {}
    if (modes != {"pooling_mode_mean_tokens"} or st_config.get("do_lower_case")
            or any(config.get(k, v) != v for k, v in _FORWARD_CONFIG.items())
            or not (path / "model.safetensors").is_file() or not (path / "tokenizer.json").is_file()):
        return None
    max_len = int(st_config.get("max_seq_length") or config.get("max_position_embeddings", 512))
    return config, max_len, kinds[-1] == "Normalize"


class BertModel:
    """A BERT encoder's weights (Hugging Face names) and its mean-pooled forward pass."""

    def __init__(self, weights: dict[str, torch.Tensor], config: dict):
        prefix = "" if "embeddings.position_embeddings.weight" in weights else "bert."
        self.w = {k.removeprefix(prefix): v for k, v in weights.items()}
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))

    def _ln(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, (x.shape[-1],), self.w[name + ".weight"], self.w[name + ".bias"], self.eps)

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    def word_embeddings(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids -> (B, T, H) rows of the word embedding table."""
        return F.embedding(ids, self.w["embeddings.word_embeddings.weight"])

    def mean_pooled(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean of the last hidden states over the unmasked tokens (B, H), for token ids and attention mask (B, T)."""
        w = self.w
        B, T = ids.shape
        x = self.word_embeddings(ids)
        x = x + w["embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)]
        x = x + w["embeddings.position_embeddings.weight"][:T].unsqueeze(0)
        x = self._ln(x, "embeddings.LayerNorm")                                   # (B, T, H)
        keep = None if bool(mask.all()) else mask.bool()[:, None, None, :].expand(B, 1, T, T)
        head_dim = x.shape[-1] // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (self._linear(x, p + "attention.self." + n).view(B, T, -1, head_dim).transpose(1, 2)
                       for n in ("query", "key", "value"))                       # (B, heads, T, head_dim)
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, scale=head_dim ** -0.5)
            a = a.transpose(1, 2).contiguous().reshape(B, T, -1).contiguous()    # (B, T, H)
            x = self._ln(self._linear(a, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            h = F.gelu(self._linear(x, p + "intermediate.dense"))
            x = self._ln(self._linear(h, p + "output.dense") + x, p + "output.LayerNorm")
        m = mask.unsqueeze(-1).expand(x.size()).to(x.dtype)
        return torch.sum(x * m, 1) / torch.clamp(m.sum(1), min=1e-9)             # (B, H)


class BertEncoder:
    """Embeds texts like SentenceTransformer.encode(normalize_embeddings=True) for a BERT mean-pooling folder."""

    def __init__(self, weights: dict[str, torch.Tensor], config: dict, tokenizer_json: str, max_seq_length: int,
                 normalize_layer: bool):
        self.model = BertModel(weights, config)
        self.max_seq_length = max_seq_length
        self.normalize_layer = normalize_layer
        self.tokenizer_json = tokenizer_json
        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        self.tokenizer.enable_truncation(max_seq_length)
        self.tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)))

    @classmethod
    def load(cls, path: Path) -> BertEncoder | None:
        """The encoder for a model folder, or None when the folder is not the supported layout."""
        found = _supported(Path(path))
        if found is None:
            return None
        config, max_len, normalize_layer = found
        weights = load_file(str(path / "model.safetensors"))
        return cls(weights, config, (path / "tokenizer.json").read_text(encoding="utf-8"), max_len, normalize_layer)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Unit sentence vectors (B, H) for token ids and attention mask (B, T)."""
        pooled = self.model.mean_pooled(ids, mask)
        if self.normalize_layer:
            pooled = F.normalize(pooled, p=2, dim=-1)
        return F.normalize(pooled, p=2, dim=1)

    @torch.inference_mode()
    def encode(self, texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """(n, H) float32 unit vectors; longest texts batched first, as sentence-transformers does."""
        order = np.argsort([-len(t) for t in texts])
        starts = range(0, len(texts), batch_size)
        if progress:
            from tqdm import tqdm
            starts = tqdm(starts, desc="Batches")
        out: list[torch.Tensor] = []
        for start in starts:
            enc = self.tokenizer.encode_batch([texts[i] for i in order[start:start + batch_size]])
            ids = torch.tensor([e.ids for e in enc], dtype=torch.long)
            mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.long)
            out.extend(self.forward(ids, mask))
        return torch.stack([out[i] for i in np.argsort(order)]).numpy()
