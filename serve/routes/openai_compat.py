"""OpenAI-compatible API: POST /v1/chat/completions (plain and streaming) and GET /v1/models."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from serve.schemas import ChatCompletionRequest
from serve.services.answering import collect_answer, stream
from serve.services.openai_format import MODEL_ID, ChunkStream, completion, models_list
from serve.services.sse import sse_data

router = APIRouter(prefix="/v1", tags=["openai"])


@router.post("/chat/completions")
async def chat_completions(body: ChatCompletionRequest, request: Request):
    """Answer the last user message, a follow-up of the earlier ones; the reply cites notes as [n] and lists them
    in `citations`."""
    question = body.question()
    history = body.history()
    job = request.app.state.runtime.submit(question, **({"history": history} if history else {}))
    model = body.model or MODEL_ID
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        chunks = ChunkStream(question, model, include_usage)
        return await stream(request, job, chunks.frames, opening=chunks.opening(), closing=chunks.closing,
                            error_frame=sse_data)
    answer = await collect_answer(request, job)
    return JSONResponse(completion(answer, model))


@router.get("/models")
async def models(request: Request):
    """The one model this server offers."""
    runtime = request.app.state.runtime
    backend = getattr(runtime.chain, "backend_name", runtime.settings.answer.backend)
    return models_list(runtime.model_name(), backend)
