"""API keys: writes always need RAG_API_KEY; reads need it too when the server binds beyond loopback or
RAG_AUTH=all, and such a server refuses to start without a key unless --insecure-no-auth."""
from __future__ import annotations

import hmac
import ipaddress

from fastapi import HTTPException, Request

from rag.core.errors import ConfigError

AUTH_MODES = ("auto", "all")


def is_loopback(host: str) -> bool:
    """Whether a bind address or Host name stays on this machine (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def reads_need_key(server) -> bool:
    """Every endpoint but /health needs the key: RAG_AUTH=all, or bound beyond loopback without --insecure-no-auth."""
    return server.auth == "all" or (not is_loopback(server.host) and not server.insecure_no_auth)


def check_startup(server) -> None:
    """ConfigError (the server must not start) when it would serve notes to the network without a key."""
    if server.auth not in AUTH_MODES:
        raise ConfigError(f"RAG_AUTH={server.auth!r}: use one of {', '.join(AUTH_MODES)}")
    if server.api_key or not reads_need_key(server):
        return
    if server.auth == "all":
        raise ConfigError("RAG_AUTH=all needs an API key: set RAG_API_KEY (clients send `Authorization: Bearer KEY`)")
    raise ConfigError(f"refusing to serve on {server.host} without an API key: anyone who can reach the port could "
                      "read your notes. Set RAG_API_KEY (clients send `Authorization: Bearer KEY`), bind 127.0.0.1, "
                      "or pass --insecure-no-auth to serve without one")


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


def _check_key(request: Request, expected: str) -> None:
    """401 when the presented key is missing or wrong."""
    presented = _presented_key(request)
    if presented is None:
        raise HTTPException(401, "missing API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`",
                            headers={"WWW-Authenticate": "Bearer"})
    if not keys_match(presented, expected):
        raise HTTPException(401, "invalid API key", headers={"WWW-Authenticate": "Bearer"})


def require_api_key(request: Request) -> None:
    """FastAPI dependency of the write endpoints: 403 when writes are disabled, 401 for a missing or wrong key."""
    expected = request.app.state.runtime.settings.server.api_key
    if not expected:
        raise HTTPException(403, "write endpoints are disabled: set RAG_API_KEY (settings.server.api_key) "
                                 "on the server to enable POST /ingest and DELETE /notes")
    _check_key(request, expected)


def require_read_key(request: Request) -> None:
    """FastAPI dependency of the read endpoints: the key is checked only where reads need it (reads_need_key)."""
    server = request.app.state.runtime.settings.server
    if reads_need_key(server):
        _check_key(request, server.api_key)
