"""Retrieval benchmark: quality on a QA set (hybrid vs dense vs BM25) and latency/recall at scale.

  python bench/retrieval.py --qa ../shared/eval/dev_qa.jsonl --notes ../shared/notes [--json]
  python bench/retrieval.py --scale 1000 10000 100000 [--queries 50] [--json]

Scale runs use synthetic chunks (random Zipf text, clustered unit vectors written straight into the
store: MiniLM is not run per chunk); each query is embedded with the real MiniLM, then searched and fused.
Approximate = HNSW (inner product); its recall@10 is measured against exact search on in-distribution queries.
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
from rag.core.types import Chunk  # noqa: E402
from rag.index.store import DocRecord, IndexLock, IndexStore, IndexWriter, text_hash, vectors  # noqa: E402

MODES = get_args(RetrievalMode)


def qa_quality(qa: Path, notes: Path, index_dir: Path) -> dict:
    """hit@1/hit@5/MRR@10 per retrieval mode over the answerable questions of a QA file."""
    from eval.dataset import load_qa
    from eval.retrieval_metrics import mean_scores, retrieval_scores
    from ingest.pipeline import ingest_paths
    from rag.index.retrieve import HybridRetriever

    settings = load_settings(index_dir=str(index_dir))
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


def build_synthetic(index_dir: Path, n: int, dim: int, model_id: str) -> float:
    """Write n synthetic chunks (100 per note) with an HNSW copy; returns build seconds."""
    start = time.perf_counter()
    texts, vecs = _texts(n), _vectors(n, dim)
    with IndexLock(index_dir):
        w = IndexWriter(index_dir, model_id, dim, RetrievalSettings(approximate_above=0), rebuild=True)
        for d in range(0, n, 100):
            source = f"note{d // 100:05d}.md"
            part = texts[d:d + 100]
            chunks = [Chunk(source, "Synthetic", t, i + 1, i + 1, 0, len(t)) for i, t in enumerate(part)]
            w.put_document(DocRecord(source, str(index_dir), "-", 0, 0, "markdown", "\n".join(part), []), chunks,
                           {text_hash(t): v for t, v in zip(part, vecs[d:d + 100])})
        w.commit()
    return time.perf_counter() - start


def _recall(store: IndexStore, queries: np.ndarray) -> float:
    """Share of the exact top-10 that the approximate index also returns."""
    hits = sum(len({i for i, _ in store.search_vectors(q, 10, exact=True)}
                   & {i for i, _ in store.search_vectors(q, 10)}) for q in queries)
    return round(hits / (10 * len(queries)), 4)


def scale_run(n: int, queries: int, workdir: Path) -> dict:
    """Latency p50/p95 (embed + search + fusion) exact vs HNSW, and HNSW recall@10 against exact."""
    from rag.index.embed import Embedder
    from rag.index.retrieve import HybridRetriever

    emb = Embedder.load()
    index_dir = workdir / f"synthetic-{n}"
    build_s = build_synthetic(index_dir, n, emb.dim, emb.model_id)
    retriever = HybridRetriever.open(load_settings(index_dir=str(index_dir)), embedder=emb)
    store: IndexStore = retriever.store
    rng = np.random.default_rng(1)
    qtexts = [" ".join(f"w{int(x)}" for x in rng.zipf(1.3, 6) if x < 5000) or "w1" for _ in range(queries)]
    out = {"n": n, "build_s": round(build_s, 1)}
    hnsw = store.approx
    for name, approx in (("exact", None), ("hnsw", hnsw)):
        store.approx = approx
        retriever.search(qtexts[0])
        times = []
        for q in qtexts:
            t0 = time.perf_counter()
            retriever.search(q, k=10)
            times.append(time.perf_counter() - t0)
        out[f"{name}_p50_ms"] = round(percentile(times, 50) * 1000, 2)
        out[f"{name}_p95_ms"] = round(percentile(times, 95) * 1000, 2)
    store.approx = hnsw
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
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmp:
        if args.qa:
            result["qa"] = qa_quality(args.qa, args.notes, args.index or Path(tmp) / "qa-index")
        if args.scale is not None or not args.qa:
            result["scale"] = [scale_run(n, args.queries, Path(tmp)) for n in (args.scale or [1000, 10000, 100000])]
    if args.json:
        print(json.dumps(result))
        return 0
    if "qa" in result:
        qa = result["qa"]
        print(f"QA retrieval over {qa['n']} answerable questions, {qa['chunks']} chunks "
              "(goal hit@5 >= 0.95, MRR@10 >= 0.8)")
        print(f"{'mode':8} {'hit@1':>6} {'hit@5':>6} {'mrr@10':>7} {'ndcg@10':>8}  missed@5")
        for mode in MODES:
            m = qa[mode]
            print(f"{mode:8} {m['hit@1']:6.3f} {m['hit@5']:6.3f} {m['mrr@10']:7.3f} {m['ndcg@10']:8.3f}  "
                  f"{','.join(m['missed@5'])}")
        print(f"hybrid vs dense MRR@10 ratio {qa['hybrid']['mrr@10'] / max(qa['dense']['mrr@10'], 1e-9):.2f}x, "
              f"vs bm25 {qa['hybrid']['mrr@10'] / max(qa['bm25']['mrr@10'], 1e-9):.2f}x")
    for row in result.get("scale", []):
        print(f"{row['n']:>7} chunks: exact p50 {row['exact_p50_ms']:.1f} ms p95 {row['exact_p95_ms']:.1f} ms | "
              f"hnsw p50 {row['hnsw_p50_ms']:.1f} ms p95 {row['hnsw_p95_ms']:.1f} ms "
              f"(exact/hnsw p50 {row['exact_p50_ms'] / max(row['hnsw_p50_ms'], 1e-9):.2f}x) | "
              f"hnsw recall@10 {row['hnsw_recall@10']:.3f} (goal >= 0.95; random-direction queries "
              f"{row['hnsw_recall@10_random']:.3f}, efSearch 256/512: {row['hnsw_recall@10_random_ef256']:.3f}/"
              f"{row['hnsw_recall@10_random_ef512']:.3f}) | default {row['default_index']} | "
              f"build {row['build_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
