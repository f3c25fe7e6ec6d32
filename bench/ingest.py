"""Ingest benchmark: full ingest of a notes folder, then re-ingest of the unchanged corpus (nothing embedded).

  python bench/ingest.py [--notes ../shared/notes] [--json]

The peer of an incremental re-ingest is a full rebuild (what a non-incremental indexer does every time):
the ratio says how much the content hashes save. The CLI figure is a fresh `rag ingest` process (imports
included), the in-process figure the pipeline alone.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.pipeline import ingest_paths  # noqa: E402
from rag.core.settings import load_settings  # noqa: E402


def run(notes: Path, index_dir: Path) -> dict:
    """Time model load, full ingest, in-process re-ingest and CLI re-ingest."""
    from rag.index.embed import Embedder

    settings = load_settings(index_dir=str(index_dir))
    t0 = time.perf_counter()
    Embedder.load()
    load_s = time.perf_counter() - t0
    full = ingest_paths([notes], settings, progress=False, rebuild=True)
    again = ingest_paths([notes], settings, progress=False)
    t0 = time.perf_counter()
    cli = subprocess.run([sys.executable, "-m", "rag.cli", "ingest", str(notes), "--index", str(index_dir), "--json"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    cli_s = time.perf_counter() - t0
    cli_report = json.loads(cli.stdout)
    return {"notes": len(full.added), "chunks": full.chunks_total, "model_load_s": round(load_s, 2),
            "full_ingest_s": round(full.seconds, 2), "chunks_per_s": round(full.chunks_embedded / full.seconds, 1),
            "reingest_s": round(again.seconds, 4), "reingest_embedded": again.chunks_embedded,
            "reingest_cli_s": round(cli_s, 3), "reingest_cli_embedded": cli_report["chunks_embedded"],
            "errors": full.errors}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notes", type=Path, default=ROOT.parent / "shared" / "notes")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        r = run(args.notes, Path(tmp) / "index")
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"corpus {args.notes}: {r['notes']} notes, {r['chunks']} chunks; "
          f"embedder load {r['model_load_s']} s (not counted below)")
    print(f"full ingest       {r['full_ingest_s']:8.2f} s  ({r['chunks_per_s']} chunks/s embedded)")
    print(f"re-ingest (same)  {r['reingest_s']:8.4f} s  in-process, {r['reingest_embedded']} embedded "
          f"(full/re-ingest {r['full_ingest_s'] / max(r['reingest_s'], 1e-6):.0f}x)")
    print(f"re-ingest (CLI)   {r['reingest_cli_s']:8.3f} s  fresh `rag ingest` process, "
          f"{r['reingest_cli_embedded']} embedded "
          f"(goal < 1 s; full/CLI {r['full_ingest_s'] / r['reingest_cli_s']:.0f}x)")
    for source, reason in r["errors"]:
        print(f"error {source}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
