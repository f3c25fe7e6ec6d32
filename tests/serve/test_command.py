"""`rag serve` flags reach uvicorn and the settings; with no index the default notes are ingested first."""
from __future__ import annotations

import sys
import types

import uvicorn

from serve import command


def test_serve_command_passes_flags(monkeypatch, tmp_path, tiny_corpus):
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    ingested = []
    fake = types.ModuleType("ingest.pipeline")
    fake.ingest_paths = lambda paths, settings, progress=True: ingested.append((paths, settings.index_dir))
    monkeypatch.setitem(sys.modules, "ingest.pipeline", fake)
    monkeypatch.setenv("RAG_NOTES", str(tiny_corpus))
    index = tmp_path / "index"
    code = command.main(["--index", str(index), "--port", "8123", "--backend", "extractive", "--max-queue", "3"])
    assert code == 0
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123
    assert ingested == [([tiny_corpus], str(index))]
    assert seen["app"].title == "notes-rag"
