"""Answer quality and latency of backends/modes on a QA set, side by side (the chain's figures of issue 4).

python bench/answers.py --index DIR [--qa ../shared/eval/dev_qa.jsonl] [--variants local:grounded,extractive,local:free]
Prints keyword recall, support hit of citations, unsupported-sentence rate, refusal rates and latency per
variant, with the first variant's ratio to each other one; `--json` prints the rows; `--dump FILE` writes
per-question diagnostics (abstention signals) for calibration (bench/calibrate.py).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REFUSE = {"unanswerable", "adversarial-unanswerable"}


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _sentences(answer: str) -> list[str]:
    from rag.answer.citations import parse_answer
    return [c.text for c in parse_answer(answer, 10_000)]


def run_variant(settings, backend: str, mode: str | None, rows: list[dict], scorer) -> tuple[dict, list[dict]]:
    """Answer every row with one variant; aggregate metrics and per-question records."""
    from rag.answer.chain import build_chain
    chain = build_chain(settings, backend=backend, mode=mode)
    chain.answer("warm up")
    per = []
    for row in rows:
        ans = chain.answer(row["question"])
        rec = {"id": row["id"], "type": row["type"], "abstained": ans.abstained, "answer": ans.answer,
               "timings": ans.timings, "coverage": ans.diagnostics.get("coverage")}
        if row["type"] not in REFUSE and not ans.abstained:
            kws = row["answer_keywords"]
            rec["keyword_recall"] = sum(k.lower() in ans.answer.lower() for k in kws) / len(kws) if kws else 1.0
            sup = [_norm(s) for s in row["support"]]
            rec["support_hit"] = any(any(s[:60] in _norm(c.quote) or _norm(c.quote)[:60] in s for s in sup)
                                     for c in ans.citations)
            sents = _sentences(ans.answer)
            passages = [r.chunk.text for r in ans.contexts]
            best = scorer.best(sents, passages) if sents else []
            rec["unsupported"] = sum(b.score < settings.answer.support_threshold for b in best)
            rec["sentences"] = len(sents)
        per.append(rec)
    answerable = [r for r in per if r["type"] not in REFUSE]
    answered = [r for r in answerable if not r["abstained"]]
    refuse = [r for r in per if r["type"] in REFUSE]
    ttft = [r["timings"]["first_token_s"] for r in per]
    total = [r["timings"]["total_s"] for r in per]
    n_sent = sum(r["sentences"] for r in answered) or 1
    agg = {"variant": f"{backend}:{chain.mode}",
           "keyword_recall": statistics.mean(r["keyword_recall"] for r in answered) if answered else 0.0,
           "support_hit": statistics.mean(float(r["support_hit"]) for r in answered) if answered else 0.0,
           "unsupported_sentences": sum(r["unsupported"] for r in answered) / n_sent,
           "refused_must_refuse": sum(r["abstained"] for r in refuse) / max(1, len(refuse)),
           "false_refusal": sum(r["abstained"] for r in answerable) / max(1, len(answerable)),
           "p50_first_token_s": statistics.median(ttft), "p50_total_s": statistics.median(total)}
    return agg, per


def main(argv: list[str] | None = None) -> int:
    """Run the variants and print the table."""
    from rag.answer.ground import SupportScorer
    from rag.core.settings import load_settings
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--index", required=True)
    p.add_argument("--qa", default="../shared/eval/dev_qa.jsonl")
    p.add_argument("--variants", default="local:grounded,extractive,local:free")
    p.add_argument("--json", action="store_true")
    p.add_argument("--dump", type=Path)
    p.add_argument("--threads", type=int, default=0, help="torch threads for the local model (0: default)")
    args = p.parse_args(argv)
    settings = load_settings(index_dir=args.index, llm={"threads": args.threads})
    rows = [json.loads(line) for line in Path(args.qa).read_text(encoding="utf-8").splitlines() if line.strip()]
    from rag.index.embed import Embedder
    scorer = SupportScorer(Embedder.load().encode)
    table, dump = [], {}
    for variant in args.variants.split(","):
        backend, _, mode = variant.partition(":")
        agg, per = run_variant(settings, backend, mode or None, rows, scorer)
        table.append(agg)
        dump[agg["variant"]] = per
        if args.dump:
            args.dump.write_text(json.dumps(dump, indent=1), encoding="utf-8")
        print(json.dumps(agg), file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(table, indent=1))
        return 0
    keys = [k for k in table[0] if k != "variant"]
    print("metric".ljust(24) + "".join(t["variant"].rjust(22) for t in table) + "   ratio(first/others)")
    for k in keys:
        vals = [t[k] for t in table]
        ratios = " ".join(f"{vals[0] / v:.2f}" if v else "-" for v in vals[1:])
        print(k.ljust(24) + "".join(f"{v:22.3f}" for v in vals) + f"   {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
