"""`rag search "query" [-k 5] [--json] [--mode hybrid|dense|bm25] [--questions FILE.jsonl] [--in FOLDER] [--tag TAG]
[--file GLOB]`."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import get_args

from rag.cli.filters import add_filter_arguments, filters_from_args
from rag.core.errors import ConfigError
from rag.core.settings import RetrievalMode, Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `rag search`."""
    parser.add_argument("query", nargs="?", help="what to look for")
    parser.add_argument("-k", type=int, default=None, help="number of passages (default: settings.retrieval.k)")
    parser.add_argument("--mode", choices=get_args(RetrievalMode), default=None, help="retriever")
    parser.add_argument("--json", action="store_true", help="print search JSON")
    parser.add_argument("--questions", type=Path, help="JSON Lines file with a `question` field (needs --json)")
    add_filter_arguments(parser)


def _questions(path: Path) -> list[str]:
    """Questions from a JSON Lines file, one per non-blank line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    out = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            question = json.loads(line)["question"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{n}: expected a JSON object with a 'question' field") from exc
        out.append(str(question))
    return out


def _print_text(query: str, results) -> None:
    print(f"query: {query}")
    for rank, r in enumerate(results, start=1):
        c = r.chunk
        head = f" > {c.heading}" if c.heading else ""
        print(f"\n[{rank}] {c.source}{head} (lines {c.start_line}-{c.end_line}) score {r.score:.4f} "
              f"cosine {r.dense_score:.3f}")
        print("    " + " ".join(c.text.split())[:400])


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Search once, or once per line of --questions, with the models loaded once."""
    from rag.index.retrieve import HybridRetriever

    if args.questions and not args.json:
        raise ConfigError("--questions needs --json")
    if bool(args.questions) == bool(args.query):
        raise ConfigError("give a query or --questions FILE.jsonl (not both)")
    if args.k is not None and args.k < 1:
        raise ConfigError("-k must be at least 1")
    queries = _questions(args.questions) if args.questions else [args.query]
    retriever = HybridRetriever.open(settings)
    filters = filters_from_args(args)
    for query in queries:
        results = retriever.search(query, k=args.k, mode=args.mode, filters=filters)
        if args.json:
            print(json.dumps({"question": query, "results": [r.to_dict() for r in results]}), flush=True)
        else:
            _print_text(query, results)
    return 0
