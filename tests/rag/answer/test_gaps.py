"""The notes-gap log: refused questions appended privately (0600), read back, grouped by topic; the chain logs its
refusals; `rag gaps` prints them."""
from __future__ import annotations

import json
import logging
import stat

import numpy as np
import pytest

from rag.answer.gaps import GapLog, topics
from rag.core.types import Answer, Chunk, Filters, SearchResult


def refused(question, sources=("a.md", "a.md", "b.md"), standalone=None):
    contexts = [SearchResult(Chunk(s, f"H{i}", "t", 1, 1, 0, 1), 0.5 - i / 10) for i, s in enumerate(sources)]
    return Answer(question, "I could not find this in your notes.", True, [], contexts, "extractive", {},
                  standalone_question=standalone)


def test_record_appends_privately_and_reads_back(tmp_path):
    log = GapLog(tmp_path / "index" / "gaps.jsonl")
    log.record(refused("What is ZeRO offload?"))
    log.record(refused("How does it shard optimizer states?", standalone="How does ZeRO shard optimizer states?"),
               Filters(folder="ml"))
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    first, second = log.entries()
    assert first["question"] == "What is ZeRO offload?" and "standalone_question" not in first
    assert first["closest"] == [{"source": "a.md", "heading": "H0", "score": 0.5},
                                {"source": "a.md", "heading": "H1", "score": 0.4},
                                {"source": "b.md", "heading": "H2", "score": 0.3}]
    assert second["standalone_question"] == "How does ZeRO shard optimizer states?"
    assert second["filters"] == {"folder": "ml"}


def test_a_wider_mode_is_narrowed_and_bad_lines_skipped(tmp_path):
    path = tmp_path / "gaps.jsonl"
    path.write_text('{"question": "old"}\nnot json\n[1]\n', encoding="utf-8")
    path.chmod(0o644)
    log = GapLog(path)
    log.record(refused("new"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [e["question"] for e in log.entries()] == ["old", "new"]


def test_an_unwritable_log_warns_once_and_never_fails(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    log = GapLog(blocker / "gaps.jsonl")
    with caplog.at_level(logging.WARNING, logger="rag.gaps"):
        log.record(refused("q1"))
        log.record(refused("q2"))
    assert len([r for r in caplog.records if "notes-gap log" in r.message]) == 1
    assert log.entries() == []


def fake_embed(texts):
    """Questions about ZeRO point one way, about kelp another."""
    out = []
    for t in texts:
        v = np.array([1.0, 0.1, 0.0]) if "zero" in t.lower() else np.array([0.0, 0.1, 1.0])
        out.append(v / np.linalg.norm(v))
    return np.stack(out)


def test_topics_group_close_questions_and_name_them():
    entries = [{"time": "t1", "question": "What is ZeRO offload?", "closest": [{"source": "tools.md"}]},
               {"time": "t2", "question": "Where do kelp forests grow?", "closest": [{"source": "sea.md"}]},
               {"time": "t3", "question": "How does it shard state?", "standalone_question":
                "How does ZeRO shard optimizer state?", "closest": [{"source": "tools.md"}]}]
    grouped = topics(entries, fake_embed)
    assert [t["count"] for t in grouped] == [2, 1]
    assert grouped[0]["topic"].startswith("zero")
    assert [q["question"] for q in grouped[0]["questions"]] == ["How does it shard state?", "What is ZeRO offload?"]
    assert grouped[0]["closest"] == ["tools.md"] and grouped[1]["closest"] == ["sea.md"]
    assert topics([], fake_embed) == []


def test_the_chain_logs_its_refusals_only(make_chain, tmp_path):
    chain = make_chain("extractive")
    chain.gaps = GapLog(tmp_path / "gaps.jsonl")
    chain.answer("Who won the football world cup in 1998?")
    chain.answer("What is EMA in diffusion?")
    entries = chain.gaps.entries()
    assert [e["question"] for e in entries] == ["Who won the football world cup in 1998?"]
    assert entries[0]["closest"]


@pytest.mark.slow
def test_rag_gaps_groups_the_log(tmp_path, capsys):
    from rag.cli.main import main

    index = tmp_path / "index"
    log = GapLog(index / "gaps.jsonl")
    for q in ("How does ZeRO partition optimizer states?", "What does ZeRO stage 3 partition?",
              "Where do kelp forests grow?"):
        log.record(refused(q))
    assert main(["gaps", "--index", str(index)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("3 refused questions in 2 topics")
    assert "zero, partition" in text and "Where do kelp forests grow?" in text
    assert main(["gaps", "--json", "--index", str(index)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["refused"] == 3 and [t["count"] for t in data["topics"]] == [2, 1]
    assert main(["gaps", "--index", str(tmp_path / "empty")]) == 0
    assert "no refused questions yet" in capsys.readouterr().out
