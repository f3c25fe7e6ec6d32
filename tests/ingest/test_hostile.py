"""A notes folder full of hostile files next to a good note: the ingest ends, names each bad file, indexes the
good note and never indexes anything outside the folder."""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from ingest import pipeline
from ingest.pipeline import ingest_paths
from rag.core.settings import load_settings
from rag.index.store import IndexStore

SECRET = "zebra-marmalade-outside-the-root"
GOOD = "# Diffusion\n\nDiffusion models keep an exponential moving average (EMA) of the weights.\n"


def _pdf_start() -> bytes:
    return b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Kids [3 0 R"


@pytest.fixture
def hostile_notes(tmp_path) -> Path:
    """Each hostile file of issue 14 beside one good note."""
    root = tmp_path / "notes"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "outside.md"
    outside.write_text(f"# Outside\n\n{SECRET}\n")
    (root / "good.md").write_text(GOOD)
    (root / "sub" / "kept.md").write_text("# Kept\n\nBatch normalization learns a scale and a shift.\n")
    (root / "bad_source.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": [1, 2]}]}))
    (root / "bad_metadata.ipynb").write_text(json.dumps({"metadata": [1], "cells": [{"cell_type": "code"}]}))
    (root / "deep.ipynb").write_text('{"cells": ' + "[" * 200_000 + "]" * 200_000 + "}")
    (root / "deep.html").write_text("<html><body>" + "<div>" * 20_000 + "</div>" * 20_000 + "</body></html>")
    (root / "broken.pdf").write_bytes(_pdf_start())
    (root / "leak.md").symlink_to(outside)
    if Path("/etc/hostname").is_file():
        (root / "hostname.md").symlink_to("/etc/hostname")
    (root / "alias.md").symlink_to("sub/kept.md")
    os.mkfifo(root / "pipe.md")
    (root / "huge.txt").write_bytes(b"weights " * 200_000)
    return root


def _ingest_with_deadline(paths, settings, seconds: float = 300.0, **kwargs):
    """Run the ingest in a thread so a hang fails the test instead of blocking it."""
    outcome: dict = {}
    thread = threading.Thread(target=lambda: outcome.update(report=ingest_paths(paths, settings, progress=False,
                                                                                **kwargs)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the ingest hung"
    assert "report" in outcome, "the ingest raised (see the thread's traceback above)"
    return outcome["report"]


def _check_hostile_report(report, root: Path, settings) -> None:
    errors, skipped = dict(report.errors), dict(report.skipped)
    assert sorted(report.added) == ["alias.md", "good.md", "sub/kept.md"]
    assert "found a list holding int" in errors["bad_source.ipynb"]
    assert errors["bad_metadata.ipynb"] == "empty: no text found in the file"
    assert "nested too deeply" in errors["deep.ipynb"]
    assert errors["deep.html"] == "empty: no text found in the file"
    assert errors["broken.pdf"].startswith("unreadable PDF")
    assert "outside the notes folder" in skipped["leak.md"]
    if (root / "hostname.md").is_symlink():
        assert "outside the notes folder" in skipped["hostname.md"]
    assert skipped["pipe.md"] == "a FIFO, not a regular file"
    assert skipped["huge.txt"].startswith("file is 1,600,000 bytes, over the 1,000,000-byte limit")
    store = IndexStore.open(settings.index_path)
    try:
        assert store.sources() == ["alias.md", "good.md", "sub/kept.md"]
        everything = " ".join(text for _, text in (row for row in store.conn.execute(
            "SELECT source, text FROM documents")))
        assert SECRET not in everything and "weights weights" not in everything
    finally:
        store.close()


@pytest.mark.slow
def test_hostile_corpus_with_the_real_embedder(hostile_notes, tmp_path, capsys):
    settings = load_settings(env={}, index_dir=str(tmp_path / "index"), ingest={"max_file_bytes": 1_000_000})
    report = _ingest_with_deadline([hostile_notes], settings)
    _check_hostile_report(report, hostile_notes, settings)
    pipeline.print_report(report)
    listed = capsys.readouterr().err
    for name in ("bad_source.ipynb", "bad_metadata.ipynb", "deep.ipynb", "deep.html", "broken.pdf", "leak.md",
                 "pipe.md", "huge.txt"):
        assert f" {name}: " in listed
    assert str(hostile_notes) not in listed and "5 file(s) could not be indexed" in listed


@pytest.mark.usefixtures("fake_embedding_model")
def test_hostile_corpus(hostile_notes, tmp_path):
    settings = load_settings(env={}, index_dir=str(tmp_path / "index"), ingest={"max_file_bytes": 1_000_000})
    _check_hostile_report(_ingest_with_deadline([hostile_notes], settings), hostile_notes, settings)


@pytest.mark.usefixtures("fake_embedding_model")
def test_a_known_note_that_turns_hostile_leaves_the_index(tmp_path):
    root = tmp_path / "notes"
    root.mkdir()
    (root / "good.md").write_text(GOOD)
    (root / "later.md").write_text("# Later\n\nAttention scales by the square root of d.\n")
    (root / "other.md").write_text("# Other\n\nGANs pit a generator against a discriminator.\n")
    settings = load_settings(env={}, index_dir=str(tmp_path / "index"))
    assert len(ingest_paths([root], settings, progress=False).added) == 3
    (root / "later.md").unlink()
    os.mkfifo(root / "later.md")
    (root / "other.md").unlink()
    (root / "other.md").symlink_to(tmp_path / "elsewhere.md")
    (tmp_path / "elsewhere.md").write_text(f"# Elsewhere\n\n{SECRET}\n")
    report = _ingest_with_deadline([root], settings)
    assert sorted(report.removed) == ["later.md", "other.md"] and report.unchanged == ["good.md"]
    assert dict(report.skipped)["later.md"] == "a FIFO, not a regular file"


@pytest.mark.usefixtures("fake_embedding_model")
def test_a_chunker_crash_costs_only_its_file(tiny_corpus, tmp_path, monkeypatch):
    from ingest import chunking

    real = chunking.chunk_note

    def chunk_note(source, *args, **kwargs):
        if source == "gan.md":
            raise RecursionError(f"maximum recursion depth exceeded in {tiny_corpus / source}")
        return real(source, *args, **kwargs)

    monkeypatch.setattr(chunking, "chunk_note", chunk_note)
    report = ingest_paths([tiny_corpus], load_settings(env={}, index_dir=str(tmp_path / "index")), progress=False)
    assert sorted(report.added) == ["batchnorm.txt", "diffusion.md"]
    assert report.errors == [("gan.md", "unexpected RecursionError: maximum recursion depth exceeded in gan.md")]


@pytest.mark.usefixtures("fake_embedding_model")
def test_a_loader_crash_of_any_type_costs_only_its_file(tiny_corpus, tmp_path, monkeypatch):
    import ingest.loaders

    real = ingest.loaders.load_note

    def load_note(path, limits=None):
        if path.name == "gan.md":
            raise KeyError("cells")
        return real(path, limits)

    monkeypatch.setattr(ingest.loaders, "load_note", load_note)
    report = ingest_paths([tiny_corpus], load_settings(env={}, index_dir=str(tmp_path / "index")), progress=False)
    assert sorted(report.added) == ["batchnorm.txt", "diffusion.md"]
    assert report.errors == [("gan.md", "unexpected KeyError: 'cells'")]
