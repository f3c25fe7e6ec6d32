"""`rag gaps [--json]`: the questions your notes could not answer, grouped by topic, newest first within each."""
from __future__ import annotations

import argparse
import json

from rag.core.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `rag gaps`."""
    parser.add_argument("--json", action="store_true", help="print the topics as JSON (GET /gaps gives the same)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the refused questions grouped by topic."""
    from rag.answer.gaps import GAPS_FILE, GapLog, topics

    path = settings.index_path / GAPS_FILE
    entries = GapLog(path).entries()
    if not entries:
        print(json.dumps({"log": str(path), "refused": 0, "topics": []}) if args.json else
              f"no refused questions yet (log: {path})")
        return 0
    from rag.index.embed import Embedder

    grouped = topics(entries, Embedder.load().encode)
    if args.json:
        print(json.dumps({"log": str(path), "refused": len(entries), "topics": grouped}, ensure_ascii=False))
        return 0
    print(f"{len(entries)} refused questions in {len(grouped)} topics (log: {path})")
    for topic in grouped:
        near = f"; closest notes: {', '.join(topic['closest'])}" if topic["closest"] else ""
        print(f"\n{topic['topic']} ({topic['count']}){near}")
        for q in topic["questions"]:
            understood = f"  [understood as: {q['standalone_question']}]" if q.get("standalone_question") else ""
            print(f"  {q['time']}  {q['question']}{understood}")
    return 0
