"""API-key guard for the write endpoints: constant-time compare, disabled (403) when no key is configured."""
from __future__ import annotations

import hmac

from fastapi import HTTPException, Request


def _presented_key(request: Request) -> str | None:
    """The key from `Authorization: Bearer KEY` or `X-API-Key: KEY`."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key") or None


def keys_match(presented: str, expected: str) -> bool:
    """Constant-time comparison of two keys (bytes, so non-ASCII keys work too)."""
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def require_api_key(request: Request) -> None:
    """FastAPI dependency: 403 when writes are disabled, 401 when the key is missing or wrong."""
    expected = request.app.state.runtime.settings.server.api_key
    if not expected:
        raise HTTPException(403, "write endpoints are disabled: set RAG_API_KEY (settings.server.api_key) "
                                 "on the server to enable POST /ingest and DELETE /notes")
    presented = _presented_key(request)
    if presented is None:
        raise HTTPException(401, "missing API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`",
                            headers={"WWW-Authenticate": "Bearer"})
    if not keys_match(presented, expected):
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})
