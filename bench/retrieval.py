"""Retrieval benchmark: quality on a QA set (hybrid vs dense vs BM25) and latency/recall at scale.

  python bench/retrieval.py --qa ../shared/eval/dev_qa.jsonl --notes ../shared/notes [--store faiss qdrant] [--json]
  python bench/retrieval.py --scale 1000 10000 100000 [--store faiss qdrant] [--queries 50] [--json]

Scale runs use synthetic chunks (random Zipf text, clustered unit vectors written straight into the
store: MiniLM is not run per chunk); each query is embedded with the real MiniLM, then searched and fused.
Approximate = HNSW (inner product); its recall@10 is measured against exact search on in-distribution queries.

--store qdrant runs the same queries on Qdrant in local mode (in memory unless RAG_QDRANT_PATH is set): qdrant-client's
pure-Python reimplementation of the engine, which always searches exactly and scans payloads for filters. Its
latencies measure that reimplementation, not a Qdrant server (Rust, HNSW, payload indexes, plus a network round
trip): they tell that results and fusion agree, not how fast a server is (docs/scaling.md).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import get_args

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eval.latency import percentile  # noqa: E402
from rag.core.settings import RetrievalMode, RetrievalSettings, load_settings  # noqa: E402
from rag.core.types import Chunk, Filters  # noqa: E402
from rag.index.store import DEFAULT_DENSE, DocRecord, open_backend, text_hash, vectors  # noqa: E402
from rag.index.store.base import DenseSpec  # noqa: E402

MODES = get_args(RetrievalMode)


def _settings(index_dir: Path, store: str):
    """Settings for a bench index on `store` (Qdrant: in memory unless RAG_QDRANT_PATH is set)."""
    settings = load_settings(index_dir=str(index_dir), store=store)
    if store == "qdrant" and not settings.qdrant.path and not settings.qdrant.url:
        settings = load_settings(index_dir=str(index_dir), store=store, qdrant={"path": ":memory:",
                                                                                "collection": index_dir.name})
    return settings


def qa_quality(qa: Path, notes: Path, index_dir: Path, store: str = "faiss") -> dict:
    """hit@1/hit@5/MRR@10 per retrieval mode over the answerable questions of a QA file."""
    from eval.dataset import load_qa
    from eval.retrieval_metrics import mean_scores, retrieval_scores
    from ingest.pipeline import ingest_paths
    from rag.index.retrieve import HybridRetriever

    settings = _settings(index_dir, store)
    report = ingest_paths([notes], settings, progress=False)
    retriever = HybridRetriever.open(settings)
    items = [q for q in load_qa(qa) if q.answerable]
    out = {"n": len(items), "chunks": retriever.store.count(), "ingest_embedded": report.chunks_embedded}
    for mode in MODES:
        rows, misses = [], []
        for item in items:
            results = retriever.search(item.question, k=10, mode=mode)
            row = retrieval_scores([r.chunk.text for r in results], item.support)
            rows.append(row)
            if row["hit@5"] < 1:
                misses.append(item.id)
        out[mode] = {**mean_scores(rows), "missed@5": misses}
    return out


def _texts(n: int, seed: int = 0) -> list[str]:
    """n texts of 60 Zipf-distributed words over a 5,000-word vocabulary."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(5000)])
    words = vocab[np.minimum(rng.zipf(1.3, size=(n, 60)) - 1, len(vocab) - 1)]
    return [f"chunk {i} " + " ".join(row) for i, row in enumerate(words)]


