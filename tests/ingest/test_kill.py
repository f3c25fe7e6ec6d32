"""SIGKILL an ingest process at random points: the index always opens, is consistent, and searches.

The ingest runs in a forked child (the parent's loaded model is inherited, so each trial costs the ingest
alone, not a fresh torch import); the child is killed with SIGKILL somewhere in load, chunk, embed, write
or swap, and the previous or the new version must be what opens.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import time
from pathlib import Path

import pytest

from ingest.pipeline import ingest_paths
from rag.core.settings import load_settings
from rag.index.embed import Embedder
from rag.index.retrieve import HybridRetriever
from rag.index.store import IndexStore

pytestmark = pytest.mark.slow


def _settings(index: Path):
    """MiniLM alone: the test is about the store's writes, and a forked child runs fewer torch models safely."""
    return load_settings(index_dir=str(index), env={"RAG_EMBEDDERS": "minilm"})


def _fork_ingest(corpus: Path, index: Path) -> int:
    """Start `ingest_paths` in a child process; returns its pid."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            import torch

            torch.set_num_threads(1)    # OpenMP pools do not survive fork; one thread needs none
            ingest_paths([corpus], _settings(index), progress=False)
            code = 0
        finally:
            os._exit(code)
    return pid


def _state(index: Path) -> tuple[list[str], int]:
    store = IndexStore.open(index)          # raises if unloadable or inconsistent (rows != vectors)
    try:
        rows = store.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        assert rows == store.exact.ntotal
        return store.sources(), rows
    finally:
        store.close()


def test_kill_at_random_points_leaves_a_loadable_index(tiny_corpus, tmp_path):
    Embedder.load().encode(["load the model before forking"])
    base = tmp_path / "base-index"
    ingest_paths([tiny_corpus], _settings(base), progress=False)
    old = _state(base)
    (tiny_corpus / "diffusion.md").write_text("# Diffusion\n\nEMA weights are averaged with decay 0.999.\n")
    (tiny_corpus / "gan.md").unlink()
    for i in range(6):
        (tiny_corpus / f"new{i}.md").write_text(f"# Note {i}\n\nAutoencoders compress inputs into codes, variant {i}.\n"
                                                 "A VAE adds a KL term that keeps codes close to a prior.\n")
    done = tmp_path / "done-index"
    shutil.copytree(base, done)
    started = time.perf_counter()
    assert os.waitpid(_fork_ingest(tiny_corpus, done), 0)[1] == 0
    ingest_s = time.perf_counter() - started
    new = _state(done)
    assert new != old

    rng = random.Random(1234)
    outcomes = []
    for trial in range(4):
        index = tmp_path / f"killed-{trial}"
        shutil.copytree(base, index)
        pid = _fork_ingest(tiny_corpus, index)
        time.sleep(rng.uniform(0.0, 1.1) * ingest_s)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        state = _state(index)
        assert state in (old, new)
        outcomes.append("new" if state == new else "old")
        settings = _settings(index)
        assert HybridRetriever.open(settings).search("autoencoder KL prior", k=3)
        ingest_paths([tiny_corpus], settings, progress=False)   # the lock died with the process
        assert _state(index) == new
        assert [p.name for p in index.iterdir() if p.name.startswith(("tmp-", "v-"))] == [
            (index / "CURRENT").read_text().strip()]             # leftovers of the killed run cleaned
    assert "old" in outcomes                                     # at least one kill landed before the swap
