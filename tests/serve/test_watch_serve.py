"""`rag serve --watch` as a real process: a note written while it runs is answered and cited within 10 s, gone
within 10 s of its deletion; a version published by a separate `rag ingest` process is served within 5 s."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

_spec = importlib.util.spec_from_file_location("serve_fakes", Path(__file__).with_name("conftest.py"))
fakes = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fakes)
pytestmark = pytest.mark.slow

KELP = "# Kelp forests\n\nKelp forests grow in cold coastal water, where they shelter sea otters and urchins.\n"
RUST = "# Rust borrow checker\n\nThe borrow checker rejects two mutable references to one value at a time.\n"


def cited_from(http: httpx.Client, question: str, source: str) -> tuple[bool, bool]:
    """(cited, present in the contexts) of `source` in the answer to `question`."""
    body = http.post("/chat", json={"question": question}).json()
    return (any(c["source"].endswith(source) for c in body["citations"]),
            any(c["source"].endswith(source) for c in body["contexts"]))


def until(predicate, limit_s: float) -> float:
    """Seconds until predicate() holds; fails past limit_s."""
    started = time.monotonic()
    while not predicate():
        elapsed = time.monotonic() - started
        assert elapsed < limit_s, f"not within {limit_s} s"
        time.sleep(0.25)
    return time.monotonic() - started


@pytest.fixture
def watching_server(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    for name, text in fakes.DOCS.items():
        (notes / name).write_text(text, encoding="utf-8")
    port = fakes.free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAG_API_KEY": ""}
    cmd = [sys.executable, "-m", "rag.cli", "serve", "--watch", str(notes), "--index", str(tmp_path / "index"),
           "--backend", "extractive", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "rag serve --watch did not start"
            time.sleep(0.5)
        yield url, notes, tmp_path
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_watched_note_is_answered_then_forgotten_and_a_separate_ingest_is_served(watching_server):
    url, notes, tmp_path = watching_server
    # a new connection per request: one kept alive across the separate ingest (about the server's 5 s keep-alive)
    # can be closed by the server just as the next request goes out ("Server disconnected without sending a response")
    with httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as http:
        question = "where do kelp forests grow?"
        assert cited_from(http, question, "kelp.md") == (False, False)
        (notes / "kelp.md").write_text(KELP, encoding="utf-8")
        added = until(lambda: cited_from(http, question, "kelp.md")[0], 10)
        (notes / "kelp.md").unlink()
        removed = until(lambda: cited_from(http, question, "kelp.md") == (False, False), 10)

        other = tmp_path / "other"
        other.mkdir()
        (other / "rust.md").write_text(RUST, encoding="utf-8")
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        subprocess.run([sys.executable, "-m", "rag.cli", "ingest", str(other), "--index", str(tmp_path / "index")],
                       env=env, check=True, capture_output=True, timeout=300)
        served = until(lambda: cited_from(http, "what does the borrow checker reject?", "rust.md")[0], 5)
    print(f"watched note cited after {added:.1f} s, gone {removed:.1f} s after deletion; "
          f"separate ingest served {served:.1f} s after it exited")
