"""Server-sent events framing for /chat and the OpenAI-compatible stream."""
from __future__ import annotations

import json
from typing import Any

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def sse_event(event: str, data: Any) -> str:
    """One named SSE event whose data is a single JSON line."""
    return f"event: {event}\ndata: {_json(data)}\n\n"


def sse_data(data: Any) -> str:
    """One unnamed SSE message (the OpenAI stream format); strings are sent verbatim."""
    payload = data if isinstance(data, str) else _json(data)
    return f"data: {payload}\n\n"
