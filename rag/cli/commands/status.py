"""`rag status [--json]`: what got indexed, skipped (why) and failed (error); counts, embedders, model, last ingest."""
from __future__ import annotations

import argparse
import json
import sys

from rag.core.errors import IndexNotFoundError
from rag.core.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `rag status`."""
    parser.add_argument("--json", action="store_true", help="print the status JSON (GET /status gives the same)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the status of the index; exit 0 even when there is no index yet (it says so)."""
    from ingest.status import index_status, print_status
    from rag.core.resources import answer_model
    from rag.index.store import open_store

    try:
        store = open_store(settings)
    except IndexNotFoundError:
        store = None
    backend = settings.answer.backend
    status = index_status(settings.index_path, store, {"backend": backend, "llm": answer_model(settings, backend)})
    if args.json:
        print(json.dumps(status, ensure_ascii=False))
    else:
        print_status(status, sys.stdout)
    if store is not None:
        store.close()
    return 0
