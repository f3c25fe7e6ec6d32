"""report.html: one self-contained page (PNG plots inlined as base64), variants and per-question outcomes."""
from __future__ import annotations

import base64
import html
from pathlib import Path

from eval.report_md import render_md

_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px;max-width:1240px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px}table{border-collapse:collapse;width:100%;margin:8px 0}
td,th{border:1px solid #ccc;padding:4px 6px;font-size:13px;vertical-align:top;text-align:left}th{background:#f2f2f2}
.ok{background:#e7f6e7}.bad{background:#fde8e8}.abst{background:#eef2fb}
.uns{background:#ffd6d6;text-decoration:underline wavy #c00}.cite{color:#555;font-size:12px}
img{max-width:100%;border:1px solid #ddd;margin:6px 0}.num{text-align:right;white-space:nowrap}
.small{font-size:12px;color:#555}"""


def _e(x) -> str:
    return html.escape("" if x is None else str(x))


def _n(x) -> str:
    return "n/a" if x is None else (f"{x:.3f}" if isinstance(x, float) else str(x))


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{_e(path.stem)}" src="data:image/png;base64,{data}">'


def _md_tables(md: str, start: str, stop: str) -> str:
    """Convert the Markdown tables between two headings of report.md into HTML tables."""
    lines = md.split("\n")
    try:
        i = lines.index(start)
    except ValueError:
        return ""
    tables: list[list[str]] = []
    for line in lines[i + 1:]:
        if line.startswith("## ") and line != start:
            break
        if not line.startswith("|"):
            if tables and tables[-1]:
                tables.append([])
            continue
        if line.startswith("|---"):
            continue
        if not tables:
            tables.append([])
        cells = [c.strip() for c in line.strip("|").split("|")]
        tag = "th" if not tables[-1] else "td"
        tables[-1].append("<tr>" + "".join(f"<{tag}>{_e(c)}</{tag}>" for c in cells) + "</tr>")
    return "".join("<table>" + "".join(rows) + "</table>" for rows in tables if rows)


def _answer_cell(q: dict) -> str:
    bad = {s["text"] for s in q["grounding"]["sentences"] if not s["supported"]}
    parts = []
    for s in q["grounding"]["sentences"]:
        cites = "".join(f"[{n}]" for n in s["cites"])
        cls = ' class="uns"' if s["text"] in bad else ""
        parts.append(f'<span{cls} title="support {s["score"]:.2f}">{_e(s["text"])}</span>{_e(cites)}')
    body = " ".join(parts) or _e(q["answer"])
    cites = "".join(f'<div class="cite">[{c["n"]}] {_e(c["source"])} l.{c["start_line"]}-{c["end_line"]}: '
                    f'“{_e(c["quote"][:160])}”</div>' for c in q["citations"])
    return body + cites


def _question_rows(report: dict) -> str:
    rows = []
    for q in report["per_question"]:
        cls = "abst" if q["abstained"] and q["correct"] else ("ok" if q["correct"] else "bad")
        r = q.get("retrieval") or {}
        others = " ".join(f'{_e(k)}:{"✓" if v["correct"] else "✗"}' for k, v in q.get("variants", {}).items())
        rows.append(
            f'<tr class="{cls}"><td>{_e(q["id"])}<div class="small">{_e(q["type"])}</div></td>'
            f'<td>{_e(q["question"])}<div class="small">gold: {_e(q["gold"][:200])}</div></td>'
            f'<td>{_answer_cell(q)}</td>'
            f'<td class="num">{"correct" if q["correct"] else "wrong"}{" (abstained)" if q["abstained"] else ""}'
            f'<div class="small">kw {_n(q["keyword_recall"])}<br>hit rank {_e(r.get("first_hit_rank", "-"))}'
            f'<br>{q["timings"].get("total_s", 0):.2f} s</div><div class="small">{others}</div></td></tr>')
    return ("<table><tr><th>id</th><th>question</th><th>answer (unsupported sentences highlighted) and citations</th>"
            "<th>outcome</th></tr>" + "".join(rows) + "</table>")


def render_html(report: dict, plots: dict[str, Path]) -> str:
    """The HTML report text."""
    md = render_md(report, plots)
    headline = "".join(f"<li>{_e(line[2:])}</li>" for line in md.split("\n") if line.startswith("- "))
    sections = [f"<h1>{_e(md.splitlines()[0][2:])}</h1><ul>{headline}</ul>"]
    for title in ("## Retriever variants", "## Answer variants"):
        table = _md_tables(md, title, "")
        if table:
            sections.append(f"<h2>{_e(title[3:])}</h2>{table}")
    for name in ("retrieval", "answers", "latency"):
        if name in plots:
            sections.append(_img(plots[name]))
    for prefix in ("## Follow-ups", "## Grounding checker"):
        heading = next((line for line in md.split("\n") if line.startswith(prefix)), None)
        if heading:
            sections.append(f"<h2>{_e(heading[3:])}</h2>{_md_tables(md, heading, '')}")
    sections.append("<h2>Questions (primary variant)</h2>" + _question_rows(report))
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>notes-rag evaluation</title>'
            f"<style>{_CSS}</style></head><body>{''.join(sections)}</body></html>")


def write_html(report: dict, plots: dict[str, Path], path: Path) -> Path:
    """Write report.html."""
    path.write_text(render_html(report, plots), encoding="utf-8")
    return path
