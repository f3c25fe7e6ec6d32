"""Write endpoints behind the API key: POST /ingest and DELETE /notes/{path}."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, HTTPException, Request

from rag.core.errors import IndexBusyError
from serve.schemas import IngestRequest
from serve.services import notes
from serve.services.auth import require_api_key

router = APIRouter(tags=["admin"], dependencies=[Depends(require_api_key)])


async def _exclusive(request: Request, work):
    """Run an index write in a thread, one at a time, then reload the chain and store."""
    runtime = request.app.state.runtime
    if runtime.write_lock.locked():
        raise HTTPException(409, "another index write is running; retry when it finishes",
                            headers={"Retry-After": str(IndexBusyError.retry_after)})
    async with runtime.write_lock:
        result = await asyncio.to_thread(work)
        await asyncio.to_thread(runtime.reload)
    return result


@router.post("/ingest")
async def ingest(request: Request, body: IngestRequest | None = None):
    """Index notes under the notes root (incremental); paths ('sub/note.md', 'sub/') are relative to that root."""
    runtime = request.app.state.runtime
    root = notes.indexed_root(runtime.store, runtime.settings)
    report = await _exclusive(request, lambda: notes.ingest(root, body.paths if body else [], runtime.settings))
    return {**report, "chunks": runtime.store.count() if runtime.store is not None else 0}


@router.delete("/notes/{path:path}")
async def delete_note(path: str, request: Request):
    """Remove one note from the index (the file on disk is not touched)."""
    runtime = request.app.state.runtime
    store = runtime.require_store()
    root = notes.indexed_root(store, runtime.settings)
    notes.resolve_note_path(root, path)
    source = await _exclusive(request, lambda: notes.remove_note(store, root, path, runtime.settings))
    return {"removed": source, "chunks": runtime.store.count() if runtime.store is not None else 0}
