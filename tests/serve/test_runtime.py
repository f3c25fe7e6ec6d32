"""The live snapshot: reference-counted, swapped between requests when a newer index version is published."""
from __future__ import annotations

import pytest

from rag.core.errors import IndexNotFoundError
from rag.core.settings import load_settings, override
from serve.services.runtime import Runtime, Snapshot


class ClosingStore:
    def __init__(self):
        self.closed = 0

    def info(self):
        return {"chunks": 1, "notes": 1, "root": "/private/notes"}

    def close(self):
        self.closed += 1


def test_a_retired_snapshot_closes_after_its_last_request():
    store = ClosingStore()
    snapshot = Snapshot(object(), store, "v-1", owned=True)
    first, second = snapshot.acquire(), snapshot.acquire()
    snapshot.retire()
    assert store.closed == 0 and snapshot.users == 2 and not snapshot.closed
    first.release()
    assert store.closed == 0
    second.release()
    assert store.closed == 1 and snapshot.closed


def test_an_idle_snapshot_closes_when_retired_and_an_injected_store_never():
    owned, injected = ClosingStore(), ClosingStore()
    Snapshot(object(), owned, "v-1", owned=True).retire()
    snapshot = Snapshot(object(), injected, None, owned=False)
    snapshot.retire()
    assert owned.closed == 1 and injected.closed == 0
    assert snapshot.index_info == {"chunks": 1, "notes": 1}          # the public figures only: no root path


def test_no_index_is_503_until_one_is_published(tmp_path):
    settings = override(load_settings(env={}), {"index_dir": str(tmp_path / "index"),
                                                "answer": {"backend": "extractive"}})
    runtime = Runtime(settings)
    runtime.load()
    with pytest.raises(IndexNotFoundError):
        runtime.lease()
    assert runtime.published_version() is None and runtime.refresh() is False
    runtime.close()


def test_submit_releases_the_snapshot_when_the_queue_refuses(tmp_path):
    from serve.services.generation import GenerationQueue

    class Full(GenerationQueue):
        def submit(self, *args, **kwargs):
            raise RuntimeError("full")

    runtime = Runtime(load_settings(env={}), chain=object(), store=ClosingStore())
    runtime.load()
    runtime.queue = Full(1, 1, 1.0)
    with pytest.raises(RuntimeError):
        runtime.submit("q")
    with runtime.leased() as snapshot:
        assert snapshot.users == 1   # only this lease: the refused submit gave its own back
