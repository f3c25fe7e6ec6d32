"""Latency percentiles of first token and total answer time."""
from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in [0, 100]); NaN for no values."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def latency_summary(timings: Sequence[dict]) -> dict:
    """p50/p95 of total_s and first_token_s over answer timings dicts."""
    total = [t["total_s"] for t in timings if "total_s" in t]
    first = [t.get("first_token_s", t.get("total_s")) for t in timings if "total_s" in t]
    return {"p50_total_s": percentile(total, 50), "p95_total_s": percentile(total, 95),
            "p50_first_token_s": percentile(first, 50), "p95_first_token_s": percentile(first, 95)}
