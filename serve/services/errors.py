"""Error bodies and exception handlers: RagError -> its http_status, validation -> 422, the rest -> generic 500."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.core.errors import RagError

log = logging.getLogger("serve")

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
          404: "not_found_error", 409: "conflict_error", 413: "request_too_large", 422: "invalid_request_error",
          429: "rate_limit_error", 502: "backend_error", 503: "unavailable_error", 504: "timeout_error"}


def error_body(status: int, message: str, param: str | None = None) -> dict:
    """OpenAI-style error JSON, used by every endpoint so one client parser handles them all."""
    return {"error": {"message": message, "type": _TYPES.get(status, "server_error"), "param": param,
                      "code": status}}


def error_response(status: int, message: str, param: str | None = None, headers: dict | None = None) -> JSONResponse:
    """A JSON error response."""
    return JSONResponse(error_body(status, message, param), status_code=status, headers=headers)


def rag_error_status(exc: RagError) -> tuple[int, dict | None]:
    """HTTP status and extra headers for a RagError."""
    retry_after = getattr(exc, "retry_after", None)
    return exc.http_status, ({"Retry-After": str(retry_after)} if retry_after else None)


def public_message(exc: Exception) -> str:
    """What a client may see about an error: the message of deliberate errors, nothing of the others."""
    if isinstance(exc, RagError) and (exc.http_status < 500 or exc.http_status in (502, 503, 504)):
        return str(exc)
    return "internal server error (logged on the server)"


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
    return error_response(422, message, param=field)


async def _rag(request: Request, exc: RagError) -> JSONResponse:
    status, headers = rag_error_status(exc)
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, exc, exc_info=exc)
    return error_response(status, public_message(exc), headers=headers)


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s crashed", request.method, request.url.path, exc_info=exc)
    return error_response(500, public_message(exc))


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler on the app."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(RagError, _rag)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
