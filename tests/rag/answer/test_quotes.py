"""Quotes are exact substrings of the stored document text, found despite cleaning."""
import json
from pathlib import Path

import pytest

from rag.answer.quotes import line_of, locate, make_quote

DOC = "Title\n\nThe EMA copy\u00a0is updated  after every\nstep.\n- **LangServe**: A library for deploying chains.\n"


def test_exact_match_and_lines():
    q = make_quote(DOC, "Title")
    assert (q.text, q.start, q.start_line, q.end_line) == ("Title", 0, 1, 1)


def test_whitespace_and_nbsp_tolerant():
    q = make_quote(DOC, "The EMA copy is updated after every step.")
    assert q.text == DOC[q.start:q.end]
    assert q.text.startswith("The EMA copy\u00a0is") and q.text.endswith("step.")
    assert (q.start_line, q.end_line) == (3, 4)


def test_markup_removed_by_cleaning_still_found():
    q = make_quote(DOC, "LangServe: A library for deploying chains.")
    assert q is not None and q.text == DOC[q.start:q.end]
    assert "LangServe" in q.text and q.text.endswith("chains.")


def test_window_is_searched_first():
    doc = "alpha beta gamma delta. alpha beta gamma delta."
    assert locate(doc, "alpha beta gamma delta.", 10) == (24, 47)


def test_absent_sentence_gives_none():
    assert make_quote(DOC, "Nothing like this sentence appears anywhere at all") is None


def test_line_of():
    assert line_of("a\nb\nc", 4) == 3


DATA = Path(__file__).resolve().parents[3] / "eval" / "data"


@pytest.mark.parametrize("which", ["dev", "shared_probe_qa.jsonl", "shared_followups_probe.jsonl",
                                   "crosslingual_probe_qa.jsonl", "shared_probe3_qa.jsonl", "shared_probe4_qa.jsonl",
                                   "shared_probe5_qa.jsonl", "shared_probe6_qa.jsonl", "shared_probe7_qa.jsonl",
                                   "shared_probe8_qa.jsonl", "shared_probe9_qa.jsonl", "shared_probe10_qa.jsonl",
                                   "shared_probe11_qa.jsonl", "shared_probe12_qa.jsonl", "shared_probe13_qa.jsonl",
                                   "shared_probe14_qa.jsonl", "shared_probe15_qa.jsonl", "shared_probe16_qa.jsonl",
                                   "shared_probe17_qa.jsonl", "shared_probe18_qa.jsonl",
                                   "shared_probe19_qa.jsonl"])
def test_support_strings_of_the_shared_sets_quote_exactly(shared_notes, dev_qa, which):
    qa = dev_qa if which == "dev" else DATA / which
    rows = [json.loads(line) for line in qa.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        if not row["source"]:
            continue
        doc = (shared_notes / row["source"]).read_text(encoding="utf-8")
        for support in row["support"]:
            q = make_quote(doc, " ".join(support.split()))
            assert q is not None, support
            assert doc[q.start:q.end] == q.text
