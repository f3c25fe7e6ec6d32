"""`rag serve` flags reach uvicorn and the settings; with no index the default notes are ingested first."""
from __future__ import annotations

import uvicorn

from ingest import pipeline
from rag.cli.main import main


def test_serve_command_passes_flags(monkeypatch, tmp_path, tiny_corpus):
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    ingested = []
    def ingest_paths(paths, settings, progress=True):
        ingested.append((paths, settings.index_dir))
        return pipeline.IngestReport()

    monkeypatch.setattr(pipeline, "ingest_paths", ingest_paths)
    monkeypatch.setenv("RAG_NOTES", str(tiny_corpus))
    index = tmp_path / "index"
    code = main(["serve", "--index", str(index), "--port", "8123", "--backend", "extractive", "--max-queue", "3"])
    assert code == 0
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123
    assert ingested == [([tiny_corpus], str(index))]
    assert seen["app"].title == "notes-rag"


def test_serve_without_index_or_notes_still_starts(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setenv("RAG_NOTES", str(tmp_path / "no-notes"))
    assert main(["serve", "--index", str(tmp_path / "index"), "--backend", "extractive"]) == 0
    assert seen["app"].title == "notes-rag"
