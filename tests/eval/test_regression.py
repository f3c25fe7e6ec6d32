"""A small real eval (one note, five dev questions, extractive backend) checked against eval/thresholds.json,
plus the report files it writes and a headless-Chromium look at report.html."""
import json
import shutil
from pathlib import Path

import pytest

from eval.dataset import load_qa
from eval.report import write_reports
from eval.report_json import missing_keys
from eval.runner import parse_variants, run_eval
from rag.core.settings import load_settings

THRESHOLDS = Path(__file__).resolve().parents[2] / "eval" / "thresholds.json"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_eval(shared_dir, tmp_path_factory):
    spec = json.loads(THRESHOLDS.read_text())
    tmp = tmp_path_factory.mktemp("eval")
    notes = tmp / "notes"
    notes.mkdir()
    for name in spec["notes"]:
        shutil.copy(shared_dir / "notes" / name, notes / name)
    items = [i for i in load_qa(shared_dir / "eval" / "dev_qa.jsonl") if i.id in spec["questions"]]
    settings = load_settings(env={})
    variants = parse_variants("hybrid,bm25,extractive", ("extractive", "grounded"))
    report = run_eval(items, notes, settings, variants, "extractive")
    paths = write_reports(report, tmp / "out")
    return spec, report, tmp / "out", paths


def _get(report, dotted):
    block, key = dotted.split(".", 1)
    return report[block][key]


def test_no_regression_against_thresholds(small_eval):
    spec, report, _, _ = small_eval
    fails = [f"{k} = {_get(report, k):.3f} < {v}" for k, v in spec["min"].items() if _get(report, k) < v]
    fails += [f"{k} = {_get(report, k):.3f} > {v}" for k, v in spec["max"].items() if _get(report, k) > v]
    assert not fails, "regressions: " + "; ".join(fails)


def test_report_files_keys_and_self_contained_html(small_eval):
    _, report, out, paths = small_eval
    data = json.loads((out / "report.json").read_text())
    assert missing_keys(data) == []
    assert data["n"] == 5 and len(data["per_question"]) == 5
    assert set(data["variants"]) == {"hybrid", "bm25", "extractive"}
    assert {p.name for p in paths} >= {"report.json", "report.md", "report.html", "retrieval.png", "answers.png",
                                       "latency.png"}
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "src=\"http" not in page and "<script" not in page and "<link" not in page
    assert "d018" in page and "hallucination" in page
    assert "| extractive |" in (out / "report.md").read_text()


def test_report_html_renders_in_chromium(small_eval):
    from eval.screenshot import CHROMIUM, screenshot
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (run `make browser`)")
    _, _, out, _ = small_eval
    png = screenshot(out / "report.html", out / "report_screenshot.png")
    assert png.stat().st_size > 20_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
