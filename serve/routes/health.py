"""GET /health: index size, model, backend, queue; no key needed, so nothing in it names a path.

It touches no store: the index figures are read once when the index is (re)loaded (Runtime.index_info), so
a burst of other requests holding the store never delays a health probe.
"""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from serve.services.errors import without_paths

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(request: Request):
    """200 when the chain and index are loaded, 503 with the reason otherwise."""
    runtime = request.app.state.runtime
    body = {"status": "ok", "backend": getattr(runtime.chain, "backend_name", runtime.settings.answer.backend),
            "model": runtime.model_name(), "index": runtime.index_info, "queue": runtime.queue.stats()}
    if runtime.chain is None or runtime.store is None:
        body["status"] = "unavailable"
        body["reason"] = without_paths(str(runtime.load_error or "the chain is not loaded"))
        return JSONResponse(body, status_code=503)
    return body
