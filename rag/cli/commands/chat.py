"""`rag chat [--backend ...] [--in FOLDER] [--tag TAG] [--file GLOB]`: an interactive chat with your notes.

Each question may follow up on the earlier ones ("why does it help?"); the answer streams, then its sources, and
"understood as" shows a follow-up's standalone question. `/new` starts a new conversation, `/sources N` shows
source N in full, `/quit` (or Ctrl-D) ends. Questions are kept in a readline history between sessions
($RAG_CHAT_HISTORY, else ~/.rag_chat_history) when the terminal is interactive.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import get_args

from rag.cli.commands.ask import _start_model_load, stream_text, where
from rag.cli.filters import add_filter_arguments, filters_from_args
from rag.core.errors import ConfigError, NotFoundError, RagError
from rag.core.settings import Backend, Mode, Settings, override

HELP = "/new starts a new conversation, /sources N shows source N, /quit ends (Ctrl-D too)"
PROMPT = "you> "


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `rag chat`."""
    parser.add_argument("--backend", choices=get_args(Backend), default=None,
                        help="answer backend (default: $RAG_BACKEND, else settings.answer.backend)")
    parser.add_argument("--mode", choices=get_args(Mode), default=None, help="generation mode")
    parser.add_argument("-k", type=int, default=None, help="passages retrieved (default: settings.retrieval.k)")
    add_filter_arguments(parser)


class ChatSession:
    """One conversation: the turns so far and the last answer's citations."""

    def __init__(self, chain, filters=None, out=None):
        self.chain = chain
        self.filters = filters
        self.out = out or sys.stdout
        self.history: list[dict] = []
        self.last = None

    def ask(self, question: str):
        """Stream the answer to a question asked after the turns so far, then remember the turn."""
        answer = stream_text(self.chain, question, history=list(self.history) or None, filters=self.filters)
        if answer.standalone_question and answer.standalone_question != answer.question:
            print(f"(understood as: {answer.standalone_question})", file=self.out)
        self.history.append({"question": question, "answer": "" if answer.abstained else answer.answer})
        self.last = answer
        return answer

    def new(self) -> None:
        """Forget the conversation."""
        self.history.clear()
        self.last = None
        print("(new conversation)", file=self.out)

    def source(self, arg: str) -> None:
        """Print citation N of the last answer with its whole passage."""
        citations = self.last.citations if self.last else []
        if not arg.strip().isdigit() or not 1 <= int(arg) <= len(citations):
            print(f"(no source {arg.strip() or '?'}: the last answer has {len(citations)})", file=self.out)
            return
        c = citations[int(arg) - 1]
        print(f"[{c.n}] {where(c)}", file=self.out)
        print(f"quote: \"{' '.join(c.quote.split())}\"", file=self.out)
        try:
            passage = self.chain.retriever.store.get_chunk(c.chunk_id).text
        except (NotFoundError, AttributeError):
            return
        print("passage:\n" + passage, file=self.out)

    def handle(self, line: str) -> bool:
        """One input line; False once the user asked to quit."""
        text = line.strip()
        if not text:
            return True
        command, _, arg = text.partition(" ")
        if command in ("/quit", "/exit", "/q"):
            return False
        if command == "/new":
            self.new()
        elif command == "/sources":
            self.source(arg)
        elif command in ("/help", "/?"):
            print(HELP, file=self.out)
        elif command.startswith("/"):
            print(f"(unknown command {command}; {HELP})", file=self.out)
        else:
            try:
                self.ask(text)
            except RagError as exc:
                print(f"error: {exc}", file=sys.stderr)
        return True


def _history_file() -> Path:
    return Path(os.environ.get("RAG_CHAT_HISTORY") or Path.home() / ".rag_chat_history")


def _readline(interactive: bool):
    """readline with the saved history when the terminal is interactive; None otherwise."""
    if not interactive:
        return None
    try:
        import readline
    except ImportError:
        return None
    try:
        readline.read_history_file(_history_file())
    except OSError:
        pass
    readline.set_history_length(1000)
    return readline


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Chat until /quit or end of input."""
    from ingest.pipeline import ensure_index

    if args.k is not None:
        if args.k < 1:
            raise ConfigError("-k must be at least 1")
        settings = override(settings, {"retrieval": {"k": args.k}})
    interactive = sys.stdin.isatty()
    if not ensure_index(settings, progress=interactive):
        raise ConfigError(f"no index at {settings.index_path} and no notes at {settings.notes_dir} to build one "
                          "(run `rag ingest PATH` or set RAG_NOTES)")
    _start_model_load(settings, args.backend)
    from rag.answer.chain import build_chain

    session = ChatSession(build_chain(settings, backend=args.backend, mode=args.mode, wait=False),
                          filters_from_args(args))
    readline = _readline(interactive)
    scope = f" (scope: {session.filters.to_json()})" if session.filters else ""
    print(f"Ask your notes{scope}. {HELP}.")
    try:
        while True:
            try:
                line = input(PROMPT if interactive else "")
            except EOFError:
                break
            if not session.handle(line):
                break
    except KeyboardInterrupt:
        print()
    finally:
        if readline is not None:
            try:
                readline.write_history_file(_history_file())
            except OSError:
                pass
    return 0
