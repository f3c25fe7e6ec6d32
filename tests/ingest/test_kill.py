"""SIGKILL an ingest subprocess at random points: the index always opens, is consistent, and searches."""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.pipeline import ingest_paths
from rag.retrieve import HybridRetriever
from rag.settings import load_settings
from rag.store import IndexStore

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ("import sys; from pathlib import Path; from ingest.pipeline import ingest_paths; "
          "from rag.settings import load_settings; "
          "ingest_paths([Path(sys.argv[1])], load_settings(index_dir=sys.argv[2]), progress=False); print('DONE')")


def _start(corpus: Path, index: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(corpus), str(index)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def _state(index: Path) -> tuple[list[str], int]:
    store = IndexStore.open(index)          # raises if unloadable or inconsistent (rows != vectors)
    try:
        rows = store.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        assert rows == store.exact.ntotal
        return store.sources(), rows
    finally:
        store.close()


def test_kill_at_random_points_leaves_a_loadable_index(tiny_corpus, tmp_path):
    base = tmp_path / "base-index"
    ingest_paths([tiny_corpus], load_settings(index_dir=str(base)), progress=False)
    old = _state(base)
    (tiny_corpus / "diffusion.md").write_text("# Diffusion\n\nEMA weights are averaged with decay 0.999.\n")
    (tiny_corpus / "gan.md").unlink()
    for i in range(4):
        (tiny_corpus / f"new{i}.md").write_text(f"# Note {i}\n\nAutoencoders compress inputs into codes, variant {i}.\n"
                                                 "A VAE adds a KL term that keeps codes close to a prior.\n")
    done = tmp_path / "done-index"
    shutil.copytree(base, done)
    started = time.perf_counter()
    proc = _start(tiny_corpus, done)
    assert proc.communicate(timeout=300)[0].strip().endswith(b"DONE")
    full_s = time.perf_counter() - started
    new = _state(done)
    assert new != old

    rng = random.Random(1234)
    for trial in range(3):
        index = tmp_path / f"killed-{trial}"
        shutil.copytree(base, index)
        proc = _start(tiny_corpus, index)
        time.sleep(rng.uniform(0.2, 1.0) * full_s)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        state = _state(index)
        assert state in (old, new)
        settings = load_settings(index_dir=str(index))
        assert HybridRetriever.open(settings).search("autoencoder KL prior", k=3)
        ingest_paths([tiny_corpus], settings, progress=False)   # the lock died with the process
        assert _state(index) == new
        assert [p.name for p in index.iterdir() if p.name.startswith(("tmp-", "v-"))] == [
            (index / "CURRENT").read_text().strip()]             # leftovers of the killed run cleaned
