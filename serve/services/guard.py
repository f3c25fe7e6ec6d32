"""ASGI middleware at the edge: a request id on every request and response, and the Host allow-list.

The allow-list stops DNS rebinding: a web page whose name was re-pointed at 127.0.0.1 sends its own name
as Host, which is refused (400) unless listed in settings.server.allowed_hosts (RAG_ALLOWED_HOSTS).
/health answers any Host, so orchestrators' probes by IP keep working; it holds nothing private.
"""
from __future__ import annotations

import json
import uuid

from starlette.types import ASGIApp, Receive, Scope, Send

from serve.services.auth import is_loopback
from serve.services.errors import error_body

REQUEST_ID_HEADER = b"x-request-id"
OPEN_PATHS = frozenset({"/health"})


def host_name(header: str) -> str:
    """The name part of a Host header ('[::1]:8000' -> '::1', 'Example.com:80' -> 'example.com')."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def allowed_host_names(server) -> frozenset[str] | None:
    """Host names accepted besides loopback ones: the configured list and a specific bind address; None: any."""
    names = {n.strip().lower() for n in server.allowed_hosts if n.strip()}
    if "*" in names:
        return None
    if server.host not in ("0.0.0.0", "::", ""):
        names.add(host_name(server.host))
    return frozenset(names)


class EdgeMiddleware:
    """Give each request an id (scope state and X-Request-ID), and refuse a Host that is not allowed with 400."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str] | None):
        self.app = app
        self.allowed = allowed

    def _host_ok(self, scope: Scope) -> bool:
        if self.allowed is None or scope.get("path") in OPEN_PATHS:
            return True
        header = dict(scope.get("headers", [])).get(b"host", b"").decode("latin-1")
        name = host_name(header)
        return bool(name) and (is_loopback(name) or name in self.allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        if not self._host_ok(scope):
            body = json.dumps(error_body(400, "Host header not allowed: add the name this server is reached by to "
                                              "RAG_ALLOWED_HOSTS", request_id=request_id)).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode()),
                                    (REQUEST_ID_HEADER, request_id.encode())]})
            await send({"type": "http.response.body", "body": body})
            return

        async def with_id(message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (REQUEST_ID_HEADER, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_id)
