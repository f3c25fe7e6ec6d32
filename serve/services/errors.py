"""Error bodies and exception handlers: RagError -> its http_status, validation -> 422, the rest -> generic 500.

Every error body carries the request id; what a client reads never holds an absolute path or the text of an
upstream or unexpected exception (those go to the server log under the same request id).
"""
from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.core.errors import RagError

log = logging.getLogger("serve")

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 409: "conflict_error", 413: "request_too_large", 422: "invalid_request_error",
          429: "rate_limit_error", 502: "backend_error", 503: "unavailable_error", 504: "timeout_error"}


_ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])(?:/[^\s/'\"`]+){2,}/?")
_GENERIC = {500: "internal server error", 502: "the LLM backend failed"}


def error_body(status: int, message: str, param: str | None = None, request_id: str | None = None) -> dict:
    """OpenAI-style error JSON, used by every endpoint so one client parser handles them all."""
    return {"error": {"message": message, "type": _TYPES.get(status, "server_error"), "param": param,
                      "code": status, "request_id": request_id}}


def request_id(request: Request) -> str | None:
    """The id EdgeMiddleware gave this request."""
    return getattr(request.state, "request_id", None)


def error_response(request: Request, status: int, message: str, param: str | None = None,
                   headers: dict | None = None) -> JSONResponse:
    """A JSON error response carrying the request id."""
    return JSONResponse(error_body(status, message, param, request_id(request)), status_code=status, headers=headers)


def without_paths(text: str) -> str:
    """Absolute filesystem paths in a message replaced by '<path>'."""
    return _ABSOLUTE_PATH.sub("<path>", text)


def rag_error_status(exc: RagError) -> tuple[int, dict | None]:
    """HTTP status and extra headers for a RagError."""
    retry_after = getattr(exc, "retry_after", None)
    return exc.http_status, ({"Retry-After": str(retry_after)} if retry_after else None)


def public_message(exc: Exception, rid: str | None = None) -> str:
    """What a client may see: a deliberate error's message without paths; for the rest only the request id."""
    status = exc.http_status if isinstance(exc, RagError) else 500
    if status in _GENERIC or not isinstance(exc, RagError):
        return f"{_GENERIC.get(status, _GENERIC[500])} (request id {rid}; details in the server log)"
    return without_paths(str(exc))


def _field(loc: tuple | list) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _describe(error: dict) -> str:
    if error.get("type") == "json_invalid":
        return f"body: malformed JSON ({error.get('ctx', {}).get('error', 'decode error')})"
    return f"{_field(error.get('loc', ()))}: {error.get('msg', 'invalid')}"


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
    field = "body" if first.get("type") == "json_invalid" else _field(first.get("loc", ()))
    message = "; ".join(f"{_describe(e)}" for e in errors[:5])
    return error_response(request, 422, message, param=field)


async def _rag(request: Request, exc: RagError) -> JSONResponse:
    status, headers = rag_error_status(exc)
    if status >= 500:
        log.error("[%s] %s %s failed: %s", request_id(request), request.method, request.url.path, exc, exc_info=exc)
    return error_response(request, status, public_message(exc, request_id(request)), headers=headers)


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = without_paths(exc.detail) if isinstance(exc.detail, str) else "request refused"
    return error_response(request, exc.status_code, message, headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("[%s] %s %s crashed", request_id(request), request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, public_message(exc, request_id(request)))


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler on the app."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(RagError, _rag)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
