"""Turn a queued generation into a response: one JSON answer, or a stream whose frames a formatter writes."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import StreamingResponse

from rag.core.errors import RagError
from serve.services.errors import error_body, public_message, rag_error_status, request_id
from serve.services.generation import Job
from serve.services.sse import SSE_HEADERS

log = logging.getLogger("serve")
T = TypeVar("T")
POLL_S = 0.25

Frames = Callable[[str, Any], list[str]]


class ClientGoneError(RagError):
    """The client closed the connection before the answer was ready (nginx's 499)."""

    http_status = 499


async def until_done_or_disconnect(request: Request, job: Job, awaitable: Awaitable[T]) -> T:
    """Await `awaitable`; if the client disconnects first, cancel the generation and raise ClientGoneError."""
    task = asyncio.ensure_future(awaitable)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=POLL_S)
            if done:
                return task.result()
            if await request.is_disconnected():
                raise ClientGoneError("client disconnected")
    finally:
        if not task.done():
            task.cancel()
            job.cancel()


async def _collect(job: Job):
    answer = None
    async for kind, payload in job.events():
        if kind == "done":
            answer = payload
    if answer is None:
        raise RagError("the chain ended without an answer")
    return answer


async def collect_answer(request: Request, job: Job):
    """The chain's final Answer (the `done` event)."""
    return await until_done_or_disconnect(request, job, _collect(job))


async def _first(events: AsyncIterator) -> tuple[str, Any] | None:
    return await anext(events, None)


async def stream(request: Request, job: Job, frames: Frames, opening: list[str], closing: Callable[[], list[str]],
                 error_frame: Callable[[dict], str], media_type: str = "text/event-stream") -> StreamingResponse:
    """A streaming response; errors before the first event become a normal HTTP error (raised here)."""
    events = job.events()
    first = await until_done_or_disconnect(request, job, _first(events))

    async def body() -> AsyncIterator[str]:
        try:
            for frame in opening:
                yield frame
            if first is not None:
                for frame in frames(*first):
                    yield frame
                async for event in events:
                    for frame in frames(*event):
                        yield frame
            for frame in closing():
                yield frame
        except Exception as exc:  # noqa: BLE001 - headers are sent: report in-band, log server-side
            status = rag_error_status(exc)[0] if isinstance(exc, RagError) else 500
            rid = request_id(request)
            if status >= 500:
                log.error("[%s] stream for %s failed: %s", rid, request.url.path, exc, exc_info=exc)
            yield error_frame(error_body(status, public_message(exc, rid), request_id=rid))
        finally:
            job.cancel()
            await events.aclose()

    return StreamingResponse(body(), media_type=media_type, headers=SSE_HEADERS)
