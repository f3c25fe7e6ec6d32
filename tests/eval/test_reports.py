"""Report writing from a hand-made report dict: DESIGN.md keys, Markdown tables, self-contained HTML with images."""
import json

from eval.report import write_reports
from eval.report_json import missing_keys


def _variant(kind, x):
    if kind == "retrieval":
        return {"kind": kind, "retrieval": {"hit@1": x, "hit@5": x, "mrr@10": x, "ndcg@10": x}}
    return {"kind": kind, "answer": {"keyword_recall": x, "semantic_similarity": x},
            "grounding": {"supported_sentence_rate": x, "hallucination_rate": 1 - x},
            "citations": {"precision": x, "support_hit_rate": x},
            "abstention": {"unanswerable_abstain_rate": x, "false_abstain_rate": 0.1, "precision": x, "accuracy": x},
            "latency": {"p50_total_s": 1.0, "p95_total_s": 2.0, "p50_first_token_s": 0.5},
            "timings": [{"first_token_s": 0.5, "total_s": 1.0}, {"first_token_s": 0.7, "total_s": 2.0}]}


def make_report():
    prim = _variant("answer", 0.8)
    q = {"id": "q1", "type": "factual", "question": "What is EMA?", "gold": "An average.", "answerable": True,
         "abstained": False, "answer": "EMA is an average [1]. It is <b>magic</b>.",
         "citations": [{"n": 1, "source": "a.md", "start_line": 1, "end_line": 2, "quote": "EMA is an average"}],
         "keyword_recall": 1.0, "semantic_similarity": 0.9, "correct": True, "timings": {"total_s": 1.0},
         "retrieval": {"first_hit_rank": 1}, "variants": {"local:grounded": {"correct": True, "abstained": False}},
         "grounding": {"sentences": [{"text": "EMA is an average.", "score": 1.0, "supported": True, "cites": [1]},
                                     {"text": "It is <b>magic</b>.", "score": 0.1, "supported": False, "cites": []}]}}
    return {"n": 1, "retrieval": {"hit@1": 1.0, "hit@5": 1.0, "mrr@10": 1.0, "ndcg@10": 1.0},
            **{k: prim[k] for k in ("answer", "grounding", "citations", "abstention", "latency")},
            "per_question": [q], "primary": "local:grounded",
            "variants": {"hybrid": _variant("retrieval", 0.9), "dense": _variant("retrieval", 0.7),
                         "local:grounded": prim, "extractive": _variant("answer", 0.6)},
            "config": {"retrieval_mode": "hybrid"},
            "checker": {"threshold": 0.7, "calibration": {"n": 4, "supported": 2, "unsupported": 2, "auroc": 0.75,
                                                          "accuracy": 0.75, "threshold": 0.7,
                                                          "by_kind": {"verbatim": {"n": 2, "correct": 2}}}}}


def test_write_reports(tmp_path):
    paths = write_reports(make_report(), tmp_path)
    assert [p.name for p in paths] == ["report.json", "report.md", "report.html", "retrieval.png", "answers.png",
                                       "latency.png"]
    data = json.loads((tmp_path / "report.json").read_text())
    assert missing_keys(data) == [] and data["variants"]["dense"]["retrieval"]["hit@1"] == 0.7
    md = (tmp_path / "report.md").read_text()
    assert "| dense | 0.700 |" in md and "| calibration | 4 | 2 | 2 | 0.750 |" in md
    page = (tmp_path / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 3
    assert '<span class="uns"' in page and "&lt;b&gt;magic&lt;/b&gt;" in page and "<b>magic" not in page
    assert "local:grounded:✓" in page


def test_follow_up_section(tmp_path):
    report = make_report()
    side = {"keyword_recall": 0.9, "support_hit_rate": 0.8, "unanswerable_refused": 1.0, "false_abstain_rate": 0.0,
            "accuracy": 0.85}
    followups = {"n": 1, "n_unanswerable": 0, "with_history": side,
                 "without_history": {**side, "keyword_recall": 0.2},
                 "per_question": [{"id": "f1", "type": "follow-up", "question": "Why does it help?",
                                   "standalone_question": "Why does EMA help?",
                                   "with_history": {"abstained": False, "keyword_recall": 1.0, "correct": True,
                                                    "support_hit": True},
                                   "without_history": {"abstained": True, "keyword_recall": 0.0, "correct": False,
                                                       "support_hit": False}}]}
    report["variants"]["local:grounded"]["followups"] = followups
    report["followups"] = followups
    write_reports(report, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "## Follow-ups (1 questions with earlier turns, 0 to refuse)" in md
    assert "| local:grounded | with_history | 0.900 | 0.800 | 1.000 | 0.000 | 0.850 |" in md
    assert "| local:grounded | without_history | 0.200 |" in md
    assert "| f1 | follow-up | Why does it help? | Why does EMA help? | 1.000 | refused |" in md
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Follow-ups" in page and "<td>Why does EMA help?</td>" in page


def test_missing_keys_named():
    report = make_report()
    del report["latency"]["p95_total_s"]
    del report["n"]
    assert missing_keys(report) == ["n", "latency.p95_total_s"]
