"""Qdrant clients (one per location per process), the collection schema, versions and the alias swap."""
from __future__ import annotations

import atexit
import threading
import time
import uuid
import warnings
from pathlib import Path

from rag.core.errors import ConfigError

_CLIENTS: dict[tuple, object] = {}
_LOCK = threading.Lock()
SPARSE = "bm25"                   # the sparse vector's name
UNITS_SUFFIX = "_units"           # a dense set's evidence-unit multivector: "<set>_units"
INDEXED = {                       # payload fields filtered on, with their index type
    "kind": "keyword", "chunk_id": "keyword", "text_hash": "keyword", "unit_hashes": "keyword",
    "source": "keyword", "locations[].source": "keyword", "locations[].folders": "keyword",
    "locations[].tag_paths": "keyword",
}


def models():
    """qdrant_client.models, or a ConfigError saying how to install it."""
    try:
        from qdrant_client import models as m
    except ImportError as exc:
        raise ConfigError("the qdrant store needs qdrant-client: pip install 'notes-rag[qdrant]'") from exc
    return m


def location(settings) -> str:
    """Where the data lives: the server URL, else the local-mode folder (':memory:' stays in this process)."""
    q = settings.qdrant
    if q.url:
        return q.url
    return q.path or str(Path(settings.index_dir) / "qdrant")


def client_for(settings):
    """The process's client for settings' location (local mode allows one client per folder)."""
    models()
    from qdrant_client import QdrantClient

    q = settings.qdrant
    key = (q.url, q.api_key, location(settings))
    with _LOCK:
        if key not in _CLIENTS:
            if q.url:
                _CLIENTS[key] = QdrantClient(url=q.url, api_key=q.api_key or None, timeout=int(q.timeout_s))
            elif location(settings) == ":memory:":
                warnings.filterwarnings("ignore", message="Local mode is not recommended", category=UserWarning)
                _CLIENTS[key] = QdrantClient(location=":memory:")
            else:   # local mode's size warning: its limits are documented in docs/scaling.md
                warnings.filterwarnings("ignore", message="Local mode is not recommended", category=UserWarning)
                Path(location(settings)).mkdir(parents=True, exist_ok=True)
                try:
                    _CLIENTS[key] = QdrantClient(path=location(settings))
                except RuntimeError as exc:   # portalocker: another process holds the local-mode folder
                    raise ConfigError(f"Qdrant local mode at {location(settings)} is open in another process ({exc}); "
                                      f"local mode serves one process: use a Qdrant server (RAG_QDRANT_URL) to share "
                                      f"it") from exc
        return _CLIENTS[key]


@atexit.register
def close_all() -> None:
    """Close every client (local mode flushes and releases its folder) before interpreter teardown."""
    with _LOCK:
        for client in _CLIENTS.values():
            client.close()
        _CLIENTS.clear()


def search_params(server: bool, hnsw_ef: int, exact: bool = False):
    """SearchParams on a server; None in local mode (it always searches exactly)."""
    return models().SearchParams(hnsw_ef=hnsw_ef, exact=exact) if server else None


def alias_target(client, alias: str) -> str | None:
    """The collection an alias points at, or None."""
    for a in client.get_aliases().aliases:
        if a.alias_name == alias:
            return a.collection_name
    return None


def new_collection_name(alias: str) -> str:
    """A fresh version collection name: <alias>-v<UTC time>-<8 hex>."""
    return f"{alias}-v{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"


def versions(client, alias: str) -> list[str]:
    """Every version collection of this alias (live, previous, or left by an interrupted write)."""
    return sorted(c.name for c in client.get_collections().collections if c.name.startswith(f"{alias}-v"))


def create(client, name: str, dense: dict[str, int], server: bool, on_disk: bool = False) -> None:
    """A version collection: per dense set a cosine vector and its evidence-unit multivector (no HNSW graph: only
    looked up, never searched), the BM25 sparse vector with the IDF modifier, and on a server the payload indexes
    (local mode has none: it scans)."""
    m = models()
    vectors = {}
    for set_name, dim in dense.items():
        vectors[set_name] = m.VectorParams(size=dim, distance=m.Distance.COSINE, on_disk=on_disk)
        vectors[set_name + UNITS_SUFFIX] = m.VectorParams(
            size=dim, distance=m.Distance.COSINE, on_disk=True, hnsw_config=m.HnswConfigDiff(m=0),
            multivector_config=m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM))
    client.create_collection(name, vectors_config=vectors,
                             sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)})
    for field, kind in INDEXED.items() if server else ():
        client.create_payload_index(name, field, field_schema=kind)


def swap_alias(client, alias: str, collection: str) -> None:
    """Point the alias at `collection` in one atomic operation (readers see the old or the new version)."""
    m = models()
    ops = [m.CreateAliasOperation(create_alias=m.CreateAlias(collection_name=collection, alias_name=alias))]
    if alias_target(client, alias) is not None:
        ops.insert(0, m.DeleteAliasOperation(delete_alias=m.DeleteAlias(alias_name=alias)))
    client.update_collection_aliases(change_aliases_operations=ops)
