"""report.md: headline figures, variants side by side, checker calibration, failing questions."""
from __future__ import annotations

from pathlib import Path

from eval.plots import ANSWER_BARS, RETRIEVAL_BARS

SHORT = ("kw recall", "sem. sim.", "supported sent.", "halluc.", "cite prec.", "support hit", "refuse unans.",
         "false refuse", "accuracy")


def _f(x) -> str:
    return "n/a" if x is None else (f"{x:.3f}" if isinstance(x, float) else str(x))


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
        ["| " + " | ".join(_f(c) for c in r) + " |" for r in rows]


def checker_lines(checker: dict | None) -> list[str]:
    """The checker's AUROC, accuracy and per-kind acceptance per labelled set, with counts."""
    if not checker:
        return []
    lines = [f"## Grounding checker (threshold {_f(checker['threshold'])})", ""]
    rows = [[name, s["n"], s["supported"], s["unsupported"], s["auroc"], s["accuracy"],
             ", ".join(f"{k}{'+' if v.get('supported', True) else '-'} {v.get('accepted', v['correct'])}/{v['n']}"
                       for k, v in s["by_kind"].items())]
            for name, s in checker.items() if isinstance(s, dict)]
    header = ["labelled set", "n", "supported", "unsupported", "AUROC", "accuracy",
              "accepted by kind (+ supported, - unsupported)"]
    return lines + _table(header, rows) + [""]


def type_lines(types: dict | None) -> list[str]:
    """The primary variant's figures per question type."""
    if not types:
        return []
    rows = [[t, v["n"], v["keyword_recall"], v["support_hit"], v["unsupported_sentences"], v["refused"], v["correct"]]
            for t, v in types.items()]
    header = ["type", "n", "kw recall", "support hit", "unsupported sent.", "refused", "correct"]
    return ["## By question type (primary variant)", ""] + _table(header, rows) + [""]


def calibration_lines(cal: dict | None) -> list[str]:
    """Shipped, fitted and cross-validated abstention thresholds with the figures they give."""
    if not cal:
        return []
    keys = ("keyword_recall", "support_hit", "unsupported_sentences", "must_refuse_refused", "false_refusals",
            "correct")
    rows = [[name, *(cal[name][k] for k in keys)] for name in ("shipped", "fitted", "cross_validated")]
    return ([f"## Abstention thresholds: shipped, fitted on these questions, {cal['folds']}-fold cross-validated", ""]
            + _table(["thresholds", "kw recall", "support hit", "unsupported sent.", "must-refuse refused",
                      "false refusals", "correct"], rows)
            + ["", f"shipped {cal['shipped']['thresholds']}; fitted {cal['fitted']['thresholds']}; per fold "
               f"{cal['cross_validated']['thresholds']}", ""])


def render_md(report: dict, plots: dict[str, Path]) -> str:
    """The Markdown report text."""
    ab, lat = report["abstention"], report["latency"]
    out = [f"# notes-rag evaluation ({report['n']} questions, primary variant `{report['primary']}`)", "",
           f"- retrieval ({report['config']['retrieval_mode']}): hit@1 {_f(report['retrieval']['hit@1'])}, "
           f"hit@5 {_f(report['retrieval']['hit@5'])}, MRR@10 {_f(report['retrieval']['mrr@10'])}, "
           f"nDCG@10 {_f(report['retrieval'].get('ndcg@10'))}",
           f"- answers: keyword recall {_f(report['answer']['keyword_recall'])} (abstentions count 0), "
           f"semantic similarity {_f(report['answer']['semantic_similarity'])} (answered)",
           f"- grounding: supported sentences {_f(report['grounding']['supported_sentence_rate'])}, "
           f"hallucination rate {_f(report['grounding']['hallucination_rate'])} (answers with an unsupported sentence)",
           f"- citations: precision {_f(report['citations']['precision'])}, "
           f"support hit {_f(report['citations']['support_hit_rate'])}",
           f"- abstention: refuses {_f(ab['unanswerable_abstain_rate'])} of unanswerable, falsely refuses "
           f"{_f(ab['false_abstain_rate'])} of answerable; precision {_f(ab['precision'])}, "
           f"accuracy {_f(ab['accuracy'])} "
           "(correct = refused unanswerable, or answered with keyword recall >= 0.5 and a citation holding the "
           "gold support)",
           f"- latency: p50 first token {_f(lat['p50_first_token_s'])} s, p50 total {_f(lat['p50_total_s'])} s, "
           f"p95 total {_f(lat['p95_total_s'])} s", ""]
    ret = {k: v for k, v in report["variants"].items() if v["kind"] == "retrieval"}
    if ret:
        rows = [[k, *(v["retrieval"][m] for m in RETRIEVAL_BARS)] for k, v in ret.items()]
        out += ["## Retriever variants", ""] + _table(["variant", *RETRIEVAL_BARS], rows) + [""]
    ans = {k: v for k, v in report["variants"].items() if v["kind"] == "answer"}
    if ans:
        out += ["## Answer variants", ""] + _table(
            ["variant", *SHORT, "p50 total s"],
            [[k, *(v[b][m] for b, m in ANSWER_BARS), v["latency"]["p50_total_s"]] for k, v in ans.items()]) + [""]
    out += type_lines(report.get("by_type"))
    out += calibration_lines(report.get("calibration"))
    out += checker_lines(report.get("checker"))
    out += ["## Plots", ""] + [f"![{k}]({p.name})" for k, p in plots.items()] + [""]
    out += ["## Questions (primary variant)", ""]
    rows = []
    for q in report["per_question"]:
        bad = [s["text"] for s in q["grounding"]["sentences"] if not s["supported"]]
        rows.append([q["id"], q["type"], "yes" if q["correct"] else "NO", "yes" if q["abstained"] else "",
                     q["keyword_recall"], len(bad)])
    out += _table(["id", "type", "correct", "abstained", "keyword recall", "unsupported sentences"], rows)
    return "\n".join(out) + "\n"


def write_md(report: dict, plots: dict[str, Path], path: Path) -> Path:
    """Write report.md."""
    path.write_text(render_md(report, plots), encoding="utf-8")
    return path
