"""A real server (extractive chain, tiny index, FAISS and Qdrant local mode) serves every newer index version it did
not write itself, swapping between requests: 20 swaps under steady load, not one failed or mixed-version answer."""
from __future__ import annotations

import importlib.util
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from rag.core.settings import load_settings, override

_spec = importlib.util.spec_from_file_location("serve_fakes", Path(__file__).with_name("conftest.py"))
fakes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fakes)
pytestmark = pytest.mark.slow

SWAPS = 20
CLIENTS = 3
QUESTION = "what revision number does the release note state?"


def revision_note(n: int) -> str:
    return f"# Release\n\nThe release note states revision number {n} for this build.\n"


def revisions(answer: dict) -> set[str]:
    """Revision numbers in every passage an answer used or cited."""
    texts = [c["text"] for c in answer["contexts"]] + [c["quote"] for c in answer["citations"]]
    return {m for t in texts for m in re.findall(r"revision number (\d+)", t)}


@pytest.fixture(params=["faiss", "qdrant"])
def served(request, tmp_path):
    from ingest.pipeline import ingest_paths
    from serve.app import create_app

    notes = tmp_path / "notes"
    notes.mkdir()
    for name, text in fakes.DOCS.items():
        (notes / name).write_text(text, encoding="utf-8")
    (notes / "release.md").write_text(revision_note(0), encoding="utf-8")
    settings = override(load_settings(env={}), {"index_dir": str(tmp_path / "index"), "store": request.param,
                                                "answer": {"backend": "extractive"},
                                                "server": {"max_queue": 32}})
    ingest_paths([notes], settings, progress=False)
    app = create_app(settings)
    with fakes.LiveServer(app) as server:
        yield server, app, notes, settings


def test_no_request_fails_or_mixes_versions_during_20_swaps_under_load(served):
    from ingest.pipeline import ingest_paths

    server, app, notes, settings = served
    failures: list[str] = []
    seen: list[tuple[float, set[str]]] = []
    stop = threading.Event()

    def client(stream: bool) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            while not stop.is_set():
                try:
                    response = http.post("/chat", json={"question": QUESTION, "stream": stream})
                except httpx.HTTPError as exc:
                    failures.append(f"transport: {exc}")
                    continue
                if response.status_code != 200:
                    failures.append(f"{response.status_code}: {response.text[:200]}")
                    continue
                body = fakes.parse_sse_text(response.text)[-1][1] if stream else response.json()
                if stream and "answer" not in body:
                    failures.append(f"stream ended with {body}")
                    continue
                found = revisions(body)
                if len(found) > 1:
                    failures.append(f"mixed versions {found}")
                seen.append((time.monotonic(), found))

    threads = [threading.Thread(target=client, args=(i % 2 == 1,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    runtime = app.state.runtime
    waits = []
    try:
        for n in range(1, SWAPS + 1):
            (notes / "release.md").write_text(revision_note(n), encoding="utf-8")
            ingest_paths([notes], settings, progress=False)       # published by the test, not by the server
            published = time.monotonic()
            while runtime.swaps < n:
                assert time.monotonic() - published < 5, f"version {n} not served within 5 s"
                time.sleep(0.05)
            waits.append(time.monotonic() - published)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert failures == []
    assert runtime.swaps == SWAPS and len(seen) > SWAPS
    assert {str(SWAPS)} in [found for _, found in seen[-CLIENTS:]] or revisions(
        httpx.post(server.url + "/chat", json={"question": QUESTION}, timeout=30).json()) == {str(SWAPS)}
    print(f"served each new version {max(waits):.2f} s at most after it was published ({len(seen)} answers)")
