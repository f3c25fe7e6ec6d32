"""Loaders on real and broken files: each failure is a clear per-file error naming the file."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ingest.discover import scan_notes
from ingest.loaders import SUPPORTED_SUFFIXES, LoadedNote, load_note
from rag.core.errors import LoaderError, UnsupportedFileError


def _pdf_bytes(pages: list[str]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    return bytes(pdf.output())


def _error(path: Path, kind=LoaderError) -> str:
    with pytest.raises(kind) as info:
        load_note(path)
    assert path.name in str(info.value) and info.value.path == str(path)
    return info.value.reason


def test_markdown_and_text_keep_the_file_text_exactly(tmp_path):
    md = tmp_path / "a.md"
    md.write_bytes("# Title\r\n\r\nSome *text* with\u00a0nbsp.\r\n".encode())
    note = load_note(md)
    assert isinstance(note, LoadedNote) and note.kind == "markdown" and note.pages == []
    assert note.text == "# Title\r\n\r\nSome *text* with\u00a0nbsp.\r\n"
    txt = tmp_path / "b.txt"
    txt.write_bytes(b"\xef\xbb\xbfplain notes\n")
    assert load_note(txt).text == "plain notes\n" and load_note(txt).kind == "text"


def test_suffixes_cover_the_formats():
    assert {".md", ".markdown", ".txt", ".pdf", ".html", ".htm", ".ipynb"} <= SUPPORTED_SUFFIXES


def test_unknown_suffix_is_unsupported(tmp_path):
    p = tmp_path / "picture.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    assert "unsupported file type '.png'" in _error(p, UnsupportedFileError)


def test_binary_content_with_md_name(tmp_path):
    p = tmp_path / "notes.md"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    assert "binary" in _error(p)


def test_binary_without_nul_bytes_is_refused(tmp_path):
    p = tmp_path / "blob.txt"
    p.write_bytes(bytes(range(128, 256)) * 50)
    assert "undecodable" in _error(p)


def test_empty_and_blank_files(tmp_path):
    for name, data in [("empty.md", b""), ("blank.txt", b" \n\n\t\n"), ("empty.pdf", b""), ("e.ipynb", b"")]:
        p = tmp_path / name
        p.write_bytes(data)
        assert "empty" in _error(p)


def test_invalid_utf8_is_replaced_and_kept(tmp_path):
    p = tmp_path / "latin1.txt"
    p.write_bytes("Café notes: the EMA decay is 0.999 for diffusion.\n".encode("latin-1"))
    note = load_note(p)
    assert note.text == "Caf\ufffd notes: the EMA decay is 0.999 for diffusion.\n"


def test_missing_file_names_the_file(tmp_path):
    assert "cannot read" in _error(tmp_path / "gone.md")


def test_fifty_megabyte_text_file_loads_quickly(tmp_path):
    p = tmp_path / "big.txt"
    line = b"Gradient descent updates the weights against the gradient of the loss.\n"
    p.write_bytes(line * (50 * 2**20 // len(line) + 1))
    t0 = time.perf_counter()
    note = load_note(p)
    assert time.perf_counter() - t0 < 5.0
    assert len(note.text) >= 50 * 2**20 and note.text.startswith("Gradient descent")


def test_pdf_pages_and_offsets(tmp_path):
    p = tmp_path / "paper.pdf"
    p.write_bytes(_pdf_bytes(["First page about attention heads.", "Second page about EMA weights."]))
    note = load_note(p)
    assert note.kind == "pdf" and [n for _, n in note.pages] == [1, 2] and note.pages[0][0] == 0
    second = note.pages[1][0]
    assert "attention heads" in note.text[:second] and note.text[second:].startswith("Second page")


@pytest.mark.parametrize("cut", [0.5, 0.1])
def test_truncated_pdf(tmp_path, cut):
    data = _pdf_bytes(["Some text on a page."] * 3)
    p = tmp_path / "broken.pdf"
    p.write_bytes(data[: int(len(data) * cut)])
    assert "unreadable PDF" in _error(p)


def test_pdf_that_is_not_a_pdf(tmp_path):
    p = tmp_path / "fake.pdf"
    p.write_bytes(b"this is plain text pretending to be a PDF\n")
    assert "PDF" in _error(p)


HTML = """<!doctype html><html><head><title>Page</title><style>body{color:red}</style>
<script>var secret = "tracking code";</script></head><body>
<header>Site Header Menu</header><nav><a href="/">Home</a> <a href="/x">Archive</a></nav>
<main><h1>Batch normalization</h1><p>Batch norm normalizes each
feature over the <b>mini-batch</b>.</p><h2>Learned parameters</h2>
<ul><li>scale gamma</li><li>shift beta</li></ul>
<pre>def bn(x):
    return (x - x.mean()) / x.std()</pre></main>
