"""The scope flags shared by `ask`, `rag search` and `rag chat`: --in FOLDER, --tag TAG (repeatable), --file GLOB."""
from __future__ import annotations

import argparse

from rag.core.types import Filters


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the scope flags to a subcommand."""
    group = parser.add_argument_group("scope", "answer only from some notes (applied inside retrieval)")
    group.add_argument("--in", dest="folder", metavar="FOLDER",
                       help="notes in this folder or below it (relative to the notes root)")
    group.add_argument("--tag", dest="tags", action="append", default=[], metavar="TAG",
                       help="notes carrying this tag (#tag in the text or tags: in front matter); repeat for several")
    group.add_argument("--file", dest="file", metavar="GLOB", help="notes whose path matches this glob ('papers/*.md')")


def filters_from_args(args: argparse.Namespace) -> Filters | None:
    """The Filters the flags ask for, or None when none were given."""
    filters = Filters(folder=args.folder, tags=tuple(args.tags), file=args.file)
    return filters or None
