"""HybridRetriever: the LangChain retriever over any store (FAISS + BM25 in process, or Qdrant's dense + sparse
vectors fused in the engine); the store does the ranking (rag.index.store.base.StoreReader.search).

Dense sets: MiniLM's (the default set) always ranks and gives `dense_score`; the other sets settings.retrieval.embedders
names ("e5") add their rankings to the fusion when the index holds them."""
from __future__ import annotations

import logging
import threading
from typing import Any, get_args

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr

from rag.core.errors import ConfigError
from rag.core.settings import RetrievalMode, RetrievalSettings, Settings
from rag.core.types import Filters, SearchResult
from rag.index.embed import Embedder
from rag.index.store import DEFAULT_DENSE, open_store
from rag.index.store.base import SearchRequest

log = logging.getLogger("retrieve")
QUERY_MEMO = 64   # query vectors kept per set: the chain embeds a question for retrieval and again for its evidence


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
    others: dict[str, Any] = {}      # further dense set name -> its embedder, fused beside `dense`
    _memo: dict = PrivateAttr(default_factory=dict)
    _memo_lock: Any = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None, **fields) -> HybridRetriever:
        """Open the index of settings (settings.store, settings.index_dir) and load the embedders it was built with;
        a set the settings name but the index lacks is left out with a warning saying how to add it."""
        store = open_store(settings)
        embedder = embedder or Embedder.load()
        store.check_model(embedder.model_id, embedder.dim)
        held = store.dense_sets()
        others = {}
        for name in settings.retrieval.embedders:
            if name == DEFAULT_DENSE:
                continue
            if name not in held:
                log.warning("the index at %s holds no %r vectors: retrieval fuses %s and BM25 only; run rag ingest "
                            "on the notes again to add them", settings.index_dir, name, DEFAULT_DENSE)
                continue
            other = Embedder.load_named(name)
            store.check_model(other.model_id, other.dim, name)
            others[name] = other
        store.prepare()
        return cls(store=store, embedder=embedder, settings=settings.retrieval, **{"others": others, **fields})

    def query_vector(self, query: str, name: str) -> Any:
        """The query's vector in dense set `name` (memoised: the chain asks again when scoring evidence)."""
        with self._memo_lock:
            found = self._memo.get((name, query))
        if found is None:
            found = (self.embedder if name == self.dense else self.others[name]).encode_query(query)
            with self._memo_lock:
                if len(self._memo) >= QUERY_MEMO * (1 + len(self.others)):
                    self._memo.clear()
                self._memo[(name, query)] = found
        return found

    def search(self, query: str, k: int | None = None, mode: str | None = None,
               filters: Filters | None = None) -> list[SearchResult]:
        """Top-k chunks for `query` in rank order, deduplicated by chunk, inside `filters` when given."""
        mode = mode or self.settings.mode
        if mode not in get_args(RetrievalMode):
            raise ConfigError(f"unknown retrieval mode {mode!r}; choose one of {', '.join(get_args(RetrievalMode))}")
        request = SearchRequest(text=query, vector=self.query_vector(query, self.dense),
                                k=k or self.k or self.settings.k, mode=mode,
                                settings=self.settings, filters=self.filters if filters is None else filters,
                                dense=self.dense,
                                more_dense={n: self.query_vector(query, n) for n in self.others} if mode != "bm25"
                                else {})
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
