"""`rag eval --qa FILE --notes DIR --out DIR`: run the evaluation and write JSON, Markdown, HTML and PNGs."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import get_args

from rag.core.errors import ConfigError
from rag.core.settings import Backend, Mode, Settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "notes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `rag eval` (--index and --preset come from rag.cli)."""
    from eval.runner import DEFAULT_VARIANTS
    parser.add_argument("--qa", required=True, type=Path, help="QA JSON Lines file (DESIGN.md format)")
    parser.add_argument("--notes", required=True, type=Path, help="notes folder, ingested into a temp index "
                        "unless --index is given")
    parser.add_argument("--out", required=True, type=Path, help="output folder for the reports")
    parser.add_argument("--backend", choices=get_args(Backend),
                        help="primary answer backend (default: the settings')")
    parser.add_argument("--mode", choices=get_args(Mode), help="primary generation mode")
    parser.add_argument("--variants", help=f"comma list compared side by side (default: {DEFAULT_VARIANTS}"
                        ",openai:grounded when RAG_OPENAI_BASE_URL is set); 'none' for the primary only")
    parser.add_argument("--limit", type=int, help="evaluate only the first N questions (answerable and not, "
                        "in file order)")
    parser.add_argument("--folds", type=int, default=2,
                        help="cross-validate the abstention thresholds over this many folds (report.json calibration: "
                             "shipped, fitted and cross-validated figures side by side); 0 or 1: off")
    parser.add_argument("--no-checker-eval", action="store_true",
                        help="skip measuring the grounding checker on its labelled sets")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the evaluation; prints the headline figures and the report paths."""
    from eval.checker import Checker
    from eval.checker_eval import checker_report
    from eval.dataset import load_qa
    from eval.report import write_reports
    from eval.runner import DEFAULT_VARIANTS, answer_name, openai_configured, parse_variants, run_eval
    from rag.index.embed import Embedder

    if not args.notes.is_dir() and not args.index:
        raise ConfigError(f"--notes {args.notes}: not a folder")
    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    items = load_qa(args.qa, limit=args.limit)
    backend = args.backend or settings.answer.backend
    mode = "grounded" if backend == "extractive" else (args.mode or settings.answer.mode)
    spec = args.variants or (DEFAULT_VARIANTS + (",openai:grounded" if openai_configured() else ""))
    variants = parse_variants("" if spec == "none" else spec, (backend, mode))
    checker = Checker.load(Embedder.load().encode)
    primary = answer_name(backend, mode)
    report = run_eval(items, args.notes, settings, variants, primary, folds=args.folds,
                      index=Path(args.index) if args.index else None, checker=checker)
    if not args.no_checker_eval:
        report["checker"] = checker_report(checker, EXAMPLES, args.notes)
    paths = write_reports(report, args.out)
    r, g, a = report["retrieval"], report["grounding"], report["abstention"]
    print(f"hit@5 {r['hit@5']:.3f}  mrr@10 {r['mrr@10']:.3f}  supported sentences {g['supported_sentence_rate']:.3f}  "
          f"hallucination {g['hallucination_rate']:.3f}  refuse-unanswerable {a['unanswerable_abstain_rate']:.3f}  "
          f"false-refuse {a['false_abstain_rate']:.3f}  accuracy {a['accuracy']:.3f}")
    for p in paths:
        print(p)
    return 0
