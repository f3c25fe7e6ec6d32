"""`ask "question" [--backend ...] [--mode ...] [--json] [--questions FILE.jsonl] [-k N] [--in FOLDER] [--tag TAG]
[--file GLOB]`: answer with sources."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import get_args

from rag.cli.filters import add_filter_arguments, filters_from_args
from rag.core.errors import ConfigError
from rag.core.settings import Backend, Mode, Settings, override

EXIT_ABSTAINED = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `ask`."""
    parser.add_argument("question", nargs="?", help="what to ask your notes")
    parser.add_argument("--backend", choices=get_args(Backend), default=None,
                        help="answer backend (default: $RAG_BACKEND, else settings.answer.backend)")
    parser.add_argument("--mode", choices=get_args(Mode), default=None,
                        help="generation mode (default: settings.answer.mode)")
    parser.add_argument("-k", type=int, default=None, help="passages retrieved (default: settings.retrieval.k)")
    parser.add_argument("--json", action="store_true", help="print the answer JSON")
    parser.add_argument("--questions", type=Path, help="JSON Lines file with a `question` field (needs --json)")
    add_filter_arguments(parser)


def where(c) -> str:
    """A citation's place: `file > heading (lines a-b)`."""
    head = f" > {c.heading}" if c.heading else ""
    lines = f"line {c.start_line}" if c.start_line == c.end_line else f"lines {c.start_line}-{c.end_line}"
    return f"{c.source}{head} ({lines})"


def print_sources(answer) -> None:
    """The citations under an answer: file, heading, lines and the quote."""
    if not answer.citations:
        return
    print("\nSources:")
    for c in answer.citations:
        quote = " ".join(c.quote.split())
        print(f"  [{c.n}] {where(c)}")
        print(f"      \"{quote[:300]}{'...' if len(quote) > 300 else ''}\"")


def stream_text(chain, question: str, **options):
    """Print tokens as they come, then the sources; return the final Answer (`options`: history, filters)."""
    answer = None
    for kind, value in chain.stream_events(question, **options):
        if kind == "token":
            sys.stdout.write(value)
            sys.stdout.flush()
        elif kind == "done":
            answer = value
    print()
    print_sources(answer)
    return answer


def _start_model_load(settings: Settings, backend: str | None) -> None:
    """Start loading the local model and the embedder on threads now, so they overlap importing LangChain."""
    if (backend or settings.answer.backend) == "local":
        from rag.answer.backends import lm_loader

        lm_loader.start(settings)
    from rag.index.embed import Embedder

    Embedder.preload()


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Answer one question (streamed), or each line of --questions as JSON lines; models loaded once."""
    from ingest.pipeline import ensure_index
    from rag.cli.commands.search import _questions

    if args.questions and not args.json:
        raise ConfigError("--questions needs --json")
    if bool(args.questions) == bool(args.question):
        raise ConfigError("give a question or --questions FILE.jsonl (not both)")
    if args.k is not None:
        if args.k < 1:
            raise ConfigError("-k must be at least 1")
        settings = override(settings, {"retrieval": {"k": args.k}})
    questions = _questions(args.questions) if args.questions else [args.question]
    if not ensure_index(settings, progress=sys.stderr.isatty()):
        raise ConfigError(f"no index at {settings.index_path} and no notes at {settings.notes_dir} to build one "
                          "(run `rag ingest PATH` or set RAG_NOTES)")
    _start_model_load(settings, args.backend)
    from rag.answer.chain import build_chain

    chain = build_chain(settings, backend=args.backend, mode=args.mode, wait=False)
    filters = filters_from_args(args)
    if not args.json:
        answer = stream_text(chain, questions[0], filters=filters)
        return EXIT_ABSTAINED if answer.abstained else 0
    answers = []
    for question in questions:
        answer = chain.answer(question, filters=filters)
        answers.append(answer)
        print(json.dumps(answer.to_dict(), ensure_ascii=False), flush=True)
    return EXIT_ABSTAINED if not args.questions and answers[0].abstained else 0
