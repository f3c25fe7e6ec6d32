"""Corpus embedding: the text each chunk is embedded as, and batched encoding with a progress bar."""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from tqdm import tqdm

from rag.core.text import squash, word_parts
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


def embed_units(embedder, chunk_texts: dict[str, str], progress: bool = True,
                label: str = "") -> dict[str, list[tuple[str, np.ndarray]]]:
    """chunk hash -> (unit text hash, vector) for every evidence unit of each chunk, as answering ranks them
    (rag.index.units.evidence_units); answering then embeds only the question. `label` names the embedder on the
    progress bar."""
    units = {h: [squash(text[a:b]) for a, b in evidence_units(text)] for h, text in chunk_texts.items()}
    distinct = sorted(dict.fromkeys(u for us in units.values() for u in us), key=len)  # similar lengths batch
    vecs = dict(zip(distinct, embed_texts(embedder, distinct, batch_size=UNIT_BATCH, progress=progress,
                                          what=f"{label} sentence".strip())))
    return {h: [(text_hash(u), vecs[u]) for u in us] for h, us in units.items()}


def embed_chunks(embedder, chunks: Mapping[str, Chunk], progress: bool = True, label: str = "",
                 unit_chunks: Mapping[str, Chunk] | None = None,
                 ) -> tuple[dict[str, np.ndarray], dict[str, list[tuple[str, np.ndarray]]]]:
    """text_hash -> vector of each chunk (its heading path and text, trimmed to the embedder's limit), and text_hash
    -> its evidence units' vectors (of `unit_chunks` only, when given), with one embedder."""
    texts = [embedding_text(c, embedder.count_tokens, embedder.max_tokens) for c in chunks.values()]
    vecs = embed_texts(embedder, texts, progress=progress, what=f"{label} chunk".strip())
    with_units = chunks if unit_chunks is None else unit_chunks
    units = embed_units(embedder, {h: c.text for h, c in with_units.items()}, progress=progress, label=label)
    return dict(zip(chunks, vecs)), units


def foreign_chunks(chunks: Mapping[str, Chunk], word_pieces: Callable[[str], int],
                   limit: float) -> dict[str, Chunk]:
    """The chunks whose alphabetic words `word_pieces` (MiniLM's tokenizer) cuts into at least `limit` pieces on
    average: text in a language MiniLM's vocabulary does not hold."""
    memo: dict[str, int] = {}

    def pieces(word: str) -> int:
        if word not in memo:
            memo[word] = word_pieces(word)
        return memo[word]

    out = {}
    for h, c in chunks.items():
        words = [w.lower() for w in word_parts(c.text) if w.isalpha()]
        if words and sum(map(pieces, words)) / len(words) >= limit:
            out[h] = c
    return out
