"""Matplotlib PNGs: metric bars per variant and the latency distribution."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RETRIEVAL_BARS = ("hit@1", "hit@5", "mrr@10", "ndcg@10")
ANSWER_BARS = (("answer", "keyword_recall"), ("answer", "semantic_similarity"),
               ("grounding", "supported_sentence_rate"), ("grounding", "hallucination_rate"),
               ("citations", "precision"), ("citations", "support_hit_rate"),
               ("abstention", "unanswerable_abstain_rate"), ("abstention", "false_abstain_rate"),
               ("abstention", "accuracy"))


def _bars(ax, names: list[str], labels: list[str], values: list[list[float]], title: str) -> None:
    width = 0.8 / max(1, len(names))
    for j, (name, vals) in enumerate(zip(names, values)):
        xs = [i + j * width - 0.4 + width / 2 for i in range(len(labels))]
        bars = ax.bar(xs, vals, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, rotation=90, padding=2)
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=9)
    ax.set_ylim(0, 1.15)
    ax.set_title(title)
    ax.legend(fontsize=8, ncols=min(4, len(names)), loc="upper left")
    ax.grid(axis="y", alpha=0.3)


def _bar_figure(names: list[str], labels: list[str], values: list[list[float]], title: str,
                size: tuple[float, float], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=size, dpi=100)
    _bars(ax, names, labels, values, title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def retrieval_plot(report: dict, path: Path) -> Path | None:
    """Grouped bars of retrieval metrics per retriever variant."""
    vs = {k: v for k, v in report["variants"].items() if v["kind"] == "retrieval"}
    if not vs:
        return None
    return _bar_figure(list(vs), list(RETRIEVAL_BARS), [[v["retrieval"].get(m, 0.0) for m in RETRIEVAL_BARS]
                                                         for v in vs.values()],
                       "Retrieval per variant (answerable questions)", (9, 4), path)


def answer_plot(report: dict, path: Path) -> Path | None:
    """Grouped bars of answer, grounding, citation and abstention metrics per answer variant."""
    vs = {k: v for k, v in report["variants"].items() if v["kind"] == "answer"}
    if not vs:
        return None
    labels = [k.replace("_rate", "").replace("_", " ") for _, k in ANSWER_BARS]
    return _bar_figure(list(vs), labels, [[v[b].get(k) or 0.0 for b, k in ANSWER_BARS] for v in vs.values()],
                       "Answers per variant (hallucination and false abstain: lower is better)", (11, 4.5), path)


def latency_plot(report: dict, path: Path) -> Path | None:
    """Box plot of total and first-token latency per answer variant."""
    answers = {k: v["timings"] for k, v in report["variants"].items() if v["kind"] == "answer" and v.get("timings")}
    if not answers:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), dpi=100, sharey=True)
    for ax, key in zip(axes, ("first_token_s", "total_s")):
        data = [[t.get(key, 0.0) for t in rows] for rows in answers.values()]
        ax.boxplot(data, tick_labels=list(answers), showmeans=True)
        ax.set_title(f"{key.replace('_s', '').replace('_', ' ')} latency (s)")
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def write_plots(report: dict, out: Path) -> dict[str, Path]:
    """All PNGs into `out`; name -> path for those that had data."""
    made = {"retrieval": retrieval_plot(report, out / "retrieval.png"),
            "answers": answer_plot(report, out / "answers.png"),
            "latency": latency_plot(report, out / "latency.png")}
    return {k: v for k, v in made.items() if v is not None}