def _vectors(n: int, dim: int, count: int | None = None, seed: int = 0) -> np.ndarray:
    """`count` (default n) unit vectors from the n-chunk corpus's topic clusters (about 100 chunks each);
    a different seed draws fresh points from the same clusters (held-out queries)."""
    centers = np.random.default_rng(0).standard_normal((max(n // 100, 10), dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    count = n if count is None else count
    vecs = centers[rng.integers(0, len(centers), count)] + 0.5 * rng.standard_normal((count, dim)).astype(np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def _put_notes(writer, texts: list[str], vecs: np.ndarray, start: int, stop: int, root: str) -> None:
    """Synthetic notes of 100 chunks each for chunks [start, stop)."""
    for d in range(start, stop, 100):
        source = f"{'odd' if d // 100 % 2 else 'even'}/note{d // 100:05d}.md"
        part = texts[d:d + 100]
        chunks = [Chunk(source, "Synthetic", t, i + 1, i + 1, 0, len(t)) for i, t in enumerate(part)]
        writer.put_document(DocRecord(source, root, "-", 0, 0, "markdown", "\n".join(part), []), chunks,
                            {text_hash(t): v for t, v in zip(part, vecs[d:d + 100])})


def build_synthetic(backend, n: int, dim: int, model_id: str) -> tuple[float, float]:
    """Write n synthetic chunks (100 per note, half under even/, half under odd/) with an HNSW copy (FAISS);
    returns (build seconds, seconds to publish a new version that replaces one note)."""
    start = time.perf_counter()
    texts, vecs = _texts(n), _vectors(n, dim)
    spec = DenseSpec(DEFAULT_DENSE, model_id, dim)
    with backend.lock():
        w = backend.writer([spec], RetrievalSettings(approximate_above=0), rebuild=True)
        _put_notes(w, texts, vecs, 0, n, str(backend.index_dir))
        w.commit()
    build = time.perf_counter() - start
    start = time.perf_counter()
    with backend.lock():
        w = backend.writer([spec], RetrievalSettings(approximate_above=0))
        fresh = [t + " edited" for t in texts[:100]]
        _put_notes(w, fresh + texts[100:], vecs, 0, 100, str(backend.index_dir))
        w.commit()
    return build, time.perf_counter() - start


def _recall(store, queries: np.ndarray) -> float:
    """Share of the exact top-10 that the approximate index also returns."""
    hits = sum(len({i for i, _ in store.search_vectors(q, 10, exact=True)}
                   & {i for i, _ in store.search_vectors(q, 10)}) for q in queries)
    return round(hits / (10 * len(queries)), 4)


def _latency(retriever, qtexts: list[str], filters: Filters | None = None) -> tuple[float, float]:
    """p50 and p95 milliseconds of retriever.search(q, k=10) (embedding included), after one warm-up."""
    retriever.search(qtexts[0], filters=filters)
    times = []
    for q in qtexts:
        t0 = time.perf_counter()
        retriever.search(q, k=10, filters=filters)
        times.append(time.perf_counter() - t0)
    return round(percentile(times, 50) * 1000, 2), round(percentile(times, 95) * 1000, 2)


def scale_run(n: int, queries: int, workdir: Path, store_kind: str = "faiss") -> dict:
    """Latency p50/p95 (embed + search + fusion): FAISS exact vs HNSW with HNSW recall@10 against exact; Qdrant
    (local mode) unfiltered and filtered; both with the time to publish a version that replaces one note."""
    from rag.index.embed import Embedder
    from rag.index.retrieve import HybridRetriever

    emb = Embedder.load()
    settings = _settings(workdir / f"synthetic-{store_kind}-{n}", store_kind)
    build_s, update_s = build_synthetic(open_backend(settings), n, emb.dim, emb.model_id)
    retriever = HybridRetriever.open(settings, embedder=emb)
    store = retriever.store
    rng = np.random.default_rng(1)
    qtexts = [" ".join(f"w{int(x)}" for x in rng.zipf(1.3, 6) if x < 5000) or "w1" for _ in range(queries)]
    out = {"store": store_kind, "n": n, "build_s": round(build_s, 1), "update_one_note_s": round(update_s, 2)}
    out["filtered_p50_ms"], out["filtered_p95_ms"] = _latency(retriever, qtexts, Filters(folder="odd"))
    if store_kind == "qdrant":
        out["p50_ms"], out["p95_ms"] = _latency(retriever, qtexts)
        return out
    hnsw = store.dense[DEFAULT_DENSE][1]
    for name, approx in (("exact", None), ("hnsw", hnsw)):
        store.dense[DEFAULT_DENSE] = (store.exact, approx)
        out[f"{name}_p50_ms"], out[f"{name}_p95_ms"] = _latency(retriever, qtexts)
    store.dense[DEFAULT_DENSE] = (store.exact, hnsw)
    qv = _vectors(n, emb.dim, count=200, seed=99)                       # held-out points of the same topics
    out["hnsw_recall@10"] = _recall(store, qv)
    rand = rng.standard_normal((200, emb.dim)).astype(np.float32)    # off-topic directions: the hard case
    rand /= np.linalg.norm(rand, axis=1, keepdims=True)
    out["hnsw_recall@10_random"] = _recall(store, rand)
    for ef in (256, 512):
        vectors.set_ef_search(store.approx, ef)
        out[f"hnsw_recall@10_random_ef{ef}"] = _recall(store, rand)
    out["default_index"] = "hnsw" if n > RetrievalSettings().approximate_above else "exact"
    store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qa", type=Path, help="QA JSON Lines file (quality mode)")
    ap.add_argument("--notes", type=Path, default=ROOT.parent / "shared" / "notes")
    ap.add_argument("--index", type=Path, help="index folder for --qa (default: a temp folder)")
    ap.add_argument("--scale", type=int, nargs="*", default=None, help="synthetic chunk counts")
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--store", nargs="+", choices=("faiss", "qdrant"), default=["faiss"],
                    help="stores to run side by side (default: faiss)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmp:
        if args.qa:
            result["qa"] = {s: qa_quality(args.qa, args.notes, args.index or Path(tmp) / f"qa-index-{s}", s)
                            for s in args.store}
        if args.scale is not None or not args.qa:
            result["scale"] = []
            for n in args.scale or [1000, 10000, 100000]:
                for s in args.store:
                    result["scale"].append(scale_run(n, args.queries, Path(tmp), s))
                    print(json.dumps(result["scale"][-1]), file=sys.stderr, flush=True)   # long runs: rows as they end
    if args.json:
        print(json.dumps(result))
        return 0
    for store, qa in result.get("qa", {}).items():
        print(f"[{store}] QA retrieval over {qa['n']} answerable questions, {qa['chunks']} chunks "
              "(goal hit@5 >= 0.95, MRR@10 >= 0.8)")
        print(f"{'mode':8} {'hit@1':>6} {'hit@5':>6} {'mrr@10':>7} {'ndcg@10':>8}  missed@5")
        for mode in MODES:
            m = qa[mode]
            print(f"{mode:8} {m['hit@1']:6.3f} {m['hit@5']:6.3f} {m['mrr@10']:7.3f} {m['ndcg@10']:8.3f}  "
                  f"{','.join(m['missed@5'])}")
        print(f"hybrid vs dense MRR@10 ratio {qa['hybrid']['mrr@10'] / max(qa['dense']['mrr@10'], 1e-9):.2f}x, "
              f"vs bm25 {qa['hybrid']['mrr@10'] / max(qa['bm25']['mrr@10'], 1e-9):.2f}x")
    for row in result.get("scale", []):
        common = (f"filtered (half the notes) p50 {row['filtered_p50_ms']:.1f} ms | build {row['build_s']} s, "
                  f"publish a one-note change {row['update_one_note_s']} s")
        if row["store"] == "qdrant":
            print(f"{row['n']:>7} chunks [qdrant local mode]: p50 {row['p50_ms']:.1f} ms p95 {row['p95_ms']:.1f} ms "
                  f"| {common}")
            continue
        print(f"{row['n']:>7} chunks [faiss]: exact p50 {row['exact_p50_ms']:.1f} ms "
              f"p95 {row['exact_p95_ms']:.1f} ms | "
              f"hnsw p50 {row['hnsw_p50_ms']:.1f} ms p95 {row['hnsw_p95_ms']:.1f} ms "
              f"(exact/hnsw p50 {row['exact_p50_ms'] / max(row['hnsw_p50_ms'], 1e-9):.2f}x) | "
              f"hnsw recall@10 {row['hnsw_recall@10']:.3f} (goal >= 0.95; random-direction queries "
              f"{row['hnsw_recall@10_random']:.3f}, efSearch 256/512: {row['hnsw_recall@10_random_ef256']:.3f}/"
              f"{row['hnsw_recall@10_random_ef512']:.3f}) | default {row['default_index']} | {common}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
