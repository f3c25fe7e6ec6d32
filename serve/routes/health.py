"""GET /health: index size, model, backend, queue; no key needed, so nothing in it names a path."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from serve.services.errors import without_paths

router = APIRouter(tags=["health"])
PUBLIC_INDEX_FIELDS = ("model_id", "dim", "chunks", "notes", "index_type", "version", "created", "updated")


def _index_info(store) -> dict | None:
    """The store's info without the ingested roots (absolute paths)."""
    if store is None:
        return None
    info = store.info()
    return {key: info[key] for key in PUBLIC_INDEX_FIELDS if key in info}


@router.get("/health")
async def health(request: Request):
    """200 when the chain and index are loaded, 503 with the reason otherwise."""
    runtime = request.app.state.runtime
    store = runtime.store
    body = {"status": "ok", "backend": getattr(runtime.chain, "backend_name", runtime.settings.answer.backend),
            "model": runtime.model_name(), "index": await asyncio.to_thread(_index_info, store),
            "queue": runtime.queue.stats()}
    if runtime.chain is None or store is None:
        body["status"] = "unavailable"
        body["reason"] = without_paths(str(runtime.load_error or "the chain is not loaded"))
        return JSONResponse(body, status_code=503)
    return body
