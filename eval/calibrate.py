"""Fit the abstention thresholds of settings.answer on a QA set, with the chain's own rule (rag.answer.abstain.decide).

python -m eval.calibrate --qa FILE --notes DIR [--index DIR] [--max-false 0.05]
Coverage signals need no LLM (retrieval and evidence selection only). Grid-searches min_retrieval_score,
min_evidence_score and unknown_term_min_dense for the most must-refuse questions refused with at most --max-false of
answerable ones refused, preferring thresholds in the middle of the widest gap (margin). Fit on part of a set and
report on the rest (`rag eval`): rates printed here are on the questions it was fitted to.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from eval.dataset import QAItem, load_qa
from rag.answer import abstain
from rag.core.settings import AnswerSettings, Settings, load_settings, override

GRID = [x / 100 for x in range(20, 71)]


def coverages(settings: Settings, items: list[QAItem]) -> list[abstain.Coverage]:
    """The abstention signals of each question, as the chain measures them."""
    from rag.answer.chain import build_chain
    from rag.answer.turn import Turn

    chain = build_chain(settings, backend="extractive")
    return [chain.select(chain.retrieve(Turn(it.question, time.perf_counter()))).coverage for it in items]


def refused(covs: list[abstain.Coverage], answer: AnswerSettings) -> list[bool]:
    """Whether the production rule refuses each question under these settings."""
    return [abstain.decide(c, answer) is not None for c in covs]


def fit(covs: list[abstain.Coverage], answerable: list[bool], answer: AnswerSettings, max_false: float) -> dict | None:
    """The best thresholds and their rates, or None when no grid point keeps false refusals within `max_false`."""
    pos = [c for c, a in zip(covs, answerable) if not a]
    neg = [c for c, a in zip(covs, answerable) if a]
    best = None
    for t_dense, t_ev, t_unknown in itertools.product(GRID[:30], GRID[:35], GRID):
        s = replace(answer, min_retrieval_score=t_dense, min_evidence_score=t_ev, unknown_term_min_dense=t_unknown)
        false = sum(refused(neg, s)) / max(1, len(neg))
        if false > max_false:
            continue
        hit = sum(refused(pos, s)) / max(1, len(pos))
        margin = min([abs(c.similarity - t_dense) for c in covs] + [abs(c.top_evidence - t_ev) for c in covs])
        key = (hit, -false, margin)
        if best is None or key > best[0]:
            best = (key, (t_dense, t_ev, t_unknown))
    if best is None:
        return None
    (hit, neg_false, margin), (t_dense, t_ev, t_unknown) = best
    return {"min_retrieval_score": t_dense, "min_evidence_score": t_ev, "unknown_term_min_dense": t_unknown,
            "must_refuse_refused": hit, "false_refusal": -neg_false, "margin": round(margin, 4),
            "n_refuse": len(pos), "n_answerable": len(neg)}


def main(argv: list[str] | None = None) -> int:
    """Print the best thresholds and their rates."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--qa", required=True, type=Path, help="QA JSON Lines file")
    p.add_argument("--notes", required=True, type=Path, help="notes folder, ingested into a temp index")
    p.add_argument("--index", type=Path, help="use this index instead of ingesting --notes")
    p.add_argument("--max-false", type=float, default=0.05, help="largest share of answerable questions refused")
    args = p.parse_args(argv)
    from eval.runner import ingest_into
    items = load_qa(args.qa)
    settings = load_settings()
    with tempfile.TemporaryDirectory(prefix="rag-calibrate-") as tmp:
        settings = (override(settings, {"index_dir": str(args.index)}) if args.index
                    else ingest_into(args.notes, settings, Path(tmp) / "index"))
        covs = coverages(settings, items)
    result = fit(covs, [it.answerable for it in items], settings.answer, args.max_false)
    if result is None:
        print("no thresholds meet --max-false", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
