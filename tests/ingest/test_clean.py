"""Cleaning: inline normalisation, boilerplate selection, and its effect on the real notes."""
from __future__ import annotations

import re

import pytest

from ingest.chunking import chunk_note
from ingest.clean import boilerplate_lines, clean_code, clean_heading, clean_prose
from ingest.loaders import load_note
from rag.core.settings import ChunkingSettings


def words(s: str) -> int:
    return len(s.split()) + 2


def test_clean_prose_links_and_spaces():
    s = "See\u00a0[[Backprop]] and [[notes/EMA#decay|the EMA note]] ![[fig.png]] or [docs](http://x.y)\u200b."
    assert clean_prose(s) == "See Backprop and the EMA note or docs."
    assert clean_prose("[[Note#Section]]") == "Note Section"
    assert clean_prose("  a \t b\u202fc  ") == "a\tb c"   # a tab separates table cells: kept, once
    assert clean_prose("![diagram](img/a.png) text") == "diagram text"


def test_clean_code_keeps_indentation():
    assert clean_code("\tif x:\u00a0 \n") == "    if x:"
    assert clean_code("    return [[1, 2]]") == "    return [[1, 2]]"


def test_clean_heading():
    assert clean_heading("## **Batch Norm:** ##") == "Batch Norm"


UI_TAIL = """Sampling

The simplest sampling method is to randomly sample from the distribution of the model outputs.

Comments

You have to be logged in to add a comment

Insert Table

ESC
Customization
Align:
Preview:

Insert Horizontal Rule

#000000

Preview:

Edit Table

ESC
Customization:
Align:

Upload Jupyter Notebook

ESC

Upload a Jupyter notebook and embed the resulting HTML in the text editor.

Insert Chart

ESC
"""


def test_ui_run_at_the_end_is_dropped_and_content_kept():
    lines = UI_TAIL.split("\n")
    dropped = boilerplate_lines(lines, set())
    kept = [lines[i] for i in range(len(lines)) if i not in dropped and lines[i].strip()]
    assert kept[:2] == ["Sampling", "The simplest sampling method is to randomly sample from the distribution "
                        "of the model outputs."]
    assert not any(s in ("ESC", "Align:", "#000000", "Insert Chart") for s in kept)


def test_slide_titles_and_short_lists_are_not_boilerplate():
    text = "\n\n".join(["Text to Text", "Text to Image", "Text to Audio", "Text to Video", "More...",
                        "Hallucination", "Gen AI Tools", "1. ChatGPT\n2. Bard\n3. Claude\n4. Cohere\n5. Murf",
                        "Model Parameters", "GPT-3\t175B\t300B\nBLOOM\t176B\t366B"])
    assert boilerplate_lines(text.split("\n"), set()) == set()


def test_repeated_logo_paragraphs_are_dropped_but_protected_lines_never():
    lines = ["Slide one", "", "bepc", "CT Programs", "", "Body text of the first slide goes here.", "",
             "Slide two", "", "bepc", "CT Programs", "", "Body of the second slide."]
    assert boilerplate_lines(lines, set()) == {2, 3, 9, 10}
    assert boilerplate_lines(lines, {2, 3}) == {9, 10}


@pytest.fixture(scope="module")
def shared_chunks(shared_notes):
    settings = ChunkingSettings()
    out = {}
    for path in sorted(shared_notes.glob("*.txt")):
        note = load_note(path)
        out[path.name] = (note.text, chunk_note(path.name, note.text, settings, words))
    return out


def test_site_boilerplate_of_003_is_gone(shared_chunks):
    text, chunks = shared_chunks["003_954135a2bd73ec15.txt"]
    joined = "\n".join(c.text for c in chunks)
    for ui in ("ESC", "Insert Math Markup", "Embed TikTok Video", "#ffffff", "Upload Lexical State",
               "Upload a Jupyter notebook and embed", "You have to be logged in", "Date Created"):
        assert ui in text and ui not in joined
    assert "The simplest sampling method" in joined
    last_line = text.rstrip("\n").count("\n") + 1
    assert max(c.end_line for c in chunks) < last_line - 100


def test_slide_footer_and_titles_of_001_not_repeated(shared_chunks):
    text, chunks = shared_chunks["001_3b91d0e56cdc68e4.txt"]
    for footer in ("bepc", "bepec", "CT Programs"):
        assert footer in text and not any(re.search(rf"\b{footer}\b", c.text) for c in chunks)
    title = "Contrastive Learning Image Pre-Training[CLIP]"
    assert text.count(title) == 6 and not any(title in c.text for c in chunks)
    assert any(c.heading == title for c in chunks)


def test_headings_detected_in_plain_text(shared_chunks):
    headings = {name: {c.heading for c in chunks} for name, (_, chunks) in shared_chunks.items()}
    assert {"Batch Normalization", "EMA Network", "Variational Autoencoders"} <= headings["001_3b91d0e56cdc68e4.txt"]
    assert {"Self-Attention", "Scaled Dot-Product Attention", "The Decoder"} <= headings["003_954135a2bd73ec15.txt"]
    assert {"Backpropagation", "Diffusion Models"} <= headings["000_8ea14325224bcb1f.txt"]
    assert any(h.startswith("Hierarchy of neural methods > ") for h in headings["002_ea0d0fd7df9d6d4a.txt"])


def test_cleaning_keeps_the_gold_support_passages(shared_chunks, dev_qa):
    import json

    norm = lambda s: " ".join(s.split())  # noqa: E731
    total = found = 0
    for line in dev_qa.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if not row["support"]:
            continue
        text, chunks = shared_chunks[row["source"]]
        for support in row["support"]:
            total += 1
            found += any(norm(support) in norm(text[c.start_char:c.end_char]) and norm(support) in norm(c.text)
                         for c in chunks)
    assert total > 30 and found / total >= 0.95
