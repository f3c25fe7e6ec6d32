"""`rag ingest PATH... [--index DIR] [--rebuild] [--json]`: incremental indexing with a progress bar."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rag.core.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `rag ingest`."""
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="note folders or files")
    parser.add_argument("--rebuild", action="store_true", help="discard the index and embed everything again")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Ingest; exit 0 even when some files failed (they are listed on stderr)."""
    from ingest.pipeline import ingest_paths, print_report

    report = ingest_paths(args.paths, settings, progress=sys.stderr.isatty() or not args.json, rebuild=args.rebuild)
    print_report(report, as_json=args.json)
    return 0
