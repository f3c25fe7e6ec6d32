"""What got indexed: skipped and failed files kept per root in INGEST.json, the status JSON and text, `rag status`."""
from __future__ import annotations

import io
import json
from types import SimpleNamespace

import pytest

from ingest.status import STATUS_FILE, index_status, print_status, read_outcomes, record_outcome
from rag.core.types import NoteMeta


def report(skipped=(), errors=(), **counts):
    fields = {"added": [], "updated": [], "removed": [], "unchanged": [], "chunks_embedded": 0, "chunks_total": 0,
              "seconds": 0.5}
    return SimpleNamespace(**{**fields, **counts}, skipped=list(skipped), errors=list(errors))


def test_a_folder_scan_replaces_its_lists_and_a_file_ingest_only_its_entry(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    for name in ("a.png", "b.ipynb", "c.md"):
        (notes / name).write_text("x")
    index = tmp_path / "index"
    record_outcome(index, [notes], report(skipped=[("a.png", "unsupported file type '.png'")],
                                          errors=[("b.ipynb", "not valid JSON")], added=["c.md"]))
    root = str(notes.resolve())
    assert read_outcomes(index)["roots"][root] == {"skipped": {"a.png": "unsupported file type '.png'"},
                                                   "failed": {"b.ipynb": "not valid JSON"}}
    record_outcome(index, [notes / "b.ipynb"], report(updated=["b.ipynb"]))      # fixed, ingested alone
    assert read_outcomes(index)["roots"][root] == {"skipped": {"a.png": "unsupported file type '.png'"},
                                                   "failed": {}}
    (notes / "a.png").unlink()
    record_outcome(index, [notes], report(unchanged=["b.ipynb", "c.md"]))          # the whole folder again
    data = read_outcomes(index)
    assert data["roots"][root] == {"skipped": {}, "failed": {}}
    assert data["last_ingest"]["unchanged"] == 2 and data["last_ingest"]["paths"] == [root]
    assert not list(index.glob("*.tmp"))


def test_an_unreadable_record_reads_as_empty(tmp_path):
    (tmp_path / STATUS_FILE).write_text("{broken")
    assert read_outcomes(tmp_path) == {"roots": {}, "last_ingest": None}


class Store:
    def notes(self):
        return [NoteMeta("ml/ema.md", "ml", "EMA", ("diffusion",)), NoteMeta("gan.md", "", "GANs", ())]

    def info(self):
        return {"store": "faiss", "version": "v-1", "chunks": 7, "notes": 2, "created": "t0", "updated": "t1",
                "dense": {"minilm": {"model_id": "sentence-transformers/all-MiniLM-L6-v2", "dim": 384}}}


def test_status_lists_every_file_with_its_state(tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "a.png").write_text("x")
    record_outcome(tmp_path, [notes], report(skipped=[("a.png", "unsupported file type '.png'")]))
    status = index_status(tmp_path, Store(), {"backend": "extractive", "llm": None})
    assert status["counts"] == {"indexed": 2, "skipped": 1, "failed": 0}
    assert status["files"][0] == {"source": "ml/ema.md", "state": "indexed", "folder": "ml", "title": "EMA",
                                  "tags": ["diffusion"]}
    assert status["files"][2]["reason"] == "unsupported file type '.png'"
    assert status["embedders"] == [{"name": "minilm", "model_id": "sentence-transformers/all-MiniLM-L6-v2",
                                    "dim": 384}]
    assert status["chunks"] == 7 and status["last_ingest"]["skipped"] == 1
    out = io.StringIO()
    print_status(status, out)
    text = out.getvalue()
    assert "2 notes, 7 passages" in text and "indexed  ml/ema.md #diffusion" in text
    assert "skipped  a.png: unsupported file type '.png'" in text


def test_status_without_an_index(tmp_path):
    status = index_status(tmp_path, None)
    assert status["exists"] is False and status["files"] == [] and status["last_ingest"] is None


@pytest.mark.slow
def test_rag_status_after_a_real_ingest(tiny_corpus, tmp_path, capsys):
    from rag.cli.main import main

    (tiny_corpus / "photo.png").write_bytes(b"\x89PNG")
    (tiny_corpus / "broken.ipynb").write_text("{not json")
    index = str(tmp_path / "index")
    assert main(["ingest", str(tiny_corpus), "--index", index, "--json"]) == 0
    capsys.readouterr()
    assert main(["status", "--json", "--index", index]) == 0
    status = json.loads(capsys.readouterr().out)
    states = {f["source"]: f["state"] for f in status["files"]}
    assert states == {"batchnorm.txt": "indexed", "diffusion.md": "indexed", "gan.md": "indexed",
                      "photo.png": "skipped", "broken.ipynb": "failed"}
    assert status["counts"] == {"indexed": 3, "skipped": 1, "failed": 1} and status["last_ingest"]["added"] == 3
    assert status["embedders"][0]["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    (tiny_corpus / "broken.ipynb").unlink()
    assert main(["ingest", str(tiny_corpus), "--index", index]) == 0
    assert main(["status", "--index", index]) == 0
    text = capsys.readouterr().out
    assert "files: 3 indexed, 1 skipped, 0 failed" in text and "broken.ipynb" not in text
    assert main(["status", "--index", str(tmp_path / "none")]) == 0
    assert "0 notes" in capsys.readouterr().out
