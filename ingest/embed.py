"""Corpus embedding: the text each chunk is embedded as, and batched encoding with a progress bar."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tqdm import tqdm

from rag.core.text import squash
from rag.core.types import Chunk
from rag.index.store.db import text_hash
from rag.index.units import evidence_units


def embedding_text(chunk: Chunk, count_tokens: Callable[[str], int], limit: int) -> str:
    """'heading path' + newline + chunk text; the heading is trimmed (outermost parts first) to fit `limit`."""
    parts = [p for p in chunk.heading.split(" > ") if p.strip()] if chunk.heading else []
    while parts:
        text = " > ".join(parts) + "\n" + chunk.text
        if count_tokens(text) <= limit:
            return text
        parts = parts[1:]
    return chunk.text


def embed_texts(embedder, texts: list[str], batch_size: int = 64, progress: bool = True,
                what: str = "chunk") -> np.ndarray:
    """Encode texts in batches -> (n, dim) float32 unit vectors, with a tqdm bar on stderr."""
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    with tqdm(total=len(texts), desc=f"embedding {what}s", unit=what, disable=not progress, leave=False) as bar:
        for start in range(0, len(texts), batch_size):
            batch = texts[start:start + batch_size]
            out[start:start + len(batch)] = embedder.encode(batch, batch_size=batch_size)
            bar.update(len(batch))
    return out


UNIT_BATCH = 32  # sentences sorted by length, so batches pad little


def embed_units(embedder, chunk_texts: dict[str, str],
                progress: bool = True) -> dict[str, list[tuple[str, np.ndarray]]]:
    """chunk hash -> (unit text hash, vector) for every evidence unit of each chunk, as answering ranks them
    (rag.index.units.evidence_units); answering then embeds only the question."""
    units = {h: [squash(text[a:b]) for a, b in evidence_units(text)] for h, text in chunk_texts.items()}
    distinct = sorted(dict.fromkeys(u for us in units.values() for u in us), key=len)  # similar lengths batch
    vecs = dict(zip(distinct, embed_texts(embedder, distinct, batch_size=UNIT_BATCH, progress=progress,
                                          what="sentence")))
    return {h: [(text_hash(u), vecs[u]) for u in us] for h, us in units.items()}
