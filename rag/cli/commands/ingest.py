"""`rag ingest PATH... [--index DIR] [--rebuild] [--json] [--watch DIR]`: incremental indexing with a progress bar;
with --watch, the folder is followed and re-ingested after each burst of changes until Ctrl-C."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from rag.core.errors import ConfigError
from rag.core.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `rag ingest`."""
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="note folders or files")
    parser.add_argument("--rebuild", action="store_true", help="discard the index and embed everything again")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object (one per round)")
    parser.add_argument("--watch", type=Path, metavar="DIR",
                        help="ingest DIR, then follow it: new, edited, deleted and renamed notes are re-ingested")


def _watch(folder: Path, settings: Settings, as_json: bool) -> int:
    """Follow `folder` until Ctrl-C (or SIGTERM)."""
    from ingest.pipeline import print_report
    from ingest.watch import watch_and_ingest

    def report(result) -> None:
        print_report(result, as_json=as_json)
        sys.stdout.flush()

    watcher = watch_and_ingest(folder, settings, on_report=report)
    print(f"watching {folder} (Ctrl-C to stop)", file=sys.stderr)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Ingest; exit 0 even when some files failed (they are listed on stderr)."""
    from ingest.pipeline import ingest_paths, print_report

    if not args.paths and args.watch is None:
        raise ConfigError("give the note folders or files to ingest, or --watch DIR")
    if args.watch is not None and not args.watch.is_dir():
        raise ConfigError(f"--watch {args.watch}: not a folder")
    progress = sys.stderr.isatty() or not args.json
    paths = list(args.paths) + ([args.watch] if args.watch is not None else [])
    report = ingest_paths(paths, settings, progress=progress, rebuild=args.rebuild)
    print_report(report, as_json=args.json)
    if args.watch is None:
        return 0
    sys.stdout.flush()
    return _watch(args.watch, settings, args.json)
