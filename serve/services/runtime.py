"""What the app holds between requests: settings, the chain, the index store and the generation queue."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from rag.core.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, RagError

log = logging.getLogger("serve")
PUBLIC_INDEX_FIELDS = ("model_id", "dim", "chunks", "notes", "index_type", "version", "created", "updated")


def public_index_info(store) -> dict | None:
    """What /health shows of an index: its store.info() without the ingested roots (absolute paths)."""
    if store is None:
        return None
    info = store.info()
    return {key: info[key] for key in PUBLIC_INDEX_FIELDS if key in info}


def _store_of(chain):
    """The IndexStore behind a chain's retriever, when it exposes one."""
    return getattr(getattr(chain, "retriever", None), "store", None)


def _rebuild_with(chain, settings):
    """A fresh AnswerChain over the reopened index that keeps the loaded LLM (no second model load)."""
    from rag.index.retrieve import HybridRetriever

    embedder = getattr(chain.retriever, "embedder", None)
    return type(chain)(HybridRetriever.open(settings, embedder=embedder), settings, chain.backend_name, chain.llm,
                       chain.mode)


def _warm(chain) -> None:
    """Build the chain's vocabulary of the notes now, in the loading thread: built by the first question, it held
    the GIL for seconds on a 50 MB note while requests were being served (bench/soak.py)."""
    vocabulary = getattr(chain, "vocabulary", None)
    if callable(vocabulary):
        vocabulary()


class Runtime:
    """Loaded once in the lifespan; swapped as a whole after index writes so in-flight answers keep theirs."""

    def __init__(self, settings, chain=None, store=None):
        from serve.services.generation import GenerationQueue

        self.settings = settings
        self.chain = chain
        self.store = store if store is not None else _store_of(chain)
        self.index_info: dict | None = None        # public_index_info of the store, read once per (re)load
        self.injected = chain is not None
        self.injected_store = store is not None
        self.load_error: RagError | None = None
        self.queue = GenerationQueue(settings.server.max_queue, settings.server.workers,
                                     settings.server.request_timeout_s)
        self.write_lock = asyncio.Lock()

    def load(self) -> None:
        """Build the chain and open the store unless injected; index problems are remembered (503), not fatal."""
        self._swap(lambda: self.chain)

    def _swap(self, make_chain) -> None:
        """Build first, then replace chain and store together, so requests never see a half-loaded runtime."""
        try:
            chain = make_chain()
            if chain is None:
                from rag.answer.chain import build_chain

                chain = build_chain(self.settings)
            store = self.store if self.injected_store else (_store_of(chain) or self._open_store())
        except (IndexNotFoundError, IndexMismatchError, IndexCorruptError) as exc:
            log.warning("serving without an index (%s); POST /ingest or `rag ingest` fixes it", exc)
            self.load_error = exc
            return
        info = public_index_info(store)
        _warm(chain)
        self.chain, self.store, self.index_info, self.load_error = chain, store, info, None

    def _open_store(self):
        from rag.index.store import open_store

        return open_store(self.settings)

    def reload(self) -> None:
        """Reopen the index after an index write: a fresh chain that keeps the loaded LLM, or the injected one."""
        if self.injected:
            reopen = getattr(self.chain, "reload", None)
            if callable(reopen):
                reopen()
            self._swap(lambda: self.chain)
            return
        previous = self.chain
        self._swap(lambda: _rebuild_with(previous, self.settings) if getattr(previous, "llm", None) is not None
                   else None)

    def require_chain(self):
        """The chain, or the load error (503 with a clear message) when there is none."""
        if self.chain is None:
            raise self.load_error or IndexNotFoundError("the answering chain is not loaded")
        return self.chain

    def require_store(self):
        """The index store, or 503 when there is no index."""
        if self.store is None:
            raise self.load_error or IndexNotFoundError(f"no index at {self.settings.index_dir}")
        return self.store

    def model_name(self) -> str | None:
        """The model behind the backend, for /health and /v1/models."""
        backend = getattr(self.chain, "backend_name", self.settings.answer.backend)
        if backend == "openai":
            return self.settings.llm.openai_model
        if backend == "local":
            if self.settings.llm.gguf_path:
                return Path(self.settings.llm.gguf_path).name
            from rag.core.resources import LLM_FILE

            return LLM_FILE
        return None

    def close(self) -> None:
        """Stop the worker threads."""
        self.queue.shutdown()
