"""Per-question-type figures of one answer variant: where a change helps or hurts shows by kind of question."""
from __future__ import annotations

from collections.abc import Sequence


def _mean(values: list) -> float | None:
    return sum(values) / len(values) if values else None


def by_type(rows: Sequence[dict]) -> dict[str, dict]:
    """type -> n, keyword recall (refusals count 0), support hit (answered), unsupported sentence share,
    refused share, correct share; answerable types report false refusals, must-refuse types their refusals."""
    out: dict[str, dict] = {}
    for qtype in sorted({r["type"] for r in rows}):
        group = [r for r in rows if r["type"] == qtype]
        answered = [r for r in group if not r["abstained"]]
        sentences = [s for r in answered for s in r["grounding"]["sentences"]]
        answerable = group[0]["answerable"]
        out[qtype] = {
            "n": len(group), "answerable": answerable,
            "keyword_recall": _mean([r["keyword_recall"] for r in group]) if answerable else None,
            "support_hit": _mean([r["grounding"]["support_hit"] for r in answered]) if answerable else None,
            "unsupported_sentences": _mean([not s["supported"] for s in sentences]),
            "refused": _mean([r["abstained"] for r in group]),
            "correct": _mean([r["correct"] for r in group]),
        }
    return out
