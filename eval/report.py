"""Write every report file (JSON, Markdown, HTML, PNG plots) into one folder."""
from __future__ import annotations

from pathlib import Path

from eval.plots import write_plots
from eval.report_html import write_html
from eval.report_json import write_json
from eval.report_md import write_md


def write_reports(report: dict, out: Path) -> list[Path]:
    """report.json, report.md, report.html and the PNGs; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plots = write_plots(report, out)
    return [write_json(report, out / "report.json"), write_md(report, plots, out / "report.md"),
            write_html(report, plots, out / "report.html"), *plots.values()]
