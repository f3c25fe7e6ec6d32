"""HybridRetriever: the LangChain retriever over any store (FAISS + BM25 in process, or Qdrant's dense + sparse
vectors fused in the engine); the store does the ranking (rag.index.store.base.StoreReader.search)."""
from __future__ import annotations

from typing import Any, get_args

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.core.errors import ConfigError
from rag.core.settings import RetrievalMode, RetrievalSettings, Settings
from rag.core.types import Filters, SearchResult
from rag.index.embed import Embedder
from rag.index.store import DEFAULT_DENSE, open_store
from rag.index.store.base import SearchRequest


class HybridRetriever(BaseRetriever):
    """Ranks chunks of a store; `search` returns SearchResults, LangChain calls get Documents.

    `k` (constructor, or `invoke(query, k=3)`) is how many come back (default settings.k); `filters` (constructor,
    or `invoke(query, filters=Filters(...))`) scopes the search to a folder, tags or a file glob.
    Scores: hybrid -> fused RRF score; dense -> cosine; bm25 -> sparse score. `dense_score` is always the cosine.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Any
    embedder: Any
    settings: RetrievalSettings = RetrievalSettings()
    k: int | None = None
    filters: Filters = Filters()
    dense: str = DEFAULT_DENSE

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None, **fields) -> HybridRetriever:
        """Open the index of settings (settings.store, settings.index_dir) and load the embedder it was built with."""
        store = open_store(settings)
        embedder = embedder or Embedder.load()
        store.check_model(embedder.model_id, embedder.dim)
        store.prepare()
        return cls(store=store, embedder=embedder, settings=settings.retrieval, **fields)

    def search(self, query: str, k: int | None = None, mode: str | None = None,
               filters: Filters | None = None) -> list[SearchResult]:
        """Top-k chunks for `query` in rank order, deduplicated by chunk, inside `filters` when given."""
        mode = mode or self.settings.mode
        if mode not in get_args(RetrievalMode):
            raise ConfigError(f"unknown retrieval mode {mode!r}; choose one of {', '.join(get_args(RetrievalMode))}")
        request = SearchRequest(text=query, vector=self.embedder.encode_query(query),
                                k=k or self.k or self.settings.k, mode=mode,
                                settings=self.settings, filters=self.filters if filters is None else filters,
                                dense=self.dense)
        return self.store.search(request)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None, filters: Filters | None = None) -> list[Document]:
        """LangChain entry point: Documents with page_content = chunk text."""
        docs = []
        for r in self.search(query, k=k, filters=filters):
            meta = r.to_dict()
            meta.pop("text")
            meta.update({"dense_score": r.dense_score, "bm25_score": r.bm25_score})
            docs.append(Document(page_content=r.chunk.text, metadata=meta))
        return docs
