"""Bounded soak of `rag serve`: /chat, /sources of a 50 MB note and /health from many clients at once.

  python bench/soak.py [--requests 200] [--concurrency 20] [--note-mb 50] [--backend extractive] [--json]

The index holds examples/notes (ingested as usual) and one large note written straight through IndexWriter:
its text is `--note-mb` MB, with a few chunks spread over it up to its end (chunking and embedding 50 MB on
two cores would take the run's whole budget and measure ingest, not serving). A real `rag serve` runs in a
subprocess on 127.0.0.1; `concurrency` closed-loop httpx clients send `requests` requests in a fixed mix:
2 in 10 POST /chat, 4 in 10 GET /sources/{a chunk of the large note}, 4 in 10 GET /health (a 429 from the
generation queue is honoured with its Retry-After, capped at 1 s). Reported: status counts, 5xx, latency
p50/p95 per endpoint, the server's RSS at start, middle and end.

Peers in the same run: /health p95 on the idle server before the load (the ratio shows what the load costs a
health probe), and in process the store's document_slice of the large note's last chunk against SQLite's
substr and against loading the whole note and slicing it in Python (what /sources did before).
"""
from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eval.latency import percentile  # noqa: E402
from rag.core.settings import load_settings  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_serve", ROOT / "bench" / "serve.py")
bench_serve = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_serve)

BIG_SOURCE = "big/huge-note.md"
PARAGRAPH = ("Stochastic gradient descent updates the weights against the gradient of the loss on a mini-batch; "
             "momentum keeps a running average of past gradients so that noisy directions cancel out. "
             "Con il momento la discesa del gradiente è più stabile.\n\n")
MIX = ["chat", "chat", "sources", "sources", "sources", "sources", "health", "health", "health", "health"]


