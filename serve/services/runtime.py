"""What the app holds between requests: settings, the live snapshot (chain + store of one index version), the
generation queue, and the thread that swaps in a newer index version when any process publishes one."""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.core.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, RagError

log = logging.getLogger("serve")
INDEX_ERRORS = (IndexNotFoundError, IndexMismatchError, IndexCorruptError)
PUBLIC_INDEX_FIELDS = ("model_id", "dim", "chunks", "notes", "index_type", "version", "created", "updated")


def public_index_info(store) -> dict | None:
    """What /health shows of an index: its store.info() without the ingested roots (absolute paths)."""
    if store is None:
        return None
    info = store.info()
    return {key: info[key] for key in PUBLIC_INDEX_FIELDS if key in info}


def _store_of(chain):
    """The store behind a chain's retriever, when it exposes one."""
    return getattr(getattr(chain, "retriever", None), "store", None)


def _warm(chain) -> None:
    """Build the chain's vocabulary of the notes now, in the loading thread: built by the first question, it held
    the GIL for seconds on a 50 MB note while requests were being served (bench/soak.py)."""
    vocabulary = getattr(chain, "vocabulary", None)
    if callable(vocabulary):
        vocabulary()


def _rebuild_with(chain, settings):
    """A fresh AnswerChain over the published index that keeps the loaded LLM and embedder (no second load)."""
    from rag.index.retrieve import HybridRetriever

    embedder = getattr(chain.retriever, "embedder", None)
    return type(chain)(HybridRetriever.open(settings, embedder=embedder), settings, chain.backend_name, chain.llm,
                       chain.mode)


class Snapshot:
    """One index version's chain and store, shared by the requests begun on it. Once a newer snapshot replaces
    it, its store is closed when the last of those requests releases it (reference-counted), so no request
    ever sees a store closed under it or a mix of two versions."""

    def __init__(self, chain, store, version: str | None, owned: bool):
        self.chain = chain
        self.store = store
        self.version = version
        self.owned = owned            # built here (closed here), not injected by a test
        self.index_info = public_index_info(store)   # read once, so /health never touches the store
        self._users = 0
        self._retired = False
        self._lock = threading.Lock()

    @property
    def users(self) -> int:
        """Requests holding this snapshot now."""
        return self._users

    @property
    def closed(self) -> bool:
        """Whether it was retired and its store closed."""
        return self._retired and self._users == 0

    def acquire(self) -> Snapshot:
        """One more request uses it."""
        with self._lock:
            self._users += 1
        return self

    def release(self) -> None:
        """A request is done with it; the last one out of a retired snapshot closes its store."""
        with self._lock:
            self._users -= 1
            last = self._retired and self._users == 0
        if last:
            self._close()

    def retire(self) -> None:
        """A newer snapshot replaced it: close now if idle, else when the last request releases it."""
        with self._lock:
            self._retired = True
            idle = self._users == 0
        if idle:
            self._close()

    def _close(self) -> None:
        close = getattr(self.store, "close", None)
        if self.owned and callable(close):
            close()


