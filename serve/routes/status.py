"""GET /status: per file indexed / skipped (why) / failed (error), counts, embedders, model, last ingest."""
from __future__ import annotations

from fastapi import APIRouter, Request

router = APIRouter(tags=["status"])


@router.get("/status")
async def status(request: Request):
    """What got indexed (the live version) and what the last ingests skipped or could not load."""
    from ingest.status import index_status

    runtime = request.app.state.runtime
    model = {"backend": runtime.backend_name(), "llm": runtime.model_name()}
    if runtime.store is None:
        return index_status(runtime.settings.index_path, None, model)
    with runtime.leased() as snapshot:
        return index_status(runtime.settings.index_path, snapshot.store, model)
