"""QdrantBackend: the Qdrant store's location (server URL or local-mode folder, and the alias readers follow)."""
from __future__ import annotations

import time

from rag.core.errors import IndexMismatchError
from rag.core.settings import RetrievalSettings
from rag.core.text import SPLITTER_VERSION
from rag.index.qdrant import client as qc
from rag.index.qdrant import points
from rag.index.store.base import DenseSpec
from rag.index.store.db import DocRecord, all_changed
from rag.index.store.layout import IndexLock
from rag.index.store.marker import write_marker
from rag.index.units import UNIT_VECTORS


class QdrantBackend:
    """A Qdrant collection alias and its version collections; the index folder keeps STORE.json and the ingest lock."""

    kind = "qdrant"

    def __init__(self, settings):
        self.settings = settings
        self.index_dir = settings.index_path
        self.alias = settings.qdrant.collection
        self.server = bool(settings.qdrant.url)
        self.client = qc.client_for(settings)

    def where(self) -> str:
        """Human-readable location (no API key)."""
        return f"Qdrant collection {self.alias!r} at {qc.location(self.settings)}"

    def exists(self) -> bool:
        """Whether a version has been published."""
        return qc.alias_target(self.client, self.alias) is not None

    def version(self) -> str | None:
        """The collection the alias points at (one alias lookup)."""
        return qc.alias_target(self.client, self.alias)

    def lock(self) -> IndexLock:
        """The ingest lock in the index folder (one writer per machine; a cluster's writers must share the folder)."""
        return IndexLock(self.index_dir)

    def dense_sets(self) -> dict[str, DenseSpec]:
        """The named dense sets of the published version ({} when there is none)."""
        held = self.read_meta(self.version()).get("dense", {})
        return {n: DenseSpec(n, s["model_id"], int(s["dim"])) for n, s in held.items()}

    def units_current(self) -> bool:
        """Whether the published version's unit vectors were embedded as this version embeds them (True when none)."""
        live = self.version()
        return live is None or self.read_meta(live).get("units") == UNIT_VECTORS

    def read_meta(self, collection: str | None) -> dict:
        """The meta point's payload of a version ({} when absent)."""
        if not collection:
            return {}
        found = self.client.retrieve(collection, [points.META_ID], with_payload=True)
        return dict(found[0].payload) if found else {}

    def clean_stale(self) -> None:
        """Delete the version collections no reader can still be on: the live one stays, the one it replaced, and
        every older one replaced less than a request's time limit ago (a server under load may still answer from
        it); what an interrupted write left goes too."""
        existing = set(qc.versions(self.client, self.alias))
        horizon = time.time() - self.settings.server.request_timeout_s
        current = self.version()
        keep = {current}
        while current in existing:
            previous = self.read_meta(current).get("previous")
            if previous not in existing or previous in keep:
                break
            keep.add(previous)                      # it was live until `current` replaced it
            if qc.created_at(current) < horizon:    # ... and that was long enough ago for older ones to go
                break
            current = previous
        for name in existing - keep:
            self.client.delete_collection(name)

    def read_state(self, dense: DenseSpec, rebuild: bool) -> tuple[dict[str, DocRecord], int]:
        """Manifest and chunk count of the live version; checks the embedder fingerprint. A version cut by another
        SPLITTER_VERSION lists every note as changed (re-read once; unchanged chunk texts are not re-embedded)."""
        live = self.version()
        if rebuild or live is None:
            return {}, 0
        meta = self.read_meta(live)
        held = meta.get("dense", {}).get(dense.name)
        if held is None or (held["model_id"], held["dim"]) != (dense.model_id, dense.dim):
            have = f"{held['model_id']} (dim {held['dim']})" if held else "no such vector set"
            raise IndexMismatchError(f"{self.where()} was built with {have} for vector set {dense.name!r} but the "
                                     f"embedder is {dense.model_id} (dim {dense.dim}); re-run rag ingest with "
                                     f"--rebuild")
        known = {d.source: d for d in self.docs(live)}
        return all_changed(known) if meta.get("splitter") != SPLITTER_VERSION else known, int(meta.get("chunks", 0))

    def docs(self, collection: str, with_text: bool = False) -> list[DocRecord]:
        """Every note point of a version (manifest rows; texts only when asked)."""
        m = qc.models()
        selector = True if with_text else m.PayloadSelectorExclude(exclude=["text", "pages"])
        out, offset = [], None
        while True:
            page, offset = self.client.scroll(collection, scroll_filter=points.kind_is("doc"), limit=1024,
                                              offset=offset, with_payload=selector)
            out += [points.doc_from(p.payload) for p in page]
            if offset is None:
                return out

    def open_reader(self, ef_search: int = 128):
        """The published version (IndexNotFoundError when there is none)."""
        from rag.index.qdrant.reader import QdrantStore

        return QdrantStore.open(self, ef_search)

    def writer(self, dense: list[DenseSpec], retrieval: RetrievalSettings, rebuild: bool = False):
        """A writer for the next version collection. Call under the lock."""
        from rag.index.qdrant.writer import QdrantWriter

        return QdrantWriter(self, dense, retrieval, rebuild)

    def published(self, collection: str, meta: dict) -> None:
        """After an alias swap: record the store in the index folder and drop versions older than the previous."""
        write_marker(self.index_dir, {"store": self.kind, "location": qc.location(self.settings),
                                      "collection": self.alias, "version": collection, "dense": meta["dense"]})
        self.clean_stale()
