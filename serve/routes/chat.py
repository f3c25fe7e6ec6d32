"""POST /chat: the answer JSON, or SSE events token, citation, done."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from rag.core.types import AnswerJSON
from serve.schemas import ChatRequest
from serve.services.answering import collect_answer, stream
from serve.services.sse import sse_event

router = APIRouter(tags=["chat"])


def chat_frames(kind: str, payload: Any) -> list[str]:
    """SSE frames for one chain event."""
    if kind == "token":
        return [sse_event("token", {"text": payload})]
    if kind == "citation":
        return [sse_event("citation", payload.to_dict())]
    if kind == "done":
        return [sse_event("done", payload.to_dict())]
    return []


@router.post("/chat", response_model=AnswerJSON, responses={200: {"content": {"text/event-stream": {}}}})
async def chat(body: ChatRequest, request: Request):
    """Answer a question from the notes, with citations; `history` makes it a follow-up, `filters` scope it."""
    job = request.app.state.runtime.submit(body.question, **body.options())
    if body.stream:
        return await stream(request, job, chat_frames, opening=[], closing=list,
                            error_frame=lambda err: sse_event("error", err))
    answer = await collect_answer(request, job)
    return JSONResponse(answer.to_dict())