class Runtime:
    """Loaded once in the lifespan. Requests lease the live snapshot; `refresh` builds the published version
    beside it and swaps between requests, in-flight answers finishing on theirs."""

    def __init__(self, settings, chain=None, store=None):
        from serve.services.generation import GenerationQueue

        self.settings = settings
        self.injected = chain is not None
        self._injected_chain = chain
        self._injected_store = store if store is not None else _store_of(chain)
        self.load_error: RagError | None = None
        self.queue = GenerationQueue(settings.server.max_queue, settings.server.workers,
                                     settings.server.request_timeout_s)
        self.write_lock = asyncio.Lock()
        self.swaps = 0
        self._current: Snapshot | None = None
        self._lock = threading.Lock()         # guards _current against lease/swap races
        self._build_lock = threading.Lock()   # one build at a time (poller, index writes)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._poller: threading.Thread | None = None
        self.watcher = None

    # ---- the live snapshot ------------------------------------------------------------------------------------
    @property
    def chain(self):
        """The live chain (None without an index)."""
        return self._current.chain if self._current else None

    @property
    def store(self):
        """The live store (None without an index)."""
        return self._current.store if self._current else None

    @property
    def index_info(self) -> dict | None:
        """public_index_info of the live version, read when it was loaded."""
        return self._current.index_info if self._current else None

    def lease(self) -> Snapshot:
        """The live snapshot, acquired: release() it when the request is done (503 when there is no index)."""
        with self._lock:
            if self._current is None:
                raise self.load_error or IndexNotFoundError(f"no index at {self.settings.index_dir}")
            return self._current.acquire()

    @contextmanager
    def leased(self) -> Iterator[Snapshot]:
        """The live snapshot for the length of a `with` block."""
        snapshot = self.lease()
        try:
            yield snapshot
        finally:
            snapshot.release()

    def submit(self, question: str, **options):
        """Queue a generation on the live snapshot, held until the generation ends (429 when the queue is full)."""
        snapshot = self.lease()
        try:
            return self.queue.submit(snapshot.chain, question, on_finish=snapshot.release, **options)
        except BaseException:
            snapshot.release()
            raise

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

    # ---- building and swapping ------------------------------------------------------------------------------
    def load(self) -> None:
        """Build the first snapshot; index problems are remembered (503), not fatal."""
        self._swap_in(self._build)

    def _build(self) -> Snapshot:
        """A snapshot of the published version: the injected chain, or a chain that reuses the loaded models."""
        if self.injected:
            _warm(self._injected_chain)
            if self._injected_store is not None:
                return Snapshot(self._injected_chain, self._injected_store, None, owned=False)
            store = self._open_store()
            return Snapshot(self._injected_chain, store, getattr(store, "opened_version", None), owned=True)
        previous = self.chain
        if getattr(previous, "llm", None) is not None:
            chain = _rebuild_with(previous, self.settings)
        else:
            from rag.answer.chain import build_chain

            chain = build_chain(self.settings)
        _warm(chain)   # built now, not by the first question on this version
        store = _store_of(chain)
        return Snapshot(chain, store, getattr(store, "opened_version", None), owned=True)

    def _swap_in(self, build) -> bool:
        """Build first, then replace the live snapshot between requests; the old one closes when idle."""
        with self._build_lock:
            try:
                snapshot = build()
            except INDEX_ERRORS as exc:
                log.warning("serving without an index (%s); POST /ingest or `rag ingest` fixes it", exc)
                if self._current is None:
                    self.load_error = exc
                return False
            with self._lock:
                old, self._current, self.load_error = self._current, snapshot, None
            if old is not None:
                self.swaps += 1
                log.info("serving index version %s (was %s)", snapshot.version, old.version)
                old.retire()
            return True

    def _open_store(self):
        from rag.index.store import open_store

        return open_store(self.settings)

    def published_version(self) -> str | None:
        """The version published now: one small read (CURRENT, or Qdrant's alias)."""
        store = self.store
        if store is not None and callable(getattr(store, "version", None)):
            return store.version() or None
        from rag.index.store import open_backend

        return open_backend(self.settings).version()

    def refresh(self) -> bool:
        """Swap in the published version when it is not the one served; True when it swapped."""
        if self.injected:
            return False
        published = self.published_version()
        if published is None or (self._current is not None and published == self._current.version):
            return False
        return self._swap_in(self._build)

    def reload(self) -> None:
        """After an index write: the published version; an injected chain reloads itself and is swapped in again
        with the store reopened (or the injected store's figures read again)."""
        if not self.injected:
            self.refresh()
            return
        reopen = getattr(self._injected_chain, "reload", None)
        if callable(reopen):
            reopen()
        self._swap_in(self._build)

    # ---- following the index --------------------------------------------------------------------------------
    def start_polling(self, interval_s: float) -> None:
        """Check the published version every `interval_s` seconds (and whenever woken) on a daemon thread."""
        if self.injected or self._poller is not None:
            return
        self._poller = threading.Thread(target=self._poll, args=(interval_s,), name="rag-index-poll", daemon=True)
        self._poller.start()

    def wake(self) -> None:
        """Check for a newer version now (after an ingest this process ran)."""
        self._wake.set()

    def _poll(self, interval_s: float) -> None:
        while not self._stop.is_set():
            self._wake.wait(interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - a failed refresh keeps the served version; logged, retried
                log.exception("could not open the newer index version; still serving %s",
                              self._current.version if self._current else "nothing")

    def watch(self, folder: Path) -> None:
        """Re-ingest `folder` incrementally whenever its notes change, then serve the new version at once."""
        from ingest.watch import watch_and_ingest

        def ingested(report) -> None:
            changed = len(report.added) + len(report.updated) + len(report.removed)
            if changed or report.errors:
                log.info("re-ingested %s: %d added, %d updated, %d removed, %d failed", folder, len(report.added),
                         len(report.updated), len(report.removed), len(report.errors))
            self.wake()

        self.watcher = watch_and_ingest(Path(folder), self.settings, on_report=ingested)

    def backend_name(self) -> str:
        """The answer backend being served."""
        return getattr(self.chain, "backend_name", self.settings.answer.backend)

    def model_name(self) -> str | None:
        """The model behind the backend, for /health, /status and /v1/models."""
        from rag.core.resources import answer_model

        return answer_model(self.settings, self.backend_name())

    def close(self) -> None:
        """Stop watching and polling, stop the worker threads, close the live store once idle."""
        self._stop.set()
        self._wake.set()
        if self.watcher is not None:
            self.watcher.stop()
        self.queue.shutdown()
        with self._lock:
            current, self._current = self._current, None
        if current is not None:
            current.retire()