def build_index(index: Path, note_mb: int, chunks: int = 16) -> list[str]:
    """examples/notes plus a `note_mb` MB note with `chunks` chunks spread to its end; returns their ids."""
    import numpy as np

    from ingest.pipeline import ingest_paths
    from rag.core.types import Chunk
    from rag.index.embed import Embedder
    from rag.index.store import DocRecord, IndexLock, IndexStore, IndexWriter, text_hash

    settings = load_settings(env={}, index_dir=str(index))
    ingest_paths([ROOT / "examples" / "notes"], settings, progress=False)
    text = PARAGRAPH * (note_mb * 2**20 // len(PARAGRAPH))
    embedder = Embedder.load()
    spans = []
    for i in range(chunks):
        start = (len(text) - len(PARAGRAPH)) * i // (chunks - 1)
        start -= start % len(PARAGRAPH)
        span = f"{PARAGRAPH.strip()} (part {i})"
        text = text[:start] + span + text[start + len(span):]
        spans.append((start, span))
    others = {name: Embedder.load_named(name) for name in settings.retrieval.embedders if name != "minilm"}
    with IndexLock(index):
        writer = IndexWriter(index, embedder.model_id, embedder.dim, settings.retrieval,
                             other_sets=[(name, e.model_id, e.dim) for name, e in others.items()])
        vectors = dict(zip((text_hash(s) for _, s in spans), embedder.encode([s for _, s in spans])))
        units = {h: [(h, v)] for h, v in vectors.items()}
        other_vectors = {name: dict(zip(vectors, e.encode([s for _, s in spans]))) for name, e in others.items()}
        doc = DocRecord(BIG_SOURCE, str(ROOT), "synthetic", 0, len(text), "markdown", text, [])
        chunk_list = [Chunk(BIG_SOURCE, "Huge note", s, 1 + text.count("\n", 0, a), 1 + text.count("\n", 0, a),
                            a, a + len(s)) for a, s in spans]
        writer.put_document(doc, chunk_list, vectors, units, other_sets=other_vectors)
        writer.commit()
    store = IndexStore.open(index)
    try:
        ids = [r[0] for r in store.conn.execute(
            "SELECT c.chunk_id FROM chunks c JOIN locations l ON l.chunk = c.id WHERE l.source = ?", (BIG_SOURCE,))]
    finally:
        store.close()
    assert len(ids) == chunks and np.isfinite(list(vectors.values())).all()
    return ids


def slice_peer(index: Path, repeats: int = 5) -> dict:
    """Median seconds to cut the large note's last chunk: the store's document_slice (BLOB read from a checkpoint),
    SQLite's substr, and loading the whole note to slice it in Python (what /sources did before)."""
    from rag.index.store import IndexStore

    store = IndexStore.open(index)
    try:
        start, end = store.conn.execute(
            "SELECT start_char, end_char FROM locations WHERE source = ? ORDER BY start_char DESC LIMIT 1",
            (BIG_SOURCE,)).fetchone()
        timings = defaultdict(list)
        ways = {"document_slice_s": lambda: store.document_slice(BIG_SOURCE, start, end),
                "substr_s": lambda: store.conn.execute("SELECT substr(text, ?, ?) FROM documents WHERE source = ?",
                                                       (start + 1, end - start, BIG_SOURCE)).fetchone()[0],
                "whole_note_s": lambda: store.document_text(BIG_SOURCE)[start:end]}
        for _ in range(repeats):
            cuts = set()
            for name, cut in ways.items():
                t0 = time.perf_counter()
                cuts.add(cut())
                timings[name].append(time.perf_counter() - t0)
            assert len(cuts) == 1
    finally:
        store.close()
    out = {k: percentile(v, 50) for k, v in timings.items()}
    out["ratio_whole_over_document_slice"] = out["whole_note_s"] / out["document_slice_s"]
    out["ratio_substr_over_document_slice"] = out["substr_s"] / out["document_slice_s"]
    return out


async def idle_health(server, n: int = 30) -> float:
    """p95 seconds of /health on the idle server, sequential."""
    times = []
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        for _ in range(n):
            t0 = time.perf_counter()
            (await http.get("/health")).raise_for_status()
            times.append(time.perf_counter() - t0)
    return percentile(times, 95)


async def soak(server, chunk_ids: list[str], questions: list[str], n: int, concurrency: int) -> dict:
    """The mixed closed-loop load; latencies per endpoint, status counts, RSS samples."""
    codes: Counter = Counter()
    latency: dict[str, list[float]] = defaultdict(list)
    rss = {"start": bench_serve.rss_mb(server.proc.pid)}
    sent = 0

    async def request(http: httpx.AsyncClient, i: int) -> None:
        kind = MIX[i % len(MIX)]
        t0 = time.perf_counter()
        if kind == "chat":
            response = await http.post("/chat", json={"question": questions[i % len(questions)]})
        elif kind == "sources":
            response = await http.get(f"/sources/{chunk_ids[i % len(chunk_ids)]}")
            if response.status_code == 200:
                assert response.json()["original"].startswith("Stochastic gradient descent")
        else:
            response = await http.get("/health")
        codes[(kind, response.status_code)] += 1
        if response.status_code < 400:
            latency[kind].append(time.perf_counter() - t0)
        if response.status_code == 429:
            await asyncio.sleep(min(float(response.headers.get("retry-after", 1)), 1.0))

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < n:
            i = sent
            sent += 1
            try:
                await request(http, i)
            except httpx.HTTPError as exc:
                codes[(MIX[i % len(MIX)], type(exc).__name__)] += 1
            if sent >= n // 2 and "middle" not in rss:
                rss["middle"] = bench_serve.rss_mb(server.proc.pid)

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=server.url, timeout=server.timeout_s + 10, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    rss["end"] = bench_serve.rss_mb(server.proc.pid)
    return {"requests": sum(codes.values()), "wall_s": time.perf_counter() - started,
            "status": {f"{kind} {code}": count for (kind, code), count in sorted(codes.items(), key=str)},
            "server_5xx": sum(v for (_, code), v in codes.items() if isinstance(code, int) and code >= 500),
            "latency_s": {kind: {"n": len(v), "p50": percentile(v, 50), "p95": percentile(v, 95)}
                          for kind, v in sorted(latency.items())},
            "rss_mb": {k: round(v) for k, v in rss.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--note-mb", type=int, default=50)
    parser.add_argument("--backend", default="extractive", choices=["extractive", "local"])
    parser.add_argument("--max-queue", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        print(f"building the index with a {args.note_mb} MB note", file=sys.stderr)
        chunk_ids = build_index(index, args.note_mb)
        peer = slice_peer(index)
        server = bench_serve.Server(index, args.backend, args.max_queue, timeout_s=60)
        try:
            server.wait_ready()
            idle_p95 = asyncio.run(idle_health(server))
            run = asyncio.run(soak(server, chunk_ids, bench_serve.questions(), args.requests, args.concurrency))
        finally:
            server.stop()
        log = server.proc.stderr.read().decode(errors="replace").splitlines()
    run["server_log_errors"] = [line for line in log if "ERROR" in line or "Traceback" in line][:20]
    health_p95 = run["latency_s"]["health"]["p95"]
    result = {"backend": args.backend, "note_mb": args.note_mb, "concurrency": args.concurrency, **run,
              "health_p95_idle_s": idle_p95, "health_p95_ratio_loaded_over_idle": health_p95 / idle_p95,
              "slice_peer": peer}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        report(result)
    return 0 if run["server_5xx"] == 0 else 1


def report(r: dict) -> None:
    print(f"\n== soak: {r['requests']} requests, {r['concurrency']} clients, {r['backend']} backend, "
          f"{r['note_mb']} MB note, {r['wall_s']:.1f} s")
    print(f"  status counts   {r['status']}   5xx: {r['server_5xx']}")
    print(f"  server log      {len(r['server_log_errors'])} error line(s) {r['server_log_errors'][:3]}")
    for kind, lat in r["latency_s"].items():
        print(f"  {kind:<8} n={lat['n']:<4} p50 {lat['p50'] * 1000:7.1f} ms   p95 {lat['p95'] * 1000:7.1f} ms")
    print(f"  /health p95 idle {r['health_p95_idle_s'] * 1000:.1f} ms -> under load "
          f"{r['latency_s']['health']['p95'] * 1000:.1f} ms (ratio {r['health_p95_ratio_loaded_over_idle']:.1f})")
    p = r["slice_peer"]
    print(f"  large note's last chunk, in process: document_slice {p['document_slice_s'] * 1000:.1f} ms, "
          f"substr {p['substr_s'] * 1000:.1f} ms (ratio {p['ratio_substr_over_document_slice']:.1f}), whole note "
          f"{p['whole_note_s'] * 1000:.1f} ms (ratio {p['ratio_whole_over_document_slice']:.1f})")
    rss = r["rss_mb"]
    print(f"  server RSS MiB  start {rss['start']}, middle {rss.get('middle')}, end {rss['end']}")


if __name__ == "__main__":
    sys.exit(main())
