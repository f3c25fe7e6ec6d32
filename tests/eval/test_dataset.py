"""QA dataset loading: the DESIGN.md format and clear errors for malformed lines."""
import json

import pytest

from eval.dataset import load_qa
from rag.core.errors import DatasetError

GOOD = {"id": "q1", "question": "What is EMA?", "answer": "An average.", "support": ["moving average"],
        "source": "a.md", "type": "definition", "answer_keywords": ["average"]}


def write(tmp_path, lines):
    p = tmp_path / "qa.jsonl"
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    p.write_text(text + "\n", encoding="utf-8")
    return p


def test_loads_good_lines_and_skips_blank(tmp_path):
    unans = {"id": "q2", "question": "What is HNSW?", "answer": "", "support": [], "source": None,
             "type": "unanswerable", "answer_keywords": []}
    items = load_qa(write(tmp_path, [GOOD, "", unans]))
    assert [i.id for i in items] == ["q1", "q2"]
    assert items[0].answerable and not items[1].answerable
    assert items[0].support == ("moving average",) and items[1].line == 3


def test_real_dev_set_loads(dev_qa):
    items = load_qa(dev_qa)
    assert len(items) == 70 and sum(not i.answerable for i in items) == 21


@pytest.mark.parametrize("bad, field", [
    ("{not json", None),
    ([1, 2], None),
    ({"question": "x"}, "'id'"),
    ({"id": "q", "question": ""}, "'question'"),
    ({**GOOD, "support": "moving average"}, "'support'"),
    ({**GOOD, "answer_keywords": [1]}, "'answer_keywords'"),
    ({**GOOD, "source": 3}, "'source'"),
    ({**GOOD, "support": []}, "'support'"),
])
def test_malformed_line_names_file_line_and_field(tmp_path, bad, field):
    path = write(tmp_path, [GOOD | {"id": "ok"}, bad])
    with pytest.raises(DatasetError) as err:
        load_qa(path)
    msg = str(err.value)
    assert f"{path}:2" in msg
    if field:
        assert f"field {field}" in msg


def test_duplicate_ids_missing_file_and_empty(tmp_path):
    with pytest.raises(DatasetError, match="duplicate id 'q1' \\(first on line 1\\)"):
        load_qa(write(tmp_path, [GOOD, GOOD]))
    with pytest.raises(DatasetError, match="file not found"):
        load_qa(tmp_path / "missing.jsonl")
    with pytest.raises(DatasetError, match="no questions"):
        load_qa(write(tmp_path, [""]))


def test_italian_keywords_are_read_and_checked(tmp_path):
    from eval.dataset import load_qa
    p = tmp_path / "qa.jsonl"
    p.write_text(json.dumps({**GOOD, "type": "cross-lingual", "answer_keywords_it": ["media"]}) + "\n")
    assert load_qa(p)[0].answer_keywords_it == ("media",)
    p.write_text(json.dumps({**GOOD, "answer_keywords_it": "media"}) + "\n")
    with pytest.raises(DatasetError, match="answer_keywords_it"):
        load_qa(p)
