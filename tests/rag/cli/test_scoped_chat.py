"""Scoped questions and follow-ups end to end on a corpus with folders, inline tags and front-matter tags: the
--in / --tag / --file flags of `ask`, `rag search` and `rag chat`, JSON `filters` and `history` on POST /chat."""
from __future__ import annotations

import io
import json

import pytest

from rag.cli import main as cli
from rag.core.settings import load_settings, override

pytestmark = pytest.mark.slow

CORPUS = {
    "ml/diffusion.md": ("---\ntitle: Diffusion notes\ntags: [ml/diffusion]\n---\n# Diffusion\n\n"
                        "Diffusion models keep an exponential moving average (EMA) of the network weights. "
                        "The EMA weights give smoother samples than the raw weights.\n"),
    "ml/optim.md": ("# Adam\n\n#ml/optim Adam keeps an exponential moving average of the gradients and of the "
                    "squared gradients.\n"),
    "finance/stocks.md": ("# Stocks\n\nAn exponential moving average (EMA) of prices smooths a stock chart. "
                          "Traders compare a short EMA with a long one. #finance\n"),
    "journal/2024-01.txt": ("---\ntags: journal, reading\n---\nToday I read that an exponential moving average "
                            "forgets old values slowly.\n"),
}
QUESTION = "what does an exponential moving average smooth?"


@pytest.fixture(scope="module")
def scoped_index(tmp_path_factory):
    from ingest.pipeline import ingest_paths

    root = tmp_path_factory.mktemp("scoped")
    for source, text in CORPUS.items():
        (root / "notes" / source).parent.mkdir(parents=True, exist_ok=True)
        (root / "notes" / source).write_text(text, encoding="utf-8")
    settings = load_settings(env={}, index_dir=str(root / "index"), answer={"backend": "extractive"})
    ingest_paths([root / "notes"], settings, progress=False)
    return settings


def sources(items) -> set[str]:
    return {item["source"] for item in items}


@pytest.mark.parametrize("flags, allowed", [
    (["--in", "finance"], {"finance/stocks.md"}),
    (["--in", "ml"], {"ml/diffusion.md", "ml/optim.md"}),
    (["--tag", "ml"], {"ml/diffusion.md", "ml/optim.md"}),           # nested tags: ml/diffusion and ml/optim
    (["--tag", "#Journal"], {"journal/2024-01.txt"}),                # front matter, any case, with '#'
    (["--file", "*.txt"], {"journal/2024-01.txt"}),
    (["--in", "ml", "--tag", "ml/optim"], {"ml/optim.md"}),
])
def test_search_stays_inside_the_scope(scoped_index, flags, allowed, capsys):
    assert cli.main(["search", QUESTION, "--json", "-k", "3", "--index", scoped_index.index_dir, *flags]) == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert results and sources(results) <= allowed


def test_ask_answers_from_the_scope_only(scoped_index, capsys):
    common = ["--index", scoped_index.index_dir, "--backend", "extractive", "--json"]
    assert cli.main(["ask", QUESTION, "--in", "finance", *common]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert sources(answer["citations"]) == sources(answer["contexts"]) == {"finance/stocks.md"}
    assert cli.main(["ask", QUESTION, "--tag", "ml/diffusion", *common]) == 0
    assert sources(json.loads(capsys.readouterr().out)["citations"]) == {"ml/diffusion.md"}
    assert cli.main(["ask", QUESTION, "--in", "nowhere", *common]) == 3    # nothing in scope: refused
    assert json.loads(capsys.readouterr().out)["abstained"] is True


def test_chat_follow_up_in_a_scope_then_sources_and_a_new_conversation(scoped_index, monkeypatch, capsys):
    monkeypatch.setenv("RAG_CHAT_HISTORY", str(scoped_index.index_path / "history"))
    lines = ["What are EMA weights in diffusion models?", "What do they give?", "/sources 1", "/sources 9",
             "/new", "What do they give?", "/bogus", "/quit", "never read"]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    assert cli.main(["chat", "--index", scoped_index.index_dir, "--backend", "extractive", "--in", "ml"]) == 0
    out = capsys.readouterr().out
    assert "scope: {'folder': 'ml'}" in out
    assert "(understood as: What do EMA weights in diffusion models give?)" in out or \
        "(understood as: What do EMA weights give?)" in out
    assert "smoother samples" in out and "finance/stocks.md" not in out
    assert "passage:\n" in out and "(no source 9: the last answer has" in out
    assert "(new conversation)" in out and out.count("(understood as:") == 1   # after /new nothing to follow
    assert "unknown command /bogus" in out and "never read" not in out


def test_http_chat_with_filters_and_history(scoped_index):
    from fastapi.testclient import TestClient

    from serve.app import create_app

    settings = override(scoped_index, {"answer": {"backend": "extractive"}})
    with TestClient(create_app(settings), base_url="http://localhost") as client:
        first = client.post("/chat", json={"question": "What is an EMA of prices used for?",
                                           "filters": {"folder": "finance"}}).json()
        assert sources(first["citations"]) == {"finance/stocks.md"}
        history = [{"question": first["question"], "answer": first["answer"]}]
        second = client.post("/chat", json={"question": "What do traders compare it with?", "history": history,
                                            "filters": {"tags": ["finance"]}}).json()
        assert second["standalone_question"].startswith("What do traders compare")
        assert second["standalone_question"] != second["question"]
        assert sources(second["citations"]) == {"finance/stocks.md"} and "long one" in second["answer"]
        unscoped = client.post("/chat", json={"question": QUESTION, "filters": {"tags": ["journal"]}}).json()
        assert sources(unscoped["contexts"]) == {"journal/2024-01.txt"}
