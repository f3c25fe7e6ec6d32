"""GET /status over HTTP: the live version's notes plus what the last ingests skipped or could not load."""
from __future__ import annotations

import pytest

from ingest.status import record_outcome
from rag.answer.gaps import GapLog
from rag.core.settings import load_settings, override


class Report:
    added, updated, removed, unchanged, chunks_embedded, chunks_total, seconds = [], [], [], [], 0, 2, 0.1
    skipped = [("scan.tiff", "unsupported file type '.tiff'")]
    errors = [("bad.pdf", "not a PDF")]


def test_status_lists_indexed_skipped_and_failed(client_for, tmp_path, fake_store):
    settings = override(load_settings(env={}), {"index_dir": str(tmp_path / "index")})
    record_outcome(settings.index_path, [fake_store.root], Report())
    body = client_for(settings, store=fake_store).get("/status").json()
    assert body["counts"] == {"indexed": 2, "skipped": 1, "failed": 1}
    assert [(f["source"], f["state"]) for f in body["files"]] == [
        ("diffusion.md", "indexed"), ("gan.md", "indexed"), ("scan.tiff", "skipped"), ("bad.pdf", "failed")]
    assert body["files"][3]["error"] == "not a PDF"
    assert body["model"] == {"backend": "fake", "llm": None} and body["last_ingest"]["failed"] == 1


def test_status_before_any_index(tmp_path):
    from fastapi.testclient import TestClient

    from serve.app import create_app

    settings = override(load_settings(env={}), {"index_dir": str(tmp_path / "none"),
                                                "answer": {"backend": "extractive"}})
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        body = client.get("/status").json()
    assert body["exists"] is False and body["counts"] == {"indexed": 0, "skipped": 0, "failed": 0}


@pytest.mark.slow
def test_gaps_lists_refused_questions_by_topic(client_for, tmp_path, fake_store):
    from rag.answer.gaps import GAPS_FILE
    from rag.core.types import Answer

    settings = override(load_settings(env={}), {"index_dir": str(tmp_path / "index")})
    client = client_for(settings, store=fake_store)
    assert client.get("/gaps").json() == {"refused": 0, "topics": []}
    log = GapLog(settings.index_path / GAPS_FILE)
    for question in ("How does ZeRO partition optimizer states?", "What does ZeRO stage 3 partition?"):
        log.record(Answer(question, "no", True, [], [], "fake", {}))
    body = client.get("/gaps").json()
    assert body["refused"] == 2 and len(body["topics"]) == 1 and body["topics"][0]["count"] == 2
