"""`ask` on the Qdrant store: with no index yet it ingests the default notes into Qdrant (local mode), then answers
with citations whose quotes are exact substrings of the note, as on FAISS."""
from __future__ import annotations

import json

import pytest

from rag.cli import main as cli

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("store", ["faiss", "qdrant"])
def test_ask_answers_with_citations_from_each_store(store, tiny_corpus, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAG_NOTES", str(tiny_corpus))
    monkeypatch.delenv("RAG_BACKEND", raising=False)
    argv = ["ask", "What is EMA in diffusion?", "--index", str(tmp_path / "index"), "--store", store,
            "--backend", "extractive", "--json"]
    assert cli.main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert not data["abstained"] and data["citations"]
    for citation in data["citations"]:
        assert citation["quote"] in (tiny_corpus / citation["source"]).read_text(encoding="utf-8")
    assert data["citations"][0]["source"] == "diffusion.md" and "[1]" in data["answer"]
    marker = (tmp_path / "index" / "STORE.json")
    assert marker.is_file() == (store == "qdrant")
