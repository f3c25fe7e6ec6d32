"""Serving benchmark: a bounded load on loopback against `rag serve`, per backend.

  python bench/serve.py [--backends extractive local] [--requests 200] [--concurrency 20] [--json]

For each backend a real `rag serve` runs in a subprocess on 127.0.0.1 (random free port) over an index of
../shared/notes (else examples/notes). `concurrency` closed-loop clients (httpx async) send POST /chat until
`requests` have been sent or the time bound passes. Reported: throughput (all responses and answered ones),
p50/p95 latency, counts per status code, the server's RSS at start/middle/end. The peer is the same chain
called in process without HTTP (sequential), so the ratio shows what the service adds per answer.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eval.latency import percentile  # noqa: E402
from rag.core.settings import load_settings  # noqa: E402

SHARED = ROOT.parent / "shared"
FALLBACK_QUESTIONS = ["what is EMA in diffusion", "what does batch normalization learn",
                      "why does attention scale by the square root of d", "what is mode collapse in GANs"]


def questions() -> list[str]:
    """Questions from ../shared/eval/dev_qa.jsonl (answerable and not), else a built-in list."""
    path = SHARED / "eval" / "dev_qa.jsonl"
    if not path.exists():
        return FALLBACK_QUESTIONS
    return [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`rag serve` in a subprocess on loopback."""

    def __init__(self, index: Path, backend: str, max_queue: int, timeout_s: float):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        cmd = [sys.executable, "-m", "rag.cli", "serve", "--index", str(index), "--backend", backend,
               "--host", "127.0.0.1", "--port", str(self.port), "--max-queue", str(max_queue), "--log-level", "warning"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.timeout_s = timeout_s

    def wait_ready(self, limit_s: float = 180) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < limit_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server not ready in time")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def load(server: Server, qs: list[str], n: int, concurrency: int, limit_s: float) -> dict:
    """Closed-loop clients; returns latencies, status counts and RSS samples."""
    codes: Counter = Counter()
    latencies: list[float] = []
    service: list[float] = []
    rss = {"start": rss_mb(server.proc.pid), "every_10pct": []}
    sent = 0
    deadline = time.perf_counter() + limit_s

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < n and time.perf_counter() < deadline:
            i = sent
            sent += 1
            t0 = time.perf_counter()
            try:
                response = await http.post("/chat", json={"question": qs[i % len(qs)]})
                codes[response.status_code] += 1
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - t0)
                    service.append(response.json()["timings"]["total_s"])
                elif response.status_code == 429:  # a polite client: honour Retry-After, capped at 2 s
                    await asyncio.sleep(min(float(response.headers.get("retry-after", 1)), 2.0))
            except httpx.HTTPError as exc:
                codes[type(exc).__name__] += 1
            if sent == n // 2 and "middle" not in rss:
                rss["middle"] = rss_mb(server.proc.pid)
            if sent % max(1, n // 10) == 0:
                rss["every_10pct"].append(round(rss_mb(server.proc.pid)))

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=server.url, timeout=server.timeout_s + 10, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
    wall = time.perf_counter() - started
    rss["end"] = rss_mb(server.proc.pid)
    answered = codes.get(200, 0)
    return {"requests": sum(codes.values()), "wall_s": wall, "throughput_rps": sum(codes.values()) / wall,
            "answered_rps": answered / wall, "p50_s": percentile(latencies, 50), "p95_s": percentile(latencies, 95),
            "service_p50_s": percentile(service, 50),
            "status": {str(k): v for k, v in sorted(codes.items(), key=str)},
            "server_5xx": sum(v for k, v in codes.items() if isinstance(k, int) and k >= 500),
            "rss_mb": rss}


def peer(index: Path, backend: str, qs: list[str], n: int) -> dict:
    """The same chain called in process, sequentially, no HTTP."""
    from rag.answer.chain import build_chain

    settings = load_settings(env={}, index_dir=str(index))
    chain = build_chain(settings, backend=backend)
    chain.answer(qs[0])
    times = []
    for q in qs[:n]:
        t0 = time.perf_counter()
        chain.answer(q)
        times.append(time.perf_counter() - t0)
    return {"n": len(times), "p50_s": percentile(times, 50), "p95_s": percentile(times, 95),
            "answers_per_s": len(times) / sum(times)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=["extractive", "local"])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--max-queue", type=int, default=8)
    parser.add_argument("--limit-s", type=float, default=240, help="time bound of each load run")
    parser.add_argument("--peer-n", type=int, default=10, help="questions for the in-process peer")
    parser.add_argument("--notes", type=Path, default=SHARED / "notes" if (SHARED / "notes").is_dir()
                        else ROOT / "examples" / "notes")
    parser.add_argument("--index", type=Path, default=None, help="reuse this index (built from --notes if absent)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from ingest.pipeline import ingest_paths

    qs = questions()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        index = args.index or Path(tmp) / "index"
        ingest_paths([args.notes], load_settings(env={}, index_dir=str(index)), progress=False)  # incremental
        for backend in args.backends:
            print(f"[{backend}] starting the server", file=sys.stderr)
            server = Server(index, backend, args.max_queue, timeout_s=60)
            try:
                ready_s = server.wait_ready()
                httpx.post(f"{server.url}/chat", json={"question": qs[0]}, timeout=120)  # warm-up
                run = asyncio.run(load(server, qs, args.requests, args.concurrency, args.limit_s))
            finally:
                server.stop()
            run["ready_s"] = ready_s
            print(f"[{backend}] load done: {run['status']}; running the in-process peer", file=sys.stderr)
            run["peer"] = peer(index, backend, qs, args.peer_n)
            run["p50_ratio_vs_peer"] = run["p50_s"] / run["peer"]["p50_s"]
            results[backend] = run
            if not args.json:
                report(backend, run, args)
    if args.json:
        print(json.dumps({"notes": str(args.notes), "requests": args.requests, "concurrency": args.concurrency,
                          "max_queue": args.max_queue, "backends": results}, indent=2))
    return 0


def report(backend: str, run: dict, args) -> None:
    p = run["peer"]
    rss = run["rss_mb"]
    print(f"\n== {backend}: {run['requests']} requests, {args.concurrency} clients, max_queue {args.max_queue}, "
          f"{run['wall_s']:.1f} s (server ready in {run['ready_s']:.1f} s)")
    print(f"  status counts      {run['status']}   5xx: {run['server_5xx']}")
    print(f"  throughput         {run['throughput_rps']:.1f} responses/s, {run['answered_rps']:.2f} answers/s"
          f"   | peer in-process {p['answers_per_s']:.2f} answers/s "
          f"(ratio {run['answered_rps'] / p['answers_per_s']:.2f})")
    print(f"  latency (200s)     p50 {run['p50_s'] * 1000:.0f} ms, p95 {run['p95_s'] * 1000:.0f} ms"
          f"   | peer p50 {p['p50_s'] * 1000:.0f} ms, p95 {p['p95_s'] * 1000:.0f} ms "
          f"(p50 ratio {run['p50_ratio_vs_peer']:.2f})")
    print(f"  chain time (200s)  p50 {run['service_p50_s'] * 1000:.0f} ms inside the server "
          "(the rest of the latency is queueing)")
    print(f"  server RSS (MiB)   start {rss['start']:.0f}, middle {rss.get('middle', float('nan')):.0f}, "
          f"end {rss['end']:.0f}")


if __name__ == "__main__":
    sys.exit(main())
