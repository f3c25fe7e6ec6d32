"""Qdrant points and payloads of the store, and filters as Qdrant conditions.

chunk point  id = vector id (int); payload kind="chunk", chunk_id, text_hash, text, heading (primary), unit_hashes
             (order of the units multivector), locations=[{source, heading, start_line, end_line, start_char,
             end_char, page, folders, tag_paths}] (primary first; folders/tag_paths of the location's note)
note point   id = uuid5(source); payload kind="doc", the manifest row (source, root, sha256, mtime_ns, size, kind,
             pages), text, folder, title, tags
meta point   id = uuid5("meta"); payload kind="meta", fingerprints (dense), roots, next_id, avgdl, counts, previous
"""
from __future__ import annotations

import uuid

from rag.core.types import Chunk, Filters, Location, NoteMeta
from rag.index.qdrant.client import models
from rag.index.store.db import DocRecord, folder_of

_NS = uuid.UUID("6f1c2f4e-5b7a-4f7e-9a51-7c3d0b8e2a11")
META_ID = str(uuid.uuid5(_NS, "meta"))


def doc_id(source: str) -> str:
    """The note point's id."""
    return str(uuid.uuid5(_NS, "doc:" + source))


def location_payload(chunk: Chunk, note: NoteMeta) -> dict:
    """One location of a chunk, with what its note's filters match on."""
    return {"source": chunk.source, "heading": chunk.heading, "start_line": chunk.start_line,
            "end_line": chunk.end_line, "start_char": chunk.start_char, "end_char": chunk.end_char,
            "page": chunk.page, "folders": list(note.folder_paths()), "tag_paths": list(note.tag_paths())}


def chunk_from(payload: dict) -> Chunk:
    """The Chunk of a chunk point (primary location first, the others in extra_locations)."""
    first, *rest = payload["locations"]
    return Chunk(source=first["source"], heading=first["heading"], text=payload["text"],
                 start_line=first["start_line"], end_line=first["end_line"], start_char=first["start_char"],
                 end_char=first["end_char"], chunk_id=payload["chunk_id"], page=first.get("page"),
                 extra_locations=[Location(r["source"], r["start_line"], r["end_line"], r["start_char"],
                                           r["end_char"], r["heading"], r.get("page")) for r in rest])


def doc_payload(doc: DocRecord) -> dict:
    """A note point's payload."""
    return {"kind": "doc", "source": doc.source, "root": doc.root, "sha256": doc.sha256, "mtime_ns": doc.mtime_ns,
            "size": doc.size, "doc_kind": doc.kind, "text": doc.text, "pages": doc.pages or [],
            "folder": folder_of(doc.source), "title": doc.title, "tags": list(doc.tags)}


def doc_from(payload: dict) -> DocRecord:
    """The manifest row of a note point (text included when the payload holds it)."""
    return DocRecord(payload["source"], payload["root"], payload["sha256"], payload["mtime_ns"], payload["size"],
                     payload["doc_kind"], payload.get("text", ""), payload.get("pages"), payload.get("title", ""),
                     tuple(payload.get("tags", ())))


def kind_is(kind: str):
    """Filter: points of one kind."""
    m = models()
    return m.Filter(must=[m.FieldCondition(key="kind", match=m.MatchValue(value=kind))])


def scope(filters: Filters | None, notes: list[NoteMeta]):
    """A Qdrant filter for chunks with a location in a note inside `filters` (None without filters). Folder and
    tags are native payload conditions; the file glob is resolved against the notes to their paths. The conditions
    sit in one nested filter, so they must hold for the same location."""
    if not filters:
        return None
    m = models()
    must = []
    if filters.folder:
        must.append(m.FieldCondition(key="folders", match=m.MatchValue(value=filters.folder)))
    must += [m.FieldCondition(key="tag_paths", match=m.MatchValue(value=t)) for t in filters.tags]
    if filters.file:
        paths = [n.source for n in notes if filters.matches_file(n.source)]
        must.append(m.FieldCondition(key="source", match=m.MatchAny(any=paths or ["\0none"])))
    return m.Filter(must=[m.NestedCondition(nested=m.Nested(key="locations", filter=m.Filter(must=must)))])
