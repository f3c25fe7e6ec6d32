"""`rag serve [--host 127.0.0.1] [--port 8000] [--backend ...]`: run the HTTP service with uvicorn."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import get_args

from rag.core.settings import Backend, override


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `rag serve`; the API key comes from RAG_API_KEY only (never the command line)."""
    parser.add_argument("--host", default=None, help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default 8000)")
    parser.add_argument("--backend", choices=get_args(Backend), default=None,
                        help="answer backend (default: $RAG_BACKEND, else local)")
    parser.add_argument("--workers", type=int, default=None, help="generations running at once (default 1)")
    parser.add_argument("--max-queue", type=int, default=None,
                        help="generations waiting or running before 429 (default 8)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--insecure-no-auth", action="store_true",
                        help="serve beyond loopback without RAG_API_KEY (anyone who reaches the port reads the notes)")


def run(args: argparse.Namespace, settings) -> int:
    """Start uvicorn on the configured host and port."""
    import uvicorn

    from ingest.pipeline import ensure_index
    from serve.app import create_app
    from serve.services.auth import check_startup, is_loopback, reads_need_key

    flags = {"host": args.host, "port": args.port, "workers": args.workers, "max_queue": args.max_queue,
             "insecure_no_auth": args.insecure_no_auth or None}
    server = {k: v for k, v in flags.items() if v is not None}
    changes = {"server": server} if server else {}
    if args.backend:
        changes["answer"] = {"backend": args.backend}
    settings = override(settings, changes) if changes else settings
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    check_startup(settings.server)
    ensure_index(settings, progress=True)  # without notes either, it serves 503 until POST /ingest
    if not is_loopback(settings.server.host) and not reads_need_key(settings.server):
        print(f"warning: serving {settings.server.host} without an API key (--insecure-no-auth): anyone who can "
              "reach the port can read the notes", file=sys.stderr)
    uvicorn.run(create_app(settings), host=settings.server.host, port=settings.server.port,
                log_level=args.log_level, timeout_graceful_shutdown=5)
    return 0

