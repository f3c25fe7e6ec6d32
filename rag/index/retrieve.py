"""HybridRetriever: dense (FAISS) + BM25 fused with weighted reciprocal rank fusion, as a LangChain retriever."""
from __future__ import annotations

from typing import Any, get_args

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.core.errors import ConfigError
from rag.core.settings import RetrievalMode, RetrievalSettings, Settings
from rag.core.types import SearchResult
from rag.index.bm25 import BM25Index
from rag.index.embed import Embedder
from rag.index.fusion import rrf, top_with_leaders
from rag.index.store import IndexStore


class HybridRetriever(BaseRetriever):
    """Ranks chunks of an IndexStore; `search` returns SearchResults, LangChain calls get Documents.

    Scores: hybrid -> fused RRF score; dense -> cosine; bm25 -> BM25 score. `dense_score` is always the cosine.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any
    embedder: Any
    bm25: Any
    settings: RetrievalSettings = RetrievalSettings()

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> HybridRetriever:
        """Open the index at settings.index_dir and load the embedder it was built with."""
        store = IndexStore.open(settings.index_path, ef_search=settings.retrieval.hnsw_ef_search)
        embedder = embedder or Embedder.load()
        store.check_model(embedder.model_id, embedder.dim)
        ids, texts = store.texts_for_bm25()
        return cls(store=store, embedder=embedder, bm25=BM25Index(ids, texts), settings=settings.retrieval)

    def search(self, query: str, k: int | None = None, mode: str | None = None) -> list[SearchResult]:
        """Top-k chunks for `query` in rank order, deduplicated by chunk."""
        k = k or self.settings.k
        mode = mode or self.settings.mode
        if mode not in get_args(RetrievalMode):
            raise ConfigError(f"unknown retrieval mode {mode!r}; choose one of {', '.join(get_args(RetrievalMode))}")
        n = max(self.settings.candidates, k)
        qvec = self.embedder.encode_query(query)  # needed in every mode: dense_score is always filled
        dense = self.store.search_vectors(qvec, n) if mode != "bm25" else []
        bm25_all = self.bm25.scores(query)
        sparse = self.bm25.top(bm25_all, n) if mode != "dense" else []
        if mode == "hybrid":
            ranked = rrf([([i for i, _ in dense], self.settings.dense_weight),
                          ([i for i, _ in sparse], self.settings.bm25_weight)], k=self.settings.rrf_k)
            top = top_with_leaders(ranked, [[i for i, _ in dense], [i for i, _ in sparse]], k,
                                   self.settings.fusion_leaders)
        else:
            ranked = dense if mode == "dense" else sparse
            top = [i for i, _ in ranked[:k]]
        fused = dict(ranked)
        cos = self._cosines(qvec, top, dict(dense))
        bm = self.bm25.lookup(bm25_all, top)
        chunks = self.store.by_vector_ids(top)
        return [SearchResult(chunk=chunks[i], score=float(fused[i]), dense_score=cos[i], bm25_score=bm[i])
                for i in top if i in chunks]

    def _cosines(self, qvec: np.ndarray, vids: list[int], known: dict[int, float]) -> dict[int, float]:
        """Cosine of query and each chunk; stored vectors are reconstructed where search did not score them."""
        missing = [i for i in vids if i not in known]
        out = {i: float(known[i]) for i in vids if i in known}
        if missing:
            sims = self.store.vectors_for(missing) @ qvec.astype(np.float32)
            out.update({i: float(s) for i, s in zip(missing, sims)})
        return out

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        """LangChain entry point: Documents with page_content = chunk text."""
        docs = []
        for r in self.search(query):
            meta = r.to_dict()
            meta.pop("text")
            meta.update({"dense_score": r.dense_score, "bm25_score": r.bm25_score})
            docs.append(Document(page_content=r.chunk.text, metadata=meta))
        return docs
