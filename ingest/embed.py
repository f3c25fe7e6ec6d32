"""Corpus embedding: the text each chunk is embedded as, and batched encoding with a progress bar."""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from tqdm import tqdm

from rag.core.text import squash, word_parts
from rag.core.types import Chunk, heading_path, heading_titles
from rag.index.store.db import text_hash
from rag.index.units import evidence_units, listed_in_context


def embedding_text(chunk: Chunk, count_tokens: Callable[[str], int], limit: int) -> str:
    """'heading path' + newline + chunk text; the heading is trimmed (outermost parts first) to fit `limit`."""
    return under_heading(chunk.heading, chunk.text, count_tokens, limit)


def under_heading(heading: str, text: str, count_tokens: Callable[[str], int], limit: int) -> str:
    """'heading path' + newline + text, the heading trimmed (outermost parts first) to fit `limit` tokens."""
    parts = heading_titles(heading)
    while parts:
        out = heading_path(parts) + "\n" + text
        if count_tokens(out) <= limit:
            return out
        parts = parts[1:]
    return text


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


def embed_units(embedder, chunks: Mapping[str, Chunk], progress: bool = True, label: str = "",
                with_heading: bool = False) -> dict[str, list[tuple[str, np.ndarray]]]:
    """chunk hash -> (unit text hash, vector) for every evidence unit of each chunk, as answering ranks them
    (rag.index.units.evidence_units), and, unless `with_heading`, for each list line under its label
    (rag.index.units.listed_in_context); answering then embeds only the question. `with_heading`: each unit is
    embedded under its chunk's heading path, as chunks are (the hash stays the unit text's). `label` names the
    embedder on the progress bar."""
    units = {h: [squash(c.text[a:b]) for a, b in evidence_units(c.text)]
             + ([] if with_heading else listed_in_context(c.text)) for h, c in chunks.items()}
    shown = {h: [under_heading(chunks[h].heading if with_heading else "", u, embedder.count_tokens,
                               embedder.max_tokens) for u in us] for h, us in units.items()}
    distinct = sorted(dict.fromkeys(u for us in shown.values() for u in us), key=len)  # similar lengths batch
    vecs = dict(zip(distinct, embed_texts(embedder, distinct, batch_size=UNIT_BATCH, progress=progress,
                                          what=f"{label} sentence".strip())))
    return {h: [(text_hash(u), vecs[s]) for u, s in zip(units[h], shown[h])] for h in units}


def embed_chunks(embedder, chunks: Mapping[str, Chunk], progress: bool = True, label: str = "",
                 unit_chunks: Mapping[str, Chunk] | None = None,
                 ) -> tuple[dict[str, np.ndarray], dict[str, list[tuple[str, np.ndarray]]]]:
    """text_hash -> vector of each chunk (its heading path and text, trimmed to the embedder's limit), and text_hash
    -> its evidence units' vectors, with one embedder. Given `unit_chunks` (text in a language MiniLM does not read),
    only their units, each under its heading path: the heading is what ties a sentence of another language to what
    it is about, as the heading's words do for an English unit's term coverage when answering."""
    texts = [embedding_text(c, embedder.count_tokens, embedder.max_tokens) for c in chunks.values()]
    vecs = embed_texts(embedder, texts, progress=progress, what=f"{label} chunk".strip())
    with_units = chunks if unit_chunks is None else unit_chunks
    units = embed_units(embedder, with_units, progress=progress, label=label, with_heading=unit_chunks is not None)
    return dict(zip(chunks, vecs)), units


FOREIGN_MIN_WORDS = 10   # fewer common words than this (a table of figures, a list of names) tell no language


def foreign_chunks(chunks: Mapping[str, Chunk], word_pieces: Callable[[str], int],
                   limit: float) -> dict[str, Chunk]:
    """The chunks whose common words (alphabetic, lowercase: names and acronyms are cut into pieces in any language)
    `word_pieces` (MiniLM's tokenizer) cuts into at least `limit` pieces on average, over at least FOREIGN_MIN_WORDS
    of them: text in a language MiniLM's vocabulary does not hold."""
    memo: dict[str, int] = {}

    def pieces(word: str) -> int:
        if word not in memo:
            memo[word] = word_pieces(word)
        return memo[word]

    out = {}
    for h, c in chunks.items():
        words = [w for w in word_parts(c.text) if w.isalpha() and w.islower()]
        if len(words) >= FOREIGN_MIN_WORDS and sum(map(pieces, words)) / len(words) >= limit:
            out[h] = c
    return out