<footer>Copyright footer text</footer><script>console.log("x")</script></body></html>"""


def test_html_text_only(tmp_path):
    p = tmp_path / "page.html"
    p.write_text(HTML, encoding="utf-8")
    note = load_note(p)
    assert note.kind == "html"
    for gone in ("tracking code", "color:red", "Site Header", "Archive", "Copyright footer", "console.log"):
        assert gone not in note.text
    assert "# Batch normalization" in note.text and "## Learned parameters" in note.text
    assert "Batch norm normalizes each feature over the mini-batch." in note.text
    assert "- scale gamma" in note.text
    assert "```\ndef bn(x):\n    return (x - x.mean()) / x.std()\n```" in note.text


def test_html_without_text_is_empty(tmp_path):
    p = tmp_path / "blank.htm"
    p.write_text("<html><body><script>1</script><nav>menu</nav></body></html>", encoding="utf-8")
    assert "empty" in _error(p)


NOTEBOOK = {
    "nbformat": 4, "nbformat_minor": 5,
    "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": ["# EMA\n", "Keep an average of weights."]},
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": "ema = 0.999 * ema + 0.001 * w",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["OUTPUT-SHOULD-NOT-APPEAR\n"]},
                     {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo="}}]},
        {"cell_type": "code", "metadata": {}, "source": [], "outputs": []},
    ],
}


def test_notebook_cells_without_outputs(tmp_path):
    p = tmp_path / "ema.ipynb"
    p.write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    note = load_note(p)
    assert note.kind == "ipynb"
    assert note.text == "# EMA\nKeep an average of weights.\n\n```python\nema = 0.999 * ema + 0.001 * w\n```\n"
    assert "OUTPUT" not in note.text and "iVBOR" not in note.text


def test_broken_notebooks(tmp_path):
    p = tmp_path / "bad.ipynb"
    p.write_text('{"cells": [', encoding="utf-8")
    assert "invalid notebook JSON" in _error(p)
    p.write_text('{"foo": 1}', encoding="utf-8")
    assert "not a Jupyter notebook" in _error(p)


@pytest.mark.parametrize("notebook, reason", [
    ({"cells": [{"cell_type": "code", "source": [1, 2]}]},
     "cell 0: 'source' must be a string or a list of strings (found a list holding int)"),
    ({"cells": [{"cell_type": "markdown", "source": "ok"}, {"cell_type": "code", "source": {"a": 1}}]},
     "cell 1: 'source' must be a string or a list of strings (found dict)"),
    ({"cells": [], "metadata": [1]}, "empty: no text found in the file"),
])
def test_hostile_notebooks_fail_with_the_field_named(tmp_path, notebook, reason):
    p = tmp_path / "bad.ipynb"
    p.write_text(json.dumps(notebook), encoding="utf-8")
    assert _error(p) == reason


def test_malformed_metadata_falls_back_to_python(tmp_path):
    p = tmp_path / "meta.ipynb"
    for meta in ([1], {"language_info": [1]}, {"kernelspec": "x"}, {"language_info": {"name": "```evil"}}):
        p.write_text(json.dumps({"metadata": meta, "cells": [{"cell_type": "code", "source": "x = 1"}]}))
        assert load_note(p).text == "```python\nx = 1\n```\n"


def test_deeply_nested_json_and_html(tmp_path):
    deep = tmp_path / "deep.ipynb"
    deep.write_text('{"cells": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert "nested too deeply" in _error(deep)
    page = tmp_path / "deep.html"
    page.write_text("<html><body>" + "<div><span>" * 5_000 + "deep text" + "</span></div>" * 5_000 + "</body></html>")
    assert load_note(page).text.strip() == "deep text"


def test_pdf_page_and_time_caps(tmp_path):
    from rag.core.settings import IngestSettings

    p = tmp_path / "long.pdf"
    p.write_bytes(_pdf_bytes(["page one", "page two", "page three"]))
    with pytest.raises(LoaderError, match=r"PDF has 3 pages, over the limit of 2 \(ingest.max_pdf_pages\)"):
        load_note(p, IngestSettings(max_pdf_pages=2))
    with pytest.raises(LoaderError, match=r"took over 0 s \(stopped at page 1 of 3; ingest.max_pdf_seconds\)"):
        load_note(p, IngestSettings(max_pdf_seconds=0.0))
    assert "page three" in load_note(p, IngestSettings(max_pdf_pages=3)).text


@pytest.mark.parametrize("error", [RecursionError("deep"), MemoryError(), NotImplementedError("filter"),
                                   __import__("zlib").error("bad stream")])
def test_any_pdf_parser_failure_is_a_loader_error(tmp_path, monkeypatch, error):
    import pypdf

    def explode(*args, **kwargs):
        raise error

    monkeypatch.setattr(pypdf, "PdfReader", explode)
    p = tmp_path / "x.pdf"
    p.write_bytes(_pdf_bytes(["text"]))
    assert _error(p).startswith(f"unreadable PDF ({type(error).__name__}")


def test_oversized_file_is_refused_with_the_limit(tmp_path):
    from rag.core.settings import IngestSettings

    p = tmp_path / "big.md"
    p.write_text("word " * 1000)
    with pytest.raises(LoaderError, match=r"file is 5,000 bytes, over the 4,096-byte limit"):
        load_note(p, IngestSettings(max_file_bytes=4096))


def _readable(root, include_unsupported=False):
    return [path for path, reason in scan_notes(root, include_unsupported) if reason is None]


def test_discovery_sorted_hidden_skipped(tmp_path):
    for rel in ["b.md", "a/z.txt", "a/c.pdf", ".obsidian/x.md", "a/.hidden.md", "img.png", "A.MD"]:
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("x", encoding="utf-8")
    names = [p.relative_to(tmp_path).as_posix() for p in _readable(tmp_path)]
    assert names == ["A.MD", "a/c.pdf", "a/z.txt", "b.md"]
    everything = [p.name for p in _readable(tmp_path, include_unsupported=True)]
    assert "img.png" in everything and "x.md" not in everything
    assert list(_readable(tmp_path / "b.md")) == [tmp_path / "b.md"]


def test_every_shared_note_loads(shared_notes):
    for path in _readable(shared_notes):
        note = load_note(path)
        assert note.text == path.read_text(encoding="utf-8")


def test_loaded_formats_chunk_with_headings_code_and_pages(tmp_path):
    from ingest.chunking import chunk_note
    from rag.core.settings import ChunkingSettings

    count = lambda s: len(s.split()) + 2  # noqa: E731
    nb = tmp_path / "ema.ipynb"
    nb.write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    (chunk,) = chunk_note("ema.ipynb", load_note(nb).text, ChunkingSettings(), count)
    assert chunk.heading == "EMA" and "```python\nema = 0.999 * ema + 0.001 * w\n```" in chunk.text
    page = tmp_path / "page.html"
    page.write_text(HTML, encoding="utf-8")
    headings = [c.heading for c in chunk_note("page.html", load_note(page).text,
                                              ChunkingSettings(max_tokens=20, min_tokens=1), count)]
    assert "Batch normalization > Learned parameters" in headings
    pdf = tmp_path / "paper.pdf"
    pdf.write_bytes(_pdf_bytes(["Attention heads attend to tokens. " * 20, "EMA weights are averaged. " * 20]))
    note = load_note(pdf)
    chunks = chunk_note("paper.pdf", note.text, ChunkingSettings(max_tokens=60, min_tokens=1), count,
                        pages=note.pages)
    assert {c.page for c in chunks} == {1, 2}
    assert all(("EMA" in c.text) == (c.page == 2) for c in chunks)
