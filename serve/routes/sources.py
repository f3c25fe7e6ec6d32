"""GET /sources/{chunk_id}: a passage with its file, heading, lines and the note's own text of that span."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Path, Request

from rag.core.errors import NotFoundError
from serve.schemas import CHUNK_ID_PATTERN, SourceOut

router = APIRouter(tags=["sources"])


def _original(store, chunk) -> str | None:
    """The note's own text of the chunk's span (sliced in the store), when the store keeps the document."""
    try:
        return store.document_slice(chunk.source, chunk.start_char, chunk.end_char) or None
    except NotFoundError:
        return None


def _source(store, chunk_id: str) -> SourceOut:
    """The passage and its original text (blocking store reads: run in a thread)."""
    chunk = store.get_chunk(chunk_id)
    return SourceOut(chunk_id=chunk.chunk_id or chunk_id, source=chunk.source, heading=chunk.heading,
                     start_line=chunk.start_line, end_line=chunk.end_line, start_char=chunk.start_char,
                     end_char=chunk.end_char, page=chunk.page, text=chunk.text, original=_original(store, chunk))


@router.get("/sources/{chunk_id}", response_model=SourceOut)
async def source(request: Request, chunk_id: str = Path(pattern=CHUNK_ID_PATTERN, description="hex chunk id")):
    """The passage a citation points at."""
    store = request.app.state.runtime.require_store()
    return await asyncio.to_thread(_source, store, chunk_id)
