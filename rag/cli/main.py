"""Console entry points `rag` and `ask`: parse flags, build settings, translate errors to exit codes."""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import NoReturn, get_args

from rag.core.errors import RagError
from rag.core.settings import PRESETS, Store, load_settings

COMMANDS = {
    "ingest": ("rag.cli.commands.ingest", "index notes (incremental)"),
    "search": ("rag.cli.commands.search", "show the passages that match a query"),
    "ask": ("rag.cli.commands.ask", "answer a question from your notes, with citations"),
    "chat": ("rag.cli.commands.chat", "chat with your notes: follow-up questions, sources on demand"),
    "serve": ("serve.command", "run the HTTP chat service"),
    "eval": ("eval.command", "measure retrieval, grounding and abstention on a QA set"),
    "status": ("rag.cli.commands.status", "show what got indexed, skipped and failed"),
    "gaps": ("rag.cli.commands.gaps", "list the questions your notes could not answer, by topic"),
}


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", help="index directory (default: $RAG_INDEX, else .rag/index)")
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS), help="named settings preset")
    parser.add_argument("--store", choices=get_args(Store), help="index store (default: $RAG_STORE, else faiss)")


def _selected_command(argv: list[str]) -> str | None:
    return next((arg for arg in argv if arg in COMMANDS), None)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The `rag` parser; only the chosen subcommand's module is imported, so start-up stays fast."""
    parser = argparse.ArgumentParser(prog="rag", description="Offline question answering over your ML notes.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    selected = _selected_command(argv)
    for name, (module, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:
            _add_common(cmd)
            importlib.import_module(module).add_arguments(cmd)
            cmd.set_defaults(module=module)
    return parser


def _run(args: argparse.Namespace) -> int:
    changes = {k: v for k, v in (("index_dir", args.index), ("store", args.store)) if v}
    try:
        settings = load_settings(args.preset, **changes)
        return importlib.import_module(args.module).run(args, settings)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    """`rag COMMAND ...`"""
    argv = sys.argv[1:] if argv is None else argv
    return _run(build_parser(argv).parse_args(argv))


def ask_main(argv: list[str] | None = None) -> int:
    """`ask "question" ...`, the same as `rag ask`."""
    argv = sys.argv[1:] if argv is None else argv
    return main(["ask", *argv])


def _exit_now(code: int) -> NoReturn:
    """Flush and end the process without interpreter teardown (after an `ask`, ~0.9 s of freeing torch and
    LangChain state on 2 cores); every write the commands make is committed before they return."""
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def script() -> NoReturn:
    """Console script `rag`."""
    _exit_now(main())


def ask_script() -> NoReturn:
    """Console script `ask`."""
    _exit_now(ask_main())
