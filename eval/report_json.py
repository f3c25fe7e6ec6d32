"""report.json: the DESIGN.md keys plus variants, checker figures and config."""
from __future__ import annotations

import json
import math
from pathlib import Path

REQUIRED = {
    "retrieval": ("hit@1", "hit@5", "mrr@10"),
    "answer": ("keyword_recall", "semantic_similarity"),
    "grounding": ("supported_sentence_rate", "hallucination_rate"),
    "citations": ("precision", "support_hit_rate"),
    "abstention": ("unanswerable_abstain_rate", "false_abstain_rate"),
    "latency": ("p50_total_s", "p95_total_s", "p50_first_token_s"),
}


def _clean(obj):
    """JSON-safe copy: NaN/inf become null, floats rounded to 4 places."""
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else round(obj, 4)
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def missing_keys(report: dict) -> list[str]:
    """DESIGN.md keys absent from a report ('block.key')."""
    out = [k for k in ("n", "per_question") if k not in report]
    out += [f"{b}.{k}" for b, keys in REQUIRED.items() for k in keys if k not in report.get(b, {})]
    return out


def write_json(report: dict, path: Path) -> Path:
    """Write report.json."""
    path.write_text(json.dumps(_clean(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
