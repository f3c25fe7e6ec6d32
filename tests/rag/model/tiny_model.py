"""A tiny random-weight Transformer with allocated caches, shared by the model tests."""
from __future__ import annotations

import torch

from rag.model.model import ModelArgs, Transformer

TINY = dict(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, vocab_size=120, hidden_dim=96, max_seq_len=64)


def random_model(**kw) -> Transformer:
    """TINY (overridden by kw) with N(0, 0.2) weights and a 64-position cache."""
    torch.manual_seed(0)
    model = Transformer(ModelArgs(**{**TINY, **kw})).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    model.setup_caches(1, 64)
    return model
