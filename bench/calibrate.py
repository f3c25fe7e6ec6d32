"""Re-calibrate the abstention thresholds of settings.answer from a bench/answers.py --dump file.

python bench/calibrate.py DUMP.json [--variant extractive:extractive] [--max-false 0.05]
Grid-searches min_retrieval_score, min_evidence_score and unknown_term_min_dense for the most must-refuse
questions refused with at most --max-false of answerable ones refused, preferring thresholds in the middle of
the widest gap (margin) so that new questions over the same notes are not decided by a hair.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

REFUSE = {"unanswerable", "adversarial-unanswerable"}


def refuses(cov: dict, t_dense: float, t_ev: float, t_unknown: float) -> bool:
    """The rule of rag.answer.abstain.decide on recorded signals."""
    return (cov["top_dense"] < t_dense or cov["top_evidence"] < t_ev
            or (bool(cov["unknown_terms"]) and cov["top_dense"] < t_unknown))


def main(argv: list[str] | None = None) -> int:
    """Print the best thresholds and their rates."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dump", type=Path)
    p.add_argument("--variant", default=None, help="which variant's records (default: the first)")
    p.add_argument("--max-false", type=float, default=0.05)
    args = p.parse_args(argv)
    dump = json.loads(args.dump.read_text(encoding="utf-8"))
    rows = dump[args.variant] if args.variant else next(iter(dump.values()))
    rows = [r for r in rows if r.get("coverage")]
    pos = [r["coverage"] for r in rows if r["type"] in REFUSE]
    neg = [r["coverage"] for r in rows if r["type"] not in REFUSE]
    grid = [x / 100 for x in range(20, 71, 1)]
    best = None
    for t in itertools.product(grid[:30], grid[:35], grid):
        false = sum(refuses(c, *t) for c in neg) / len(neg)
        if false > args.max_false:
            continue
        hit = sum(refuses(c, *t) for c in pos) / len(pos)
        margin = min([abs(c["top_dense"] - t[0]) for c in pos + neg] + [abs(c["top_evidence"] - t[1]) for c in pos + neg])
        key = (hit, -false, margin)
        if best is None or key > best[0]:
            best = (key, t)
    if best is None:
        print("no thresholds meet --max-false", file=sys.stderr)
        return 1
    (hit, neg_false, margin), (t_dense, t_ev, t_unknown) = best
    print(json.dumps({"min_retrieval_score": t_dense, "min_evidence_score": t_ev, "unknown_term_min_dense": t_unknown,
                      "must_refuse_refused": hit, "false_refusal": -neg_false, "margin": round(margin, 4),
                      "n_refuse": len(pos), "n_answerable": len(neg)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
