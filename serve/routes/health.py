"""GET /health: index size, model, backend, queue."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(request: Request):
    """200 when the chain and index are loaded, 503 with the reason otherwise."""
    runtime = request.app.state.runtime
    body = {"status": "ok", "backend": getattr(runtime.chain, "backend_name", runtime.settings.answer.backend),
            "model": runtime.model_name(), "index": None, "queue": runtime.queue.stats()}
    if runtime.store is not None:
        body["index"] = runtime.store.info()
    if runtime.chain is None or runtime.store is None:
        body["status"] = "unavailable"
        body["reason"] = str(runtime.load_error or "the chain is not loaded")
        return JSONResponse(body, status_code=503)
    return body
