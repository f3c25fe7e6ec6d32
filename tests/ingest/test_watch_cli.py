"""`rag ingest --watch DIR` as a real process: one JSON report per round, the new note added, the deleted one removed,
a clean exit on SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from queue import Empty, Queue

import pytest

pytestmark = pytest.mark.slow


def test_ingest_watch_reports_each_round_and_stops_cleanly(tiny_corpus, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "rag.cli", "ingest", "--watch", str(tiny_corpus), "--index", str(tmp_path / "index"),
           "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: Queue = Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()

    def next_report(timeout: float) -> dict:
        try:
            return json.loads(lines.get(timeout=timeout))
        except Empty:
            raise AssertionError(f"no report within {timeout} s") from None

    try:
        first = next_report(180)
        assert sorted(first["added"]) == ["batchnorm.txt", "diffusion.md", "gan.md"]
        time.sleep(1.0)   # the watcher is scheduled after the first report
        (tiny_corpus / "dropout.md").write_text("# Dropout\n\nDropout zeroes random activations.\n", encoding="utf-8")
        assert next_report(30)["added"] == ["dropout.md"]
        (tiny_corpus / "gan.md").rename(tiny_corpus / "gans.md")
        renamed = next_report(30)
        assert renamed["added"] == ["gans.md"] and renamed["removed"] == ["gan.md"]
        assert renamed["chunks_embedded"] == 0          # the renamed note's passages are reused, not re-embedded
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
