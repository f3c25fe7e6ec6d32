"""FastAPI application factory: `create_app(settings, chain=None, store=None)`; models load once in the lifespan.

Refuses (ConfigError) to build a server that would show notes to the network without an API key.
"""
from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from rag.core.settings import Settings
from serve.routes import admin, chat, health, openai_compat, sources
from serve.services.auth import check_startup, require_read_key
from serve.services.errors import install_error_handlers
from serve.services.guard import EdgeMiddleware, allowed_host_names
from serve.services.limits import BodyLimitMiddleware
from serve.services.runtime import Runtime

STATIC = Path(__file__).resolve().parent / "static"
log = logging.getLogger("serve")


def create_app(settings: Settings, chain=None, store=None) -> FastAPI:
    """The service; inject `chain` (an AnswerChain or anything with stream_events) and `store` in tests."""
    check_startup(settings.server)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runtime = Runtime(settings, chain=chain, store=store)
        await asyncio.to_thread(runtime.load)
        app.state.runtime = runtime
        log.info("notes-rag ready: backend=%s", getattr(runtime.chain, "backend_name", None))
        try:
            yield
        finally:
            runtime.close()

    app = FastAPI(title="notes-rag", version="0.1.0", lifespan=lifespan,
                  description="Answers questions from your ML notes, citing the passages it used.")
    install_error_handlers(app)
    for module in (chat, openai_compat, sources):
        app.include_router(module.router, dependencies=[Depends(require_read_key)])
    for module in (health, admin):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    if settings.server.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.server.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "X-API-Key"])
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.server.max_body_bytes)
    app.add_middleware(EdgeMiddleware, allowed=allowed_host_names(settings.server))
    return app
