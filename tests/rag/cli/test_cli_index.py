"""`rag ingest` and `rag search` end to end (in-process CLI, real MiniLM)."""
from __future__ import annotations

import json

import pytest

from rag.cli.main import main

pytestmark = pytest.mark.slow


def test_ingest_then_search_json_text_and_questions(tiny_corpus, tmp_path, capsys):
    index = str(tmp_path / "idx")
    assert main(["ingest", str(tiny_corpus), "--index", index, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(report["added"]) == ["batchnorm.txt", "diffusion.md", "gan.md"] and report["chunks_embedded"] > 0

    assert main(["ingest", str(tiny_corpus), "--index", index]) == 0
    assert "0 chunks embedded" in capsys.readouterr().out

    assert main(["search", "why sample from the EMA weights", "--index", index, "--json", "-k", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["question"] == "why sample from the EMA weights" and len(out["results"]) == 2
    top = out["results"][0]
    assert top["source"] == "diffusion.md" and "EMA" in top["text"]
    assert set(top) == {"chunk_id", "source", "heading", "start_line", "end_line", "text", "score"}

    assert main(["search", "mode collapse", "--index", index, "--mode", "bm25"]) == 0
    text = capsys.readouterr().out
    assert "[1] gan.md" in text and "Mode collapse" in text

    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "gamma and beta"}\n\n{"question": "discriminator", "id": 2}\n')
    assert main(["search", "--questions", str(questions), "--json", "--index", index]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["question"] for x in lines] == ["gamma and beta", "discriminator"]
    assert lines[0]["results"][0]["source"] == "batchnorm.txt" and lines[1]["results"][0]["source"] == "gan.md"


def test_errors_are_clear(tiny_corpus, tmp_path, capsys, monkeypatch):
    missing = tmp_path / "no-index"
    assert main(["search", "anything", "--index", str(missing)]) == 2
    assert f"no index at {missing}; run rag ingest PATH" in capsys.readouterr().err
    monkeypatch.setenv("RAG_INDEX", str(missing))
    assert main(["search", "anything"]) == 2
    assert str(missing) in capsys.readouterr().err
    assert main(["ingest", str(tmp_path / "nowhere"), "--index", str(missing)]) == 2
    assert "no such file" in capsys.readouterr().err
    questions = tmp_path / "bad.jsonl"
    questions.write_text('{"q": 1}\n')
    assert main(["search", "--questions", str(questions), "--json", "--index", str(missing)]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err
