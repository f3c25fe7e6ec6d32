"""Corpus embedding: the text each chunk is embedded as, and batched encoding with a progress bar."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tqdm import tqdm

from rag.types import Chunk


def embedding_text(chunk: Chunk, count_tokens: Callable[[str], int], limit: int) -> str:
    """'heading path' + newline + chunk text; the heading is trimmed (outermost parts first) to fit `limit`."""
    parts = [p for p in chunk.heading.split(" > ") if p.strip()] if chunk.heading else []
    while parts:
        text = " > ".join(parts) + "\n" + chunk.text
        if count_tokens(text) <= limit:
            return text
        parts = parts[1:]
    return chunk.text


def embed_texts(embedder, texts: list[str], batch_size: int = 64, progress: bool = True) -> np.ndarray:
    """Encode texts in batches -> (n, dim) float32 unit vectors, with a tqdm bar on stderr."""
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    with tqdm(total=len(texts), desc="embedding", unit="chunk", disable=not progress, leave=False) as bar:
        for start in range(0, len(texts), batch_size):
            batch = texts[start:start + batch_size]
            out[start:start + len(batch)] = embedder.encode(batch, batch_size=batch_size)
            bar.update(len(batch))
    return out
