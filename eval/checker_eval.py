"""Fit the checker on the calibration set and measure it (AUROC, accuracy at threshold) on labelled sets."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from eval.checker import FEATURES, SIGNS, WEIGHTS_PATH, Checker, auroc
from eval.labelled import DATA, Labelled, calibration_set, notes_set

EXAMPLES_LABELS = DATA / "examples_labels.json"
SHARED_LABELS = DATA / "shared_labels.json"


def _best_rows(checker: Checker, items: list[Labelled]) -> np.ndarray:
    """Per item, the feature row of the passage window the current model likes best."""
    out = []
    for it in items:
        rows, _ = checker.feature_rows(it.claim, it.passages)
        out.append(rows[int(np.argmax(checker.probability(rows)))])
    return np.asarray(out)


def kind_weights(items: list[Labelled]) -> np.ndarray:
    """Sample weights: each class half the total, each kind an equal share of its class (paraphrases count)."""
    counts = Counter(it.kind for it in items)
    kinds = {y: len({it.kind for it in items if it.supported == y}) for y in (True, False)}
    w = np.array([1.0 / (counts[it.kind] * kinds[it.supported]) for it in items])
    return w / w.mean()


def _logistic_fit(x: np.ndarray, y: np.ndarray, sample_w: np.ndarray, l2: float = 1e-3, steps: int = 3000,
                  lr: float = 1.0) -> tuple[np.ndarray, float]:
    """Weighted, L2-regularised logistic regression by projected gradient descent under the SIGNS constraints."""
    signs = np.asarray(SIGNS, dtype=np.float64)
    w, b = 0.5 * signs, 0.0
    for _ in range(steps):
        g = sample_w * (1.0 / (1.0 + np.exp(-(x @ w + b))) - y)
        w = w - lr * (x.T @ g / len(y) + l2 * w)
        w = np.where(w * signs < 0, 0.0, w)
        b -= lr * float(np.mean(g))
    return w, b


def fit(items: list[Labelled], encode, rounds: int = 5) -> Checker:
    """Multiple-instance logistic fit: refit on each item's best window under the previous model."""
    checker = Checker(np.asarray(SIGNS, dtype=np.float64), -2.0, 0.5, encode)
    y = np.array([it.supported for it in items], dtype=np.float64)
    sample_w = kind_weights(items)
    for _ in range(rounds):
        w, b = _logistic_fit(_best_rows(checker, items), y, sample_w)
        checker.weights, checker.bias = w, b
    scores = [checker.score(it.claim, it.passages) for it in items]
    checker.threshold = best_threshold(scores, list(y.astype(bool)), [it.kind for it in items])
    return checker


def best_threshold(scores: list[float], labels: list[bool], kinds: list[str] | None = None) -> float:
    """Threshold maximising accuracy averaged over kinds within each class, then over the two classes."""
    kinds = kinds or ["all"] * len(scores)
    cands = sorted(set(scores))
    mids = [(a + b) / 2 for a, b in zip(cands, cands[1:])] or cands
    groups = defaultdict(list)
    for s, y, k in zip(scores, labels, kinds):
        groups[(y, k)].append(s)

    def balanced(t: float) -> float:
        per_class = [[np.mean([(s >= t) == y for s in v]) for (yy, _), v in groups.items() if yy == y]
                     for y in (True, False)]
        return float(np.mean([np.mean(c) for c in per_class if c]))
    return float(max(mids, key=balanced))


def evaluate(checker: Checker, items: list[Labelled]) -> dict:
    """AUROC, accuracy at the checker's threshold, counts and per-kind rates of one labelled set."""
    scores = [checker.score(it.claim, it.passages) for it in items]
    labels = [it.supported for it in items]
    correct = [(s >= checker.threshold) == y for s, y in zip(scores, labels)]
    sup = {it.kind: it.supported for it in items}
    kinds = defaultdict(list)
    for it, s in zip(items, scores):
        kinds[it.kind].append((s >= checker.threshold) == it.supported)
    return {
        "n": len(items), "supported": sum(labels), "unsupported": len(labels) - sum(labels),
        "auroc": auroc(scores, labels), "accuracy": float(np.mean(correct)), "threshold": checker.threshold,
        "by_kind": {k: {"n": len(v), "correct": int(sum(v)), "supported": sup[k],
                        "accepted": int(sum(v)) if sup[k] else len(v) - int(sum(v))} for k, v in sorted(kinds.items())},
    }


def save(checker: Checker, path: Path = WEIGHTS_PATH, report: dict | None = None) -> None:
    """Write weights as JSON (no pickle)."""
    data = {"features": list(FEATURES), "weights": [round(float(w), 5) for w in checker.weights],
            "bias": round(checker.bias, 5), "threshold": round(checker.threshold, 5), "fitted_on": report}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def checker_report(checker: Checker, examples_dir: Path | None, shared_notes: Path | None) -> dict:
    """The checker's figures on the calibration set and on held-out sets from the example and shared notes."""
    out = {"threshold": checker.threshold, "calibration": evaluate(checker, calibration_set())}
    if examples_dir is not None and examples_dir.is_dir():
        out["examples_notes"] = evaluate(checker, notes_set(examples_dir, EXAMPLES_LABELS))
    if shared_notes is not None and shared_notes.is_dir():
        out["run_notes"] = evaluate(checker, notes_set(shared_notes, SHARED_LABELS, max_sentences=60))
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m eval.checker_eval [--calibrate] [--notes DIR]`."""
    from rag.index.embed import Embedder

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--calibrate", action="store_true", help="refit on eval/data/calibration.json and save")
    ap.add_argument("--examples", type=Path, default=Path(__file__).parent.parent / "examples" / "notes")
    ap.add_argument("--notes", type=Path, help="also evaluate on a set generated from this notes folder")
    args = ap.parse_args(argv)
    encode = Embedder.load().encode
    if args.calibrate:
        items = calibration_set()
        checker = fit(items, encode)
        save(checker, report=evaluate(checker, items))
    checker = Checker.load(encode)
    json.dump(checker_report(checker, args.examples, args.notes), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
