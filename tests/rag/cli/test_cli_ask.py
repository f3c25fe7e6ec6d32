"""`ask`: exit codes (0 answered, 3 abstained, 2 usage/config), answer JSON, --questions JSON lines."""
import json
import subprocess
import sys

import pytest

from rag.cli import main as cli


def run_ask(argv):
    return cli.main(["ask", *argv])


@pytest.fixture
def index_args(tiny_index, monkeypatch):
    monkeypatch.delenv("RAG_BACKEND", raising=False)
    return ["--index", tiny_index.index_dir, "--backend", "extractive"]


def test_answered_prints_answer_and_sources(index_args, capsys):
    assert run_ask(["What does batch normalization do?", *index_args]) == 0
    out = capsys.readouterr().out
    assert "[1]" in out and "Sources:" in out and "batchnorm.txt" in out and "line" in out


def test_abstained_exit_code_and_json(index_args, capsys):
    assert run_ask(["How does YOLO detect objects in one pass?", *index_args, "--json"]) == 3
    data = json.loads(capsys.readouterr().out)
    assert data["abstained"] is True and data["citations"] == [] and data["backend"] == "extractive"


def test_json_answer_shape(index_args, capsys):
    assert run_ask(["What is mode collapse in GANs?", *index_args, "--json", "-k", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"question", "answer", "abstained", "citations", "contexts", "backend", "timings"} <= set(data)
    assert len(data["contexts"]) <= 3 and data["citations"][0]["quote"]
    assert set(data["citations"][0]) >= {"n", "chunk_id", "source", "heading", "start_line", "end_line", "quote"}


def test_questions_file_gives_one_line_each(index_args, tmp_path, capsys):
    qa = tmp_path / "q.jsonl"
    qa.write_text('{"question": "What is EMA in diffusion?"}\n\n{"question": "How does YOLO work?"}\n')
    assert run_ask(["--questions", str(qa), "--json", *index_args]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["abstained"] for x in lines] == [False, True]


@pytest.mark.parametrize("argv", [[], ["q?", "--questions", "x.jsonl", "--json"], ["q?", "-k", "0"],
                                  ["--questions", "missing.jsonl", "--json"], ["--questions", "x.jsonl"]])
def test_usage_errors_exit_2(index_args, argv, capsys):
    assert run_ask([*argv, *index_args]) == 2
    assert "error:" in capsys.readouterr().err


def test_missing_index_ingests_default_notes(tiny_index, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAG_NOTES", tiny_index.notes_dir)
    index = tmp_path / "fresh"
    assert run_ask(["What is EMA in diffusion?", "--index", str(index), "--backend", "extractive", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["citations"]
    assert index.exists()


def test_missing_index_and_notes_is_config_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RAG_NOTES", str(tmp_path / "no-notes"))
    assert run_ask(["What is EMA?", "--index", str(tmp_path / "fresh"), "--backend", "extractive"]) == 2
    assert "no notes at" in capsys.readouterr().err


def test_unknown_gguf_is_config_error(index_args, monkeypatch, capsys):
    monkeypatch.setenv("RAG_GGUF", "/nonexistent/model.gguf")
    assert run_ask(["What is EMA?", *index_args[:2], "--backend", "local"]) == 2


@pytest.mark.slow
def test_console_script_exits_with_the_code_after_writing_everything(index_args):
    """ask_script ends the process with os._exit: the answer and sources must be out, the code kept."""
    code = "from rag.cli.main import ask_script; ask_script()"
    done = subprocess.run([sys.executable, "-c", code, "What does batch normalization do?", *index_args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Sources:" in done.stdout and "batchnorm.txt" in done.stdout
    usage = subprocess.run([sys.executable, "-c", code, "--backend", "nope", "q"], capture_output=True, text=True)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
