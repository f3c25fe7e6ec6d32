"""What got indexed: each ingest's skipped and failed files kept in the index folder (INGEST.json), and the status
of an index (`rag status`, GET /status): per file indexed / skipped (why) / failed (error), counts, embedders,
the answer model and the last ingest.

INGEST.json holds, per ingested root folder, the files the last scan of that folder skipped or could not load, and
a summary of the last ingest. A folder scanned again replaces its lists; an ingest of single files updates only
their entries. It is written atomically (temp file + rename) under the ingest lock.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

STATUS_FILE = "INGEST.json"


def _empty() -> dict:
    return {"roots": {}, "last_ingest": None}


def read_outcomes(index_dir: Path) -> dict:
    """The recorded outcomes ({"roots": {root: {"skipped": {source: why}, "failed": {source: error}}},
    "last_ingest": {...}}); empty when no ingest recorded any (or the file is unreadable)."""
    try:
        data = json.loads((Path(index_dir) / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _empty()
    if not isinstance(data, dict) or not isinstance(data.get("roots"), dict):
        return _empty()
    return data


def _root_of(path: Path) -> Path:
    return (path if path.is_dir() else path.parent).resolve()


def record_outcome(index_dir: Path, paths: list[Path], report) -> None:
    """Merge one ingest's skipped and failed files and its summary into INGEST.json (call under the ingest lock)."""
    index_dir = Path(index_dir)
    data = read_outcomes(index_dir)
    roots = {}
    for path in paths:
        root = _root_of(Path(path))
        entry = data["roots"].setdefault(str(root), {"skipped": {}, "failed": {}})
        if Path(path).is_dir():
            entry["skipped"], entry["failed"] = {}, {}
        else:
            source = Path(path).resolve().relative_to(root).as_posix()
            entry["skipped"].pop(source, None)
            entry["failed"].pop(source, None)
        roots[str(root)] = (root, entry)
    for kind, items in (("skipped", report.skipped), ("failed", report.errors)):
        for source, why in items:
            for root, entry in roots.values():
                if (root / source).exists() or len(roots) == 1:
                    entry[kind][source] = why
    data["last_ingest"] = {
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": round(report.seconds, 3),
        "paths": [str(Path(p).resolve()) for p in paths], "added": len(report.added), "updated": len(report.updated),
        "removed": len(report.removed), "unchanged": len(report.unchanged), "skipped": len(report.skipped),
        "failed": len(report.errors), "chunks_embedded": report.chunks_embedded, "chunks_total": report.chunks_total}
    index_dir.mkdir(parents=True, exist_ok=True)
    temp = index_dir / f"{STATUS_FILE}.{os.getpid()}.tmp"
    temp.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(temp, index_dir / STATUS_FILE)


def index_status(index_dir: Path, store=None, model: dict | None = None) -> dict:
    """The status JSON of an index: `store` is the open reader of its live version (None when there is none),
    `model` the answer backend and model."""
    outcomes = read_outcomes(index_dir)
    files = []
    if store is not None:
        files = [{"source": n.source, "state": "indexed", "folder": n.folder, "title": n.title, "tags": list(n.tags)}
                 for n in store.notes()]
    for root, entry in sorted(outcomes["roots"].items()):
        files += [{"source": s, "state": "skipped", "reason": why, "root": root}
                  for s, why in sorted(entry.get("skipped", {}).items())]
        files += [{"source": s, "state": "failed", "error": why, "root": root}
                  for s, why in sorted(entry.get("failed", {}).items())]
    counts = {state: sum(f["state"] == state for f in files) for state in ("indexed", "skipped", "failed")}
    info = store.info() if store is not None else {}
    return {"index_dir": str(index_dir), "exists": store is not None,
            "store": info.get("store"), "version": info.get("version"), "created": info.get("created"),
            "updated": info.get("updated"), "chunks": info.get("chunks", 0), "notes": info.get("notes", 0),
            "embedders": [{"name": name, **spec} for name, spec in info.get("dense", {}).items()],
            "model": model or {}, "last_ingest": outcomes.get("last_ingest"), "counts": counts, "files": files}


def print_status(status: dict, out) -> None:
    """The status as text: a summary, then one line per file that was not indexed and the indexed ones."""
    last = status["last_ingest"] or {}
    c = status["counts"]
    print(f"index {status['index_dir']} ({status['store'] or 'none'}, version {status['version'] or '-'}): "
          f"{status['notes']} notes, {status['chunks']} passages", file=out)
    for e in status["embedders"]:
        print(f"embedder {e['name']}: {e['model_id']} ({e['dim']} dims)", file=out)
    if status["model"]:
        print("answers: " + ", ".join(f"{k} {v}" for k, v in status["model"].items() if v), file=out)
    if last:
        print(f"last ingest {last['finished']} ({last['seconds']:.1f} s): {last['added']} added, "
              f"{last['updated']} updated, {last['removed']} removed, {last['unchanged']} unchanged", file=out)
    print(f"files: {c['indexed']} indexed, {c['skipped']} skipped, {c['failed']} failed", file=out)
    for f in status["files"]:
        if f["state"] == "indexed":
            tags = f" #{' #'.join(f['tags'])}" if f["tags"] else ""
            print(f"  indexed  {f['source']}{tags}", file=out)
        else:
            print(f"  {f['state']:<8} {f['source']}: {f.get('reason') or f.get('error')}", file=out)
