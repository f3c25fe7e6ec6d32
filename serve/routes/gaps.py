"""GET /gaps: the questions the notes could not answer, grouped by topic (the page's "not in your notes" link)."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

router = APIRouter(tags=["gaps"])


def _grouped(index_dir) -> dict:
    from rag.answer.gaps import GAPS_FILE, GapLog, topics
    from rag.index.embed import Embedder

    entries = GapLog(index_dir / GAPS_FILE).entries()
    grouped = topics(entries, Embedder.load().encode) if entries else []
    return {"refused": len(entries), "topics": grouped}


@router.get("/gaps")
async def gaps(request: Request):
    """Refused questions by topic, each with the notes found closest: what to write next."""
    return await asyncio.to_thread(_grouped, request.app.state.runtime.settings.index_path)
