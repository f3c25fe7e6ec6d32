"""QdrantWriter: builds the next version as a new collection (a copy of the live one plus the changes) and publishes
it by swapping the alias; an interrupted write leaves an unaliased collection that the next write removes, and the
live version keeps serving."""
from __future__ import annotations

import time

import numpy as np

from rag.core.errors import ConfigError, IndexCorruptError, IndexMismatchError
from rag.core.settings import RetrievalSettings
from rag.core.text import SPLITTER_VERSION
from rag.core.types import Chunk
from rag.index.qdrant import client as qc
from rag.index.qdrant import points, sparse
from rag.index.store.base import DenseSpec
from rag.index.store.db import DocRecord, make_chunk_id, text_hash
from rag.index.units import UNIT_VECTORS

BATCH = 256          # points per upsert / scroll page


class QdrantWriter:
    """The next version of a Qdrant store; the caller holds the backend's lock."""

    kind = "qdrant"

    def __init__(self, backend, dense: list[DenseSpec], retrieval: RetrievalSettings, rebuild: bool = False):
        self.backend = backend
        self.client = backend.client
        self.retrieval = retrieval
        self.sets = {d.name: d for d in dense}
        current = qc.alias_target(self.client, backend.alias)
        self.live = None if rebuild else current
        live_meta = backend.read_meta(self.live) if self.live else {}
        self.live_sets = dict(live_meta.get("dense", {}))
        self._check_sets()
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.meta = {"kind": "meta", "created": live_meta.get("created", now), "updated": now,
                     "splitter": SPLITTER_VERSION, "roots": list(live_meta.get("roots", [])),
                     "next_id": int(live_meta.get("next_id", 1)), "avgdl": live_meta.get("avgdl"), "previous": current,
                     "dense": {d.name: {"model_id": d.model_id, "dim": d.dim} for d in dense},
                     "units": live_meta.get("units") if self.live else UNIT_VECTORS}
        self.name = qc.new_collection_name(backend.alias)
        qc.create(self.client, self.name, {d.name: d.dim for d in dense}, server=backend.server)
        self.docs: dict[str, DocRecord] = {}          # manifest of the version being built (texts not kept)
        self.hash_to_vid: dict[str, int] = {}
        self.locations: dict[int, list[dict]] = {}   # vector id -> its locations (primary first)
        self.by_source: dict[str, set[int]] = {}
        self.dirty: set[int] = set()                 # copied chunks whose locations changed
        self.new: dict[int, dict] = {}               # vector id -> vectors, payload and terms of a new chunk
        self.docs_put: dict[str, DocRecord] = {}
        self.docs_gone: set[str] = set()
        self.embedded = 0
        if self.live:
            self._copy_live()

    def _check_sets(self) -> None:
        """The embedders must fill every set the live version holds, with the same fingerprints."""
        unfilled = sorted(set(self.live_sets) - set(self.sets))
        if unfilled:
            raise ConfigError(f"the Qdrant collection {self.backend.alias} holds dense set(s) {', '.join(unfilled)}: "
                              f"ingest must embed them too")
        for name, spec in self.sets.items():
            held = self.live_sets.get(name)
            if held is not None and (held["model_id"], held["dim"]) != (spec.model_id, spec.dim):
                raise IndexMismatchError(
                    f"Qdrant collection {self.backend.alias} was built with {held['model_id']} (dim {held['dim']}) "
                    f"for vector set {name!r} but the embedder is {spec.model_id} (dim {spec.dim}); re-run rag "
                    f"ingest with --rebuild")

    def _copy_live(self) -> None:
        """Copy every point of the live version into the new collection and index what the writer needs."""
        offset = None
        while True:
            page, offset = self.client.scroll(self.live, limit=BATCH, offset=offset, with_payload=True,
                                              with_vectors=True)
            keep = []
            for p in page:
                kind = p.payload.get("kind")
                if kind == "chunk":
                    vid = int(p.id)
                    self.hash_to_vid[p.payload["text_hash"]] = vid
                    self.locations[vid] = list(p.payload["locations"])
                    for loc in self.locations[vid]:
                        self.by_source.setdefault(loc["source"], set()).add(vid)
                elif kind == "doc":
                    self.docs[p.payload["source"]] = points.doc_from({**p.payload, "text": ""})
                if kind != "meta":
                    keep.append(qc.models().PointStruct(id=p.id, vector=p.vector or {}, payload=p.payload))
            if keep:
                self.client.upsert(self.name, keep, wait=True)
            if offset is None:
                return

    def manifest(self) -> dict[str, DocRecord]:
        """source -> manifest row of the version being built."""
        return dict(self.docs)

    def existing(self, hashes: list[str]) -> dict[str, int]:
        """text_hash -> vector id for chunks already stored (reused, not re-embedded)."""
        return {h: self.hash_to_vid[h] for h in hashes if h in self.hash_to_vid}

    def remove_document(self, source: str) -> None:
        """Drop a note; its chunks go at commit unless another location still uses them."""
        if self.docs.pop(source, None) is not None or source in self.docs_put:
            self.docs_gone.add(source)
        self.docs_put.pop(source, None)
        for vid in self.by_source.pop(source, set()):
            self.locations[vid] = [loc for loc in self.locations[vid] if loc["source"] != source]
            self.dirty.add(vid)

    def put_document(self, doc: DocRecord, chunks: list[Chunk], new_vectors: dict[str, np.ndarray],
                     new_units: dict[str, list[tuple[str, np.ndarray]]] | None = None,
                     other_sets: dict[str, dict[str, np.ndarray]] | None = None,
                     other_units: dict[str, dict[str, list[tuple[str, np.ndarray]]]] | None = None) -> None:
        """Store a note and its chunks (see rag.index.store.base.StoreWriter.put_document)."""
        per_set = {self._default(): new_vectors, **(other_sets or {})}
        units_per_set = {self._default(): new_units or {}, **(other_units or {})}
        self.remove_document(doc.source)
        self.docs_gone.discard(doc.source)
        self.docs[doc.source] = doc
        self.docs_put[doc.source] = doc
        note = doc.meta()
        for ordinal, chunk in enumerate(chunks):
            thash = text_hash(chunk.text)
            vid = self.hash_to_vid.get(thash)
            if vid is None:
                missing = [n for n in self.sets if thash not in per_set.get(n, {})]
                if missing:
                    raise IndexCorruptError(f"no {', '.join(missing)} vector for a new chunk of {doc.source}")
                vid = self.meta["next_id"]
                self.meta["next_id"] += 1
                self.hash_to_vid[thash] = vid
                self.locations[vid] = []
                units = {n: units_per_set[n].get(thash, []) for n in self.sets if n in units_per_set}
                self.new[vid] = {"vectors": {n: per_set[n][thash] for n in self.sets}, "units": units,
                                 "chunk_id": make_chunk_id(doc.source, chunk.text, ordinal), "text_hash": thash,
                                 "text": chunk.text, "terms": sparse.doc_terms(f"{chunk.heading}\n{chunk.text}")}
                self.embedded += 1
            self.locations[vid].append(points.location_payload(chunk, note))
            self.by_source.setdefault(doc.source, set()).add(vid)
            self.dirty.add(vid)

    def _default(self) -> str:
        return next(iter(self.sets))

    def missing_vectors(self, name: str) -> dict[str, Chunk]:
        """text_hash -> stored chunk without a vector in set `name`: every copied chunk of a set the live version
        lacks (what a newly added set must backfill)."""
        if name in self.live_sets:
            return {}
        vids = [v for v in self.locations if v not in self.new and self.locations[v]]
        out: dict[str, Chunk] = {}
        for start in range(0, len(vids), BATCH):
            for p in self.client.retrieve(self.name, vids[start:start + BATCH], with_payload=True):
                chunk = points.chunk_from(p.payload)
                out[text_hash(chunk.text)] = chunk
        return out

    def add_vectors(self, name: str, by_hash: dict[str, np.ndarray],
                    units: dict[str, list[tuple[str, np.ndarray]]] | None = None) -> None:
        """Fill set `name` for stored chunks (text_hash -> vector, and their evidence units' vectors in that set, in
        the order of the point's unit_hashes)."""
        m = qc.models()
        ids = self.existing(list(by_hash))
        vecs = [m.PointVectors(id=ids[h], vector={name: np.asarray(v, dtype=np.float32).tolist(),
                                                  **_unit_vectors({name: (units or {}).get(h, [])})})
                for h, v in by_hash.items() if h in ids and ids[h] not in self.new]
        for start in range(0, len(vecs), BATCH):
            self.client.update_vectors(self.name, vecs[start:start + BATCH], wait=True)

    def add_roots(self, roots: list[str]) -> None:
        """Remember which folders were ingested."""
        self.meta["roots"] += [r for r in roots if r not in self.meta["roots"]]

    def count(self) -> int:
        """Chunks in the version being built."""
        return sum(1 for locs in self.locations.values() if locs)

    def commit(self) -> str:
        """Write the changes, the meta point and the marker, swap the alias, drop versions older than the previous."""
        m = qc.models()
        orphans = {v for v, locs in self.locations.items() if not locs}
        gone = sorted(v for v in orphans if v not in self.new)
        for vid in orphans:
            self.locations.pop(vid)
            self.new.pop(vid, None)
        self.hash_to_vid = {h: v for h, v in self.hash_to_vid.items() if v not in orphans}
        for start in range(0, len(gone), BATCH):
            self.client.delete(self.name, m.PointIdsList(points=gone[start:start + BATCH]), wait=True)
        if self.meta["avgdl"] is None:
            lengths = [sum(p["terms"].values()) for p in self.new.values()]
            self.meta["avgdl"] = float(np.mean(lengths)) if lengths else 1.0
        self._write_new(m)
        ops = [m.SetPayloadOperation(set_payload=m.SetPayload(
            payload={"locations": self.locations[v], "heading": self.locations[v][0]["heading"]}, points=[v]))
            for v in sorted(self.dirty) if v in self.locations and v not in self.new]
        for start in range(0, len(ops), BATCH):
            self.client.batch_update_points(self.name, ops[start:start + BATCH], wait=True)
        self._write_docs(m)
        self.meta.update(chunks=self.count(), notes=len(self.docs))
        self.client.upsert(self.name, [m.PointStruct(id=points.META_ID, vector={}, payload=self.meta)], wait=True)
        if self.client.count(self.name, count_filter=points.kind_is("chunk"), exact=True).count != self.count():
            raise IndexCorruptError(f"refusing to publish {self.name}: chunk points and locations disagree")
        qc.swap_alias(self.client, self.backend.alias, self.name)
        self.backend.published(self.name, self.meta)
        return self.name

    def _write_new(self, m) -> None:
        """Upsert the new chunk points with their dense, unit and sparse vectors."""
        batch = []
        for vid, p in self.new.items():
            idx, vals = sparse.doc_vector(p["terms"], self.meta["avgdl"])
            vector = {n: np.asarray(v, dtype=np.float32).tolist() for n, v in p["vectors"].items()}
            vector[qc.SPARSE] = m.SparseVector(indices=idx, values=vals)
            vector.update(_unit_vectors(p["units"]))
            locs = self.locations[vid]
            hashes = [h for h, _ in p["units"].get(self._default(), [])]   # every set's units are in this order
            batch.append(m.PointStruct(id=vid, vector=vector, payload={
                "kind": "chunk", "chunk_id": p["chunk_id"], "text_hash": p["text_hash"], "text": p["text"],
                "heading": locs[0]["heading"], "unit_hashes": hashes, "locations": locs}))
            if len(batch) >= BATCH:
                self.client.upsert(self.name, batch, wait=True)
                batch = []
        if batch:
            self.client.upsert(self.name, batch, wait=True)

    def _write_docs(self, m) -> None:
        """Upsert changed note points, delete removed ones."""
        docs = [m.PointStruct(id=points.doc_id(d.source), vector={}, payload=points.doc_payload(d))
                for d in self.docs_put.values()]
        for start in range(0, len(docs), BATCH):
            self.client.upsert(self.name, docs[start:start + BATCH], wait=True)
        gone = [points.doc_id(s) for s in self.docs_gone if s not in self.docs]
        if gone:
            self.client.delete(self.name, m.PointIdsList(points=gone), wait=True)

    def abort(self) -> None:
        """Throw the new collection away."""
        try:
            self.client.delete_collection(self.name)
        except Exception:  # noqa: BLE001 - nothing to clean when the collection was never created or is gone
            pass


def _unit_vectors(units: dict[str, list[tuple[str, np.ndarray]]]) -> dict[str, list[list[float]]]:
    """The evidence-unit multivectors of a point: "<set>_units" -> one vector per unit (sets without units left out)."""
    return {name + qc.UNITS_SUFFIX: [np.asarray(v, dtype=np.float32).tolist() for _, v in pairs]
            for name, pairs in units.items() if pairs}
